"""BADJA (animal joints on DAVIS): a sequence's joint labels, frames and object masks as a :class:`TapVidSample`.

A BADJA folder, laid out as BADJA's own repository expects it, with DAVIS frames::

    <root>/joint_annotations/<seq>.json             the labels of sequence <seq>
    <root>/DAVIS/JPEGImages/<res>/<seq>/NNNNN.jpg    its frames; NNNNN is the DAVIS frame index, from 00000
    <root>/DAVIS/Annotations/<res>/<seq>/NNNNN.png   the object's mask in frame NNNNN (optional, any frame)

``<res>`` is the first of :data:`FRAME_FOLDERS` that holds the sequence's frames; its masks are read from
the same ``<res>``. A sequence without a mask folder has no masks (PCK-T is then NaN).

The annotation json is a list with one entry per labelled frame (about every 5th frame). Each entry is a
dict with ``image_path`` (its basename names the frame: ``.../bear/00002.jpg`` is frame 2), ``joints`` (J
``[row, col]`` pairs) and ``visibility`` (J booleans, False: the joint is hidden); other keys
(``segmentation_path``) are not read. Coordinates are pixels of the full-resolution DAVIS frames
(:data:`FULL_RESOLUTION`, 1920 x 1080): for frames of W x H pixels, ``x = col * W / 1920`` and
``y = row * H / 1080`` (``x = col * 854 / 1920`` at 480p). BADJA labels 20 of the 37 SMAL joints; the others
are never visible. A frame that is not in the json carries no label at all.

The sample follows the TAP-Vid conventions of :mod:`storage.tapvid`, at the requested resolution:

- one track per joint labelled visible in some frame, queried by the rule of ``query_mode``
  (``"first"``: at its first labelled visible frame);
- ``target_points`` (x, y): the labels scaled to the resolution (times the size, as TAP-Vid's are); NaN in
  frames without a label;
- ``occluded``: True wherever the joint is not labelled visible (hidden, or no label);
- ``evaluation_mask``: True in the labelled frames: the only entries scored;
- ``object_areas``: pixels of the object's mask (non-zero pixels) in each labelled frame that has a mask
  file, counted in the source frames; NaN in the other frames. PCK-T is measured in source pixels.

Every problem with the input is an :class:`~storage.errors.InputError` naming the file.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from omnimotion_core.metrics import QueryMode
from storage.errors import InputError
from storage.frames import resize_frame
from storage.tapvid import (
    POINT_TOLERANCE,
    ObjectAreas,
    TapVidSample,
    check_query_mode,
    check_resolution,
    sample_queries,
)
from storage.video_sources import IMAGE_EXTENSIONS, ImageFolderSource

ANNOTATIONS_DIR = "joint_annotations"
FRAMES_DIR = Path("DAVIS") / "JPEGImages"
MASKS_DIR = Path("DAVIS") / "Annotations"
FRAME_FOLDERS = ("480p", "Full-Resolution")
"""The DAVIS resolution folders a sequence's frames are looked for in, in this order."""

FULL_RESOLUTION = (1080, 1920)
"""(height, width) of the frames BADJA's joint coordinates are given in (DAVIS full resolution)."""

MASK_EXTENSION = ".png"
_ENTRY_KEYS = ("image_path", "joints", "visibility")
_NAMES_IN_ERRORS = 5


@dataclass(frozen=True)
class BadjaLabels:
    """The labels of a sequence, checked.

    Attributes:
        frames: int [L], the labelled frames' indices.
        joints: float64 [L, J, 2], (row, col) pixels at :data:`FULL_RESOLUTION`.
        visible: bool [L, J], the ``visibility`` flags.
    """

    frames: np.ndarray
    joints: np.ndarray
    visible: np.ndarray


@dataclass(frozen=True)
class BadjaSequence:
    """The files of one sequence and its checked labels.

    Attributes:
        name: the sequence's name (its json's stem).
        annotation: ``joint_annotations/<name>.json``.
        frames: the frame files, in frame-index order (file ``k`` is frame ``k``).
        masks: frame index -> mask file, for the frames that have one.
        labels: the json's labels, checked against the frames.
    """

    name: str
    annotation: Path
    frames: tuple[Path, ...]
    masks: dict[int, Path]
    labels: BadjaLabels

    @property
    def frames_dir(self) -> Path:
        """The folder of the frames (the video the benchmark ingests)."""
        return self.frames[0].parent


def is_badja_folder(path: Path) -> bool:
    """True when ``path`` is a folder with a ``joint_annotations/`` folder in it (a BADJA folder)."""
    return Path(path).is_dir() and (Path(path) / ANNOTATIONS_DIR).is_dir()


def _sequence_names(root: Path) -> list[str]:
    folder = root / ANNOTATIONS_DIR
    if not folder.is_dir():
        raise InputError(f"{root}: not a BADJA folder (no {ANNOTATIONS_DIR}/ folder in it)")
    return sorted(path.stem for path in folder.glob("*.json") if not path.name.startswith("."))


