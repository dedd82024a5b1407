"""Per-video zarr v3 groups: ingestion of a source into frames, and opening a finished group.

A group is written under a ``.partial-<uuid>`` name and renamed into place when complete (see
:mod:`storage.layout`), so a killed ingestion never leaves a group that reads as complete. Ingesting the
same input with the same :class:`IngestConfig` again is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import zarr

from storage import layout, publish
from storage.errors import IncompleteStoreError, InputError, StoreConflictError
from storage.frames import resize_frame
from storage.video_sources import SourceInfo, VideoSource

_APPEND_BATCH = 16


@dataclass(frozen=True)
class IngestConfig:
    """How frames are taken from a source.

    Attributes:
        size: fixed output size ``(height, width)``, e.g. ``(256, 256)`` for TAP-Vid evaluation; the
            aspect ratio is not kept. None keeps the source size (unless ``max_side`` is set).
        max_side: keep the aspect ratio and scale so that the longer side is this many pixels (only
            ever downscales). Exclusive with ``size``.
        stride: keep every ``stride``-th frame, starting with the first.
        max_frames: keep at most this many frames (after the stride); None keeps all.
    """

    size: tuple[int, int] | None = None
    max_side: int | None = None
    stride: int = 1
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.size is not None and self.max_side is not None:
            raise InputError("IngestConfig: give either size or max_side, not both")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 2):
            raise InputError(f"IngestConfig: size must be (height, width) of at least 2 px, got {self.size}")
        if self.max_side is not None and self.max_side < 2:
            raise InputError(f"IngestConfig: max_side must be >= 2, got {self.max_side}")
        if self.stride < 1:
            raise InputError(f"IngestConfig: stride must be >= 1, got {self.stride}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"IngestConfig: max_frames must be >= 1, got {self.max_frames}")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Stored ``(height, width)`` for a source of ``height`` x ``width``."""
        if self.size is not None:
            return int(self.size[0]), int(self.size[1])
        if self.max_side is not None and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            return max(2, round(height * scale)), max(2, round(width * scale))
        return height, width

    def to_attrs(self) -> dict[str, object]:
        """JSON-ready form, as stored in the group's attributes."""
        values = asdict(self)
        values["size"] = list(self.size) if self.size is not None else None
        return values


@dataclass(frozen=True)
class VideoGroup:
    """A finished video group opened for reading.

    Attributes:
        path: the group's folder.
        frames: zarr array ``uint8 [T, H, W, 3]`` RGB (read lazily, one chunk per frame).
        attrs: the group's attributes (see ``storage.layout.VIDEO_ATTRS``).
    """

    path: Path
    frames: zarr.Array
    attrs: dict[str, object]

    @property
    def video_id(self) -> str:
        """The store key of this video (folder name without ``.zarr``)."""
        return self.path.name[: -len(layout.VIDEO_SUFFIX)]

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the stored frames."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def max_frames(self) -> int | None:
        """The ``IngestConfig.max_frames`` the frames were taken with (None: every frame was kept)."""
        value = dict(self.attrs.get("ingest_config") or {}).get("max_frames")
        return None if value is None else int(value)

    def read_frames(self) -> np.ndarray:
        """All frames in memory, ``uint8 [T, H, W, 3]``."""
        return np.asarray(self.frames[:])


