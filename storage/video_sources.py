"""Readers that turn a video source (file, image folder, array) into a stream of RGB frames.

Every reader checks its input where it enters and raises :class:`~storage.errors.InputError` naming the
file and the problem. Frames come out as ``uint8 [H, W, 3]`` RGB, one at a time, so a long video never has
to fit in memory.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from storage.errors import InputError
from storage.tapvid import read_tapvid_video

SourceKind = Literal["video_file", "image_folder", "array", "tapvid_pickle"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a source before decoding it.

    Attributes:
        kind: which reader handles it.
        description: the path (or ``<array>``) as recorded in the store.
        source_hash: sha256 of the input bytes; equal hashes mean equal input.
        fps: frames per second where the source has it, else None.
        header_frame_count: the frame count the container claims (video files only; may lie).
    """

    kind: SourceKind
    description: str
    source_hash: str
    fps: float | None
    header_frame_count: int | None


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode("utf-8"))
        with path.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def to_rgb_uint8(image: np.ndarray, origin: str) -> np.ndarray:
    """Convert a decoded image (gray, gray+alpha, BGR, BGRA; 8 or 16 bit) to ``uint8 [H, W, 3]`` RGB.

    Alpha is dropped (composited on nothing: the colour channels are kept as stored). 16-bit images are
    scaled to 8 bits. ``origin`` names the file in errors.
    """
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{origin}: unsupported pixel type {image.dtype}; expected 8- or 16-bit images")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 2:
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, 0]), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise InputError(f"{origin}: unsupported image shape {image.shape}; expected [H, W] or [H, W, 1-4]")


def _natural_key(path: Path) -> list[object]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class VideoFileSource:
    """Frames of a video container (mp4, avi, mov, ...) decoded with OpenCV."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise InputError(f"{self.path}: not a regular file")
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: the file is empty (0 bytes)")
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                raise InputError(f"{self.path}: OpenCV cannot open this file as a video (corrupt or unknown format)")
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        self.info = SourceInfo(
            kind="video_file",
            description=str(self.path.resolve()),
            source_hash=_hash_files([self.path]),
            fps=fps if fps > 0 and np.isfinite(fps) else None,
            header_frame_count=count if count > 0 else None,
        )

    def frames(self) -> Iterator[np.ndarray]:
        """Yield every decodable frame as ``uint8 [H, W, 3]`` RGB; raise if none decodes or sizes change.

        A file that decodes to another number of frames than its header claims (cut short, damaged, or a
        header that lies, as ``tree.avi`` does) gives a :class:`UserWarning` with both counts once all its
        frames have been read.
        """
        capture = cv2.VideoCapture(str(self.path))
        size: tuple[int, int] | None = None
        index = 0
        try:
            while True:
                ok, frame_bgr = capture.read()
                if not ok or frame_bgr is None:
                    break
                if size is None:
                    size = frame_bgr.shape[:2]
                elif frame_bgr.shape[:2] != size:
                    raise InputError(
                        f"{self.path}: frame {index} is {frame_bgr.shape[1]}x{frame_bgr.shape[0]}, "
                        f"earlier frames are {size[1]}x{size[0]}"
                    )
                yield to_rgb_uint8(frame_bgr, f"{self.path} frame {index}")
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise InputError(f"{self.path}: no frame could be decoded (zero frames, or a corrupt video)")
        claimed = self.info.header_frame_count
        if claimed is not None and claimed != index:
            warnings.warn(
                f"{self.path}: decoded {index} frames but the header claims {claimed}; the file may be cut short "
                "or damaged, or its header is wrong",
                stacklevel=2,
            )


class ImageFolderSource:
    """Frames from a folder of jpg/png images, in natural numeric order (``2.png`` before ``10.png``).

    Hidden files (names starting with ``.``) are skipped; any other non-image file is an error.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such folder")
        if not self.path.is_dir():
            raise InputError(f"{self.path}: not a folder")
        entries = sorted((p for p in self.path.iterdir() if not p.name.startswith(".")), key=_natural_key)
        others = [p.name for p in entries if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file()]
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            raise InputError(
                f"{self.path}: not an image folder: {len(others)} entr{'y is' if len(others) == 1 else 'ies are'} "
                f"not {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} files ({shown})"
            )
        if not entries:
            raise InputError(f"{self.path}: the folder holds no images (zero frames)")
        empty = [p.name for p in entries if p.stat().st_size == 0]
        if empty:
            raise InputError(f"{self.path / empty[0]}: the image file is empty (0 bytes)")
        self.files = entries
        self.info = SourceInfo(
            kind="image_folder",
            description=str(self.path.resolve()),
            source_hash=_hash_files(entries),
            fps=None,
            header_frame_count=len(entries),
        )

    def frames(self) -> Iterator[np.ndarray]:
        """Yield each image as ``uint8 [H, W, 3]`` RGB (gray and RGBA converted); raise on mixed sizes."""
        size: tuple[int, int] | None = None
        first_name = ""
        for path in self.files:
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise InputError(f"{path}: cannot decode this image (corrupt or not really {path.suffix[1:]})")
            rgb = to_rgb_uint8(image, str(path))
            if size is None:
                size, first_name = rgb.shape[:2], path.name
            elif rgb.shape[:2] != size:
                raise InputError(
                    f"{path}: image is {rgb.shape[1]}x{rgb.shape[0]} but {first_name} is {size[1]}x{size[0]}; "
                    "all frames of a folder must have the same size"
                )
            yield rgb