def list_badja_sequences(root: Path) -> list[str]:
    """Names of the sequences of a BADJA folder (the stems of ``joint_annotations/*.json``), sorted; see
    :func:`find_badja_sequence` for checking one."""
    root = Path(root)
    names = _sequence_names(root)
    if not names:
        raise InputError(f"{root / ANNOTATIONS_DIR}: no joint annotations (<sequence>.json) in this folder")
    return names


def find_badja_sequence(root: Path, name: str) -> BadjaSequence:
    """The files and labels of sequence ``name`` of the BADJA folder ``root``, checked without decoding a
    pixel: InputError naming the file for a missing json or frame folder, frames not named by frame index
    from 00000, or a json that is not BADJA's format, labels a frame the folder does not have, or gives
    joints of the wrong length."""
    root = Path(root)
    annotation = root / ANNOTATIONS_DIR / f"{name}.json"
    if not annotation.is_file():
        names = _sequence_names(root)
        shown = ", ".join(names[:_NAMES_IN_ERRORS]) + (", ..." if len(names) > _NAMES_IN_ERRORS else "")
        raise InputError(f"{annotation}: no such file: no sequence {name!r} in this BADJA folder "
                         f"(it has {len(names)}: {shown or 'none'})")
    for resolution in FRAME_FOLDERS:
        frames_dir = root / FRAMES_DIR / resolution / name
        if frames_dir.is_dir():
            break
    else:
        tried = ", ".join(str(root / FRAMES_DIR / resolution / name) for resolution in FRAME_FOLDERS)
        raise InputError(f"{annotation}: the frames of sequence {name!r} are missing (no folder {tried})")
    frames = _indexed_files(frames_dir, IMAGE_EXTENSIONS, "frames")
    if not frames:
        raise InputError(f"{frames_dir}: the folder holds no frames")
    if sorted(frames) != list(range(len(frames))):
        missing = sorted(set(range(max(frames) + 1)) - set(frames))
        raise InputError(f"{frames_dir}: frames must be numbered from 00000 without gaps (DAVIS frame indices); "
                         f"{len(frames)} frames, frame {missing[0]:05d} is missing")
    masks_dir = root / MASKS_DIR / frames_dir.parent.name / name
    masks = _indexed_files(masks_dir, (MASK_EXTENSION,), "masks") if masks_dir.is_dir() else {}
    labels = _read_labels(annotation, len(frames))
    return BadjaSequence(name, annotation, tuple(frames[index] for index in range(len(frames))), masks, labels)


def _indexed_files(folder: Path, extensions: tuple[str, ...], what: str) -> dict[int, Path]:
    """Frame index -> file of a folder whose files are named by frame index (``00002.jpg``)."""
    files: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in extensions or not path.stem.isdigit() or not path.is_file():
            raise InputError(f"{path}: not a {what} file named by its frame index "
                             f"(expected NNNNN{' or NNNNN'.join(extensions)}, as in DAVIS)")
        index = int(path.stem)
        if index in files:
            raise InputError(f"{path}: frame {index} has two {what} files ({files[index].name} and {path.name})")
        files[index] = path
    return files


def _entry_error(path: Path, index: int, message: str) -> InputError:
    return InputError(f"{path}: entry {index}: {message}")


def _read_labels(path: Path, num_frames: int) -> BadjaLabels:
    """Read and check a sequence's json against its ``num_frames`` frames."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of labelled frames (BADJA joint annotations), "
                         f"got a JSON {type(data).__name__}")
    if not data:
        raise InputError(f"{path}: the list of labelled frames is empty")
    frames, joints, visible = [], [], []
    labelled_at: dict[int, int] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or any(key not in entry for key in _ENTRY_KEYS):
            raise _entry_error(path, index, f"expected a dict with keys {', '.join(map(repr, _ENTRY_KEYS))}")
        frame = _frame_index(path, index, entry["image_path"])
        if frame >= num_frames:
            raise _entry_error(path, index, f"labels frame {frame} ({entry['image_path']}), but the sequence has "
                                            f"{num_frames} frames (00000-{num_frames - 1:05d})")
        if frame in labelled_at:
            raise _entry_error(path, index, f"frame {frame} is labelled twice (also entry {labelled_at[frame]})")
        labelled_at[frame] = index
        points, flags = _joints(path, index, entry["joints"], entry["visibility"])
        if joints and len(points) != len(joints[0]):
            raise _entry_error(path, index, f"{len(points)} joints, entry 0 has {len(joints[0])}")
        frames.append(frame)
        joints.append(points)
        visible.append(flags)
    return BadjaLabels(np.array(frames), np.array(joints), np.array(visible))


def _frame_index(path: Path, index: int, image_path: Any) -> int:
    """The frame an entry labels: the digits of its ``image_path``'s basename."""
    stem = Path(image_path).stem if isinstance(image_path, str) else ""
    if not stem.isdigit():
        raise _entry_error(path, index, f"image_path {image_path!r} does not name a frame (expected .../NNNNN.jpg)")
    return int(stem)