def _ingest_key(info: SourceInfo, config: IngestConfig) -> str:
    payload = json.dumps({"source_hash": info.source_hash, "config": config.to_attrs()}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _selected_frames(frames: Iterator[np.ndarray], config: IngestConfig) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(source_index, frame)`` for the frames kept by stride and max_frames."""
    kept = 0
    for index, frame in enumerate(frames):
        if index % config.stride:
            continue
        if config.max_frames is not None and kept >= config.max_frames:
            return
        kept += 1
        yield index, frame


def _write_group(
    source: VideoSource,
    partial_path: Path,
    config: IngestConfig,
    progress: Callable[[int], None] | None,
) -> dict[str, object]:
    """Decode ``source`` into a new group at ``partial_path``; return the attributes to publish."""
    group = zarr.open_group(str(partial_path), mode="a", zarr_format=3)
    frames_array: zarr.Array | None = None
    digest = hashlib.sha256()
    batch: list[np.ndarray] = []
    original_size: tuple[int, int] | None = None
    decoded = 0

    def flush() -> None:
        nonlocal frames_array
        block = np.stack(batch)
        if frames_array is None:
            frames_array = group.create_array(
                layout.FRAMES_ARRAY,
                shape=(0, *block.shape[1:]),
                chunks=(1, *block.shape[1:]),
                dtype=np.uint8,
            )
        frames_array.append(block, axis=0)
        digest.update(block.tobytes())
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for index, frame in _selected_frames(source.frames(), config):
        decoded = index + 1
        if original_size is None:
            original_size = frame.shape[:2]
            out_size = config.output_size(*original_size)
        batch.append(resize_frame(frame, out_size))
        if len(batch) == _APPEND_BATCH:
            flush()
    if batch:
        flush()
    if frames_array is None or original_size is None:
        raise InputError(f"{source.info.description}: no frames left to store")
    num_frames = int(frames_array.shape[0])
    return {
        "schema_version": layout.SCHEMA_VERSION,
        "source": source.info.description,
        "source_kind": source.info.kind,
        "source_hash": source.info.source_hash,
        "ingest_config": config.to_attrs(),
        "ingest_key": _ingest_key(source.info, config),
        "content_hash": hashlib.sha256(repr(tuple(frames_array.shape)).encode("ascii") + digest.digest()).hexdigest(),
        "fps": source.info.fps,
        "original_size": list(original_size),
        "size": list(frames_array.shape[1:3]),
        "num_frames": num_frames,
        "source_frame_count": decoded,
        "header_frame_count": source.info.header_frame_count,
        "complete": True,
    }


def ingest(
    source: VideoSource,
    root: Path,
    video_id: str,
    config: IngestConfig = IngestConfig(),
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``source`` as the video group ``video_id`` under ``root`` and return the group's path.

    Idempotent: when a complete group made from the same input bytes and config exists, nothing is
    decoded and its path is returned. A group of that name made from other input or another config is
    a :class:`StoreConflictError` (choose another ``video_id`` or delete the group). ``progress`` is
    called with the number of frames written after each batch.
    """
    final_path = layout.video_path(root, video_id)
    expected_key = _ingest_key(source.info, config)
    if final_path.exists():
        return _check_existing(final_path, expected_key)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    publish.remove_stale_partials(final_path)
    partial_path = publish.new_partial_path(final_path)
    try:
        attrs = _write_group(source, partial_path, config, progress)
        zarr.open_group(str(partial_path), mode="r+").attrs.update(attrs)
    except OSError as error:
        publish.discard(partial_path)
        if error.filename is not None or str(final_path) in str(error):
            raise
        raise OSError(error.errno, f"{final_path}: could not write the video group: {error.strerror or error}") from error
    except BaseException:
        publish.discard(partial_path)
        raise
    if not publish.publish(partial_path, final_path):
        return _check_existing(final_path, expected_key)
    return final_path


def _check_existing(final_path: Path, expected_key: str) -> Path:
    existing = open_video(final_path)
    if existing.attrs.get("ingest_key") != expected_key:
        raise StoreConflictError(
            f"{final_path}: already holds a video made from {existing.attrs.get('source')} with "
            f"{existing.attrs.get('ingest_config')}; this input or config differs. Use another video id, "
            "or delete that group to replace it."
        )
    return final_path


def open_video(path: Path) -> VideoGroup:
    """Open a finished video group; refuse one that is partial, unfinished or of another schema."""
    path = Path(path)
    if layout.PARTIAL_MARKER in path.name:
        raise IncompleteStoreError(f"{path}: a partial group (a writer was killed or is still running)")
    if not (path / "zarr.json").is_file():
        raise IncompleteStoreError(f"{path}: no zarr group here (missing zarr.json)")
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    if attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{path}: the group was never finished (no complete=true attribute)")
    version = attrs.get("schema_version")
    if version != layout.SCHEMA_VERSION:
        raise IncompleteStoreError(
            f"{path}: schema version {version!r}, this code reads version {layout.SCHEMA_VERSION}"
        )
    frames = group[layout.FRAMES_ARRAY]
    if not isinstance(frames, zarr.Array) or frames.ndim != 4 or frames.shape[3] != 3:
        raise IncompleteStoreError(f"{path}: 'frames' is not a [T, H, W, 3] array")
    return VideoGroup(path=path, frames=frames, attrs=attrs)


def list_videos(root: Path) -> list[str]:
    """Ids of the complete video groups under ``root``, sorted."""
    folder = layout.videos_dir(root)
    if not folder.is_dir():
        return []
    ids = []
    for entry in sorted(folder.iterdir()):
        if entry.name.endswith(layout.VIDEO_SUFFIX) and layout.PARTIAL_MARKER not in entry.name:
            ids.append(entry.name[: -len(layout.VIDEO_SUFFIX)])
    return ids