class ArraySource:
    """Frames from an in-memory array: ``uint8 [T, H, W, 3]`` RGB, ``[T, H, W]`` gray or ``[T, H, W, 4]`` RGBA."""

    def __init__(self, video: np.ndarray, description: str = "<array>") -> None:
        if not isinstance(video, np.ndarray):
            raise InputError(f"{description}: expected a numpy array, got {type(video).__name__}")
        if video.dtype != np.uint8:
            raise InputError(f"{description}: expected dtype uint8, got {video.dtype}")
        if video.ndim == 3:
            video = np.repeat(video[..., None], 3, axis=3)
        elif video.ndim == 4 and video.shape[3] == 4:
            video = video[..., :3]
        elif video.ndim == 4 and video.shape[3] == 1:
            video = np.repeat(video, 3, axis=3)
        if video.ndim != 4 or video.shape[3] != 3:
            raise InputError(f"{description}: expected shape [T, H, W, 3], got {video.shape}")
        if video.shape[0] == 0:
            raise InputError(f"{description}: the array has zero frames")
        if video.shape[1] < 2 or video.shape[2] < 2:
            raise InputError(f"{description}: frames of {video.shape[2]}x{video.shape[1]} are too small")
        self.video = np.ascontiguousarray(video)
        digest = hashlib.sha256(repr(self.video.shape).encode("ascii"))
        digest.update(self.video.tobytes())
        self.info = SourceInfo(
            kind="array",
            description=description,
            source_hash=digest.hexdigest(),
            fps=None,
            header_frame_count=int(video.shape[0]),
        )

    def frames(self) -> Iterator[np.ndarray]:
        """Yield each frame as ``uint8 [H, W, 3]`` RGB."""
        yield from self.video


class TapVidVideoSource(ArraySource):
    """The frames of one video of a TAP-Vid pickle (any of the three formats), at their stored size."""

    def __init__(self, path: Path, name: str) -> None:
        path = Path(path)
        super().__init__(read_tapvid_video(path, name), description=f"{path.resolve()}::{name}")
        digest = hashlib.sha256(_hash_files([path]).encode("ascii"))
        digest.update(name.encode("utf-8", "surrogatepass"))  # a name read from a pickle may hold lone surrogates
        self.info = SourceInfo(
            kind="tapvid_pickle",
            description=self.info.description,
            source_hash=digest.hexdigest(),
            fps=None,
            header_frame_count=self.info.header_frame_count,
        )


def open_video_source(path: Path, tapvid_name: str | None = None) -> VideoSource:
    """The reader for ``path``: one video of a TAP-Vid pickle when ``tapvid_name`` is given, else as
    :func:`open_source`."""
    if tapvid_name is not None:
        return TapVidVideoSource(path, tapvid_name)
    return open_source(path)


def open_source(path: Path) -> VideoFileSource | ImageFolderSource:
    """Pick the reader for a path: a folder is an image folder, a file with a video extension a video."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return VideoFileSource(path)
    raise InputError(
        f"{path}: unknown input type {path.suffix or '(no extension)'}; expected a folder of images or a "
        f"video file ({', '.join(VIDEO_EXTENSIONS)})"
    )


VideoSource = VideoFileSource | ImageFolderSource | ArraySource
"""Any reader: each has ``info`` (:class:`SourceInfo`) and ``frames()`` yielding ``uint8 [H, W, 3]`` RGB."""