def _joints(path: Path, index: int, joints: Any, visibility: Any) -> tuple[np.ndarray, np.ndarray]:
    """An entry's joints as float64 [J, 2] (row, col) and visibility as bool [J], checked."""
    is_pairs = isinstance(joints, list) and all(
        isinstance(joint, list) and len(joint) == 2
        and all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in joint)
        for joint in joints
    )
    if not is_pairs or not joints:
        raise _entry_error(path, index, "'joints' must be a non-empty list of [row, col] number pairs")
    flags_ok = isinstance(visibility, list) and all(isinstance(flag, bool) or flag in (0, 1) for flag in visibility)
    if not flags_ok:
        raise _entry_error(path, index, "'visibility' must be a list of booleans")
    if len(visibility) != len(joints):
        raise _entry_error(path, index, f"'joints' has {len(joints)} entries but 'visibility' {len(visibility)}")
    points = np.array(joints, dtype=np.float64)
    flags = np.array(visibility, dtype=bool)
    height, width = FULL_RESOLUTION
    low = -POINT_TOLERANCE * np.array([height, width])
    high = (1 + POINT_TOLERANCE) * np.array([height, width])
    outside = flags & ~(np.all(np.isfinite(points), axis=1) & np.all((points >= low) & (points <= high), axis=1))
    if outside.any():
        joint = int(np.argmax(outside))
        row, col = points[joint]
        raise _entry_error(path, index, f"visible joint {joint} at (row, col) = ({row:g}, {col:g}) lies outside the "
                                        f"{width}x{height} full-resolution frame its coordinates refer to")
    return points, flags


def _object_area(path: Path, frame_size: tuple[int, int]) -> float:
    """Non-zero pixels of a mask file whose size must be ``frame_size`` (height, width)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise InputError(f"{path}: cannot decode this mask (corrupt or not really a PNG)")
    if mask.shape[:2] != frame_size:
        raise InputError(f"{path}: the mask is {mask.shape[1]}x{mask.shape[0]}, the frames are "
                         f"{frame_size[1]}x{frame_size[0]}")
    return float(np.count_nonzero(mask.reshape(*frame_size, -1).any(axis=-1)))


def load_badja_sample(
    root: Path,
    name: str,
    query_mode: QueryMode = "first",
    resolution: tuple[int, int] | None = (256, 256),
    *,
    max_frames: int | None = None,
) -> TapVidSample:
    """The sample of sequence ``name`` of the BADJA folder ``root`` (see the module docstring).

    ``resolution`` is (height, width) of the output frames, None keeping the source size; frames are
    resized by the rule every stored frame follows (:func:`storage.frames.resize_frame`), so they
    equal the frames ingested from the sequence's folder at that size. ``max_frames`` keeps only the
    first frames (as ingesting with ``IngestConfig.max_frames`` does) and the labels among them.
    """
    check_query_mode(query_mode)
    output_size = check_resolution(resolution)
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise InputError(f"max_frames must be None or a positive integer, got {max_frames!r}")
    sequence = find_badja_sequence(Path(root), name)
    labels = sequence.labels
    frames = list(itertools.islice(ImageFolderSource(sequence.frames_dir).frames(), max_frames))
    source_size = frames[0].shape[:2]
    height, width = output_size or source_size
    video = np.stack([resize_frame(frame, (height, width)) for frame in frames])
    num_frames = len(video)

    kept = labels.frames < num_frames
    label_frames, joints, visible = labels.frames[kept], labels.joints[kept], labels.visible[kept]
    num_joints = labels.joints.shape[1]
    target_points = np.full((num_joints, num_frames, 2), np.nan)
    occluded = np.ones((num_joints, num_frames), dtype=bool)
    labelled = np.zeros((num_joints, num_frames), dtype=bool)
    scale_to_output = np.array([width / FULL_RESOLUTION[1], height / FULL_RESOLUTION[0]])
    target_points[:, label_frames] = joints[..., ::-1].transpose(1, 0, 2) * scale_to_output
    occluded[:, label_frames] = ~visible.T
    labelled[:, label_frames] = True

    area = np.full(num_frames, np.nan)
    for frame in label_frames:
        if int(frame) in sequence.masks:
            area[frame] = _object_area(sequence.masks[int(frame)], source_size)
    query_points, rows = sample_queries(occluded, target_points, query_mode)
    return TapVidSample(
        name=name,
        video=video,
        query_points=query_points.astype(np.float32),
        target_points=target_points[rows].astype(np.float32),
        occluded=occluded[rows],
        evaluation_mask=labelled[rows],
        object_areas=ObjectAreas(area, (width / source_size[1], height / source_size[0])),
    )


def badja_files(root: Path, name: str) -> list[Path]:
    """Every file the sample of sequence ``name`` is read from: its json, its frames and the masks of its
    labelled frames (what a cache key of its ground truth must cover)."""
    sequence = find_badja_sequence(Path(root), name)
    labelled = sorted(int(frame) for frame in sequence.labels.frames)
    masks = [sequence.masks[frame] for frame in labelled if frame in sequence.masks]
    return [sequence.annotation, *sequence.frames, *masks]

