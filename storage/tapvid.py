"""TAP-Vid evaluation pickles: read TAP-Vid-DAVIS, -Kinetics and -RGB-Stacking; write DAVIS-format pickles.

Formats, as read by tapnet ``tapnet/tapvid/evaluation_datasets.py`` (``create_davis_dataset``,
``create_kinetics_dataset``, ``create_rgb_stacking_dataset``), written by ``tapnet/tapvid/generate_tapvid.py``
(Kinetics) and described in ``tapnet/tapvid/README.md``. Each video is a *record*, a dict with three keys:

- ``'video'``: DAVIS and RGB-Stacking: ``uint8 [T, H, W, 3]`` RGB frames. Kinetics: the frames as JPEG
  bytes, one per frame (``generate_tapvid.py`` stores ``np.array`` of a tuple of bytes, i.e. a 1-D ``S``
  array; a list of ``bytes`` is accepted too).
- ``'points'``: float ``[N, T, 2]`` (x, y), normalised so that 0 and 1 are the left/top and right/bottom
  edges of the frame (DAVIS float32, Kinetics float64). Kinetics points are shifted by half a pixel of
  the original video (``(x * width - 0.5) / width``), so they can be slightly below 0.
- ``'occluded'``: bool ``[N, T]``, True where the point is not visible. Points where it is True may hold
  any value (NaN included); they are never checked.

Containers: DAVIS is a dict ``video name -> record``. RGB-Stacking is a list of records. Kinetics is a
list of records per shard file (``NNNN_of_0010.pkl``; this module reads one shard file at a time), and
tapnet also accepts a dict of records, so we do (named by its keys). Videos in a list have no name; we
name them by their zero-padded index in the list: ``"0000"``, ``"0001"``, ... (4 digits, more when the
list has over 10,000).

Auto-detection (``dataset_format="auto"``) looks at the first record: a dict of array videos is DAVIS, a
list of array videos is RGB-Stacking, JPEG-bytes videos are Kinetics.

What a :class:`TapVidSample` holds follows tapnet's readers, with two differences: the video stays
``uint8`` (tapnet scales it to [-1, 1]) and there is no leading batch axis.

- Resizing: when ``resolution`` differs from the frame size, frames are resized with OpenCV:
  ``cv2.INTER_AREA`` when the pixel count shrinks, ``cv2.INTER_LINEAR`` otherwise, the same rule as
  ingestion (``storage/video_store.py``), so frames read here equal the stored frames. tapnet resizes
  with mediapy (PIL Lanczos, which antialiases when shrinking); INTER_AREA is OpenCV's antialiasing
  choice, so pixels are close to tapnet's but not bit-identical (points are unaffected). JPEG frames
  are decoded with ``cv2.imdecode`` (ignoring EXIF orientation, as ``np.array(Image.open(...))`` does
  in tapnet); decoders may differ from PIL's by a few intensity levels.
- Points: pixel coordinates at the output resolution, ``x_px = x * W`` and ``y_px = y * H`` (times the
  size, not size - 1), exactly as tapnet does (``target_points * np.array([width, height])``).
- Queries: ``"first"`` follows tapnet ``sample_queries_first``: one query per track at its first visible
  frame; tracks never visible are dropped. ``"strided"`` follows ``sample_queries_strided``: for every
  ``QUERY_STRIDE``-th frame (0, 5, 10, ...) one query per track visible at that frame, frame by frame in
  track order, so a track can appear several times. A video can end up with no queries (N = 0).

Validation: visible points must be finite and lie within ``[-POINT_TOLERANCE, 1 + POINT_TOLERANCE]``
(10% of the frame): this admits the half-pixel shift of Kinetics and clicks on the frame border, and
rejects points stored in pixels rather than normalised.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from omnimotion_core.metrics import QueryMode
from storage.errors import InputError
from storage.frames import resize_frame
from storage.publish import atomic_file
from storage.safe_pickle import load_pickle_safely

TapVidFormat = Literal["davis", "kinetics", "rgb_stacking"]

QUERY_STRIDE = 5
"""Frames between two query frames in ``"strided"`` mode (tapnet's default ``query_stride``)."""

POINT_TOLERANCE = 0.1
"""How far (as a fraction of the frame) a visible normalised point may lie outside [0, 1]."""

RECORD_KEYS = ("video", "points", "occluded")
_KEYS_TEXT = ", ".join(repr(key) for key in RECORD_KEYS)
_NAME_DIGITS = 4
_NAMES_IN_ERRORS = 5


@dataclass(frozen=True)
class ObjectAreas:
    """The object's mask area in each frame, which BADJA's PCK-T thresholds are made of.

    Attributes:
        area: float64 [T], pixels of the object's mask in each frame, counted in the source frames (before
            any resize); NaN where the frame has no mask.
        scale_xy: (sx, sy), sample pixels per source pixel along x and y (the resize of the sample).
    """

    area: np.ndarray
    scale_xy: tuple[float, float]


@dataclass(frozen=True)
class TapVidSample:
    """One video with its queries and ground truth, ready for evaluation (TAP-Vid; BADJA: ``storage.badja``).

    Attributes:
        name: the dict key (DAVIS) or the zero-padded list index (``"0007"``); a BADJA sequence's name.
        video: uint8 [T, H, W, 3] RGB, at the requested resolution.
        query_points: float32 [N, 3] (t, y, x); t a frame index, y and x pixels at the video's resolution.
        target_points: float32 [N, T, 2] (x, y) pixels at the video's resolution.
        occluded: bool [N, T], True where the query's track is not visible (also where it has no label).
        evaluation_mask: bool [N, T], True where the (query, frame) carries a label at all; None: every
            entry does (TAP-Vid). Unlabelled entries are neither visible nor occluded and are not scored.
        object_areas: the object's mask areas for PCK-T; None: the dataset has no masks (TAP-Vid).
    """

    name: str
    video: np.ndarray
    query_points: np.ndarray
    target_points: np.ndarray
    occluded: np.ndarray
    evaluation_mask: np.ndarray | None = None
    object_areas: ObjectAreas | None = None


@dataclass(frozen=True)
class _Record:
    """A validated record: the video as stored (array or JPEG bytes) and its tracks."""

    video: np.ndarray | list[bytes]
    points: np.ndarray
    occluded: np.ndarray


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {list(value.shape)}"
    type_name = type(value).__name__
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def _is_encoded_video(video: Any) -> bool:
    """True for a Kinetics-style video: a sequence of JPEG bytes (list, tuple or 1-D bytes array)."""
    is_vector = isinstance(video, np.ndarray) and video.ndim == 1
    if is_vector and video.dtype.kind == "S":
        return True
    is_sequence = isinstance(video, (list, tuple)) or (is_vector and video.dtype == object)
    return is_sequence and len(video) > 0 and isinstance(video[0], bytes)


def _list_names(count: int) -> list[str]:
    width = max(_NAME_DIGITS, len(str(count - 1)))
    return [f"{index:0{width}d}" for index in range(count)]


def _records_by_name(origin: str, data: object, dataset_format: TapVidFormat) -> dict[str, Any]:
    """Map video name -> raw record, checking the container matches ``dataset_format``."""
    if dataset_format == "davis":
        allowed: tuple[type, ...] = (dict,)
        expected = "a dict of video name -> record (DAVIS)"
    elif dataset_format == "rgb_stacking":
        allowed = (list, tuple)
        expected = "a list of records (RGB-Stacking)"
    elif dataset_format == "kinetics":
        allowed = (list, tuple, dict)
        expected = "a list (or dict) of records (Kinetics)"
    else:
        raise InputError(
            f"unknown TAP-Vid format {dataset_format!r}; expected 'davis', 'kinetics' or 'rgb_stacking'"
        )
    if not isinstance(data, allowed):
        raise InputError(
            f"{origin}: not a TAP-Vid {dataset_format} pickle: expected {expected}, got {_describe(data)}"
        )
    if not data:
        raise InputError(f"{origin}: the TAP-Vid pickle holds no videos")
    if isinstance(data, dict):
        bad_keys = [key for key in data if not isinstance(key, str)]
        if bad_keys:
            raise InputError(
                f"{origin}: video names must be strings, got {bad_keys[0]!r} ({_describe(bad_keys[0])})"
            )
        return dict(data)
    return dict(zip(_list_names(len(data)), data, strict=True))


def _detect_format(origin: str, data: object) -> TapVidFormat:
    """Tell DAVIS, Kinetics and RGB-Stacking apart by container and by the first record's video."""
    if isinstance(data, dict):
        records: Sequence[Any] = list(data.values())
    elif isinstance(data, (list, tuple)):
        records = data
    else:
        raise InputError(
            f"{origin}: not a TAP-Vid pickle: expected a dict of video name -> record (DAVIS) or a list of "
            f"records (Kinetics, RGB-Stacking), got {_describe(data)}"
        )
    if not records:
        raise InputError(f"{origin}: the TAP-Vid pickle holds no videos")
    first = records[0]
    if not isinstance(first, Mapping):
        raise InputError(
            f"{origin}: not a TAP-Vid pickle: its first entry is {_describe(first)}, expected a dict with "
            f"keys {_KEYS_TEXT}"
        )
    if "video" not in first:
        present = ", ".join(map(repr, first)) or "none"
        raise InputError(
            f"{origin}: not a TAP-Vid pickle: its first entry has no 'video' key (it has {present}); expected "
            f"keys {_KEYS_TEXT}"
        )
    if _is_encoded_video(first["video"]):
        return "kinetics"
    return "davis" if isinstance(data, dict) else "rgb_stacking"


def _check_video_array(where: str, video: Any) -> np.ndarray:
    if not isinstance(video, np.ndarray) or video.dtype != np.uint8 or video.ndim != 4 or video.shape[3] != 3:
        raise InputError(f"{where}: 'video' is {_describe(video)}; expected uint8 [T, H, W, 3] RGB frames")
    if min(video.shape) == 0:
        raise InputError(f"{where}: 'video' has shape {list(video.shape)}; expected no empty axis")
    return video


def _check_encoded_video(where: str, video: Any) -> list[bytes]:
    if not _is_encoded_video(video):
        raise InputError(
            f"{where}: 'video' is {_describe(video)}; expected a list of JPEG-encoded frames (bytes)"
        )
    frames = list(video)
    if not frames:
        raise InputError(f"{where}: 'video' has no frames")
    for index, frame in enumerate(frames):
        if not isinstance(frame, bytes) or not frame:
            raise InputError(
                f"{where}: frame {index} of 'video' is {_describe(frame)}; expected non-empty JPEG bytes"
            )
    return [bytes(frame) for frame in frames]


def _check_tracks(where: str, points: Any, occluded: Any, num_frames: int) -> None:
    is_array = isinstance(points, np.ndarray)
    if not is_array or points.dtype.kind != "f" or points.ndim != 3 or points.shape[2] != 2:
        raise InputError(
            f"{where}: 'points' is {_describe(points)}; expected float [N, T, 2] (x, y) normalised"
        )
    if points.shape[1] != num_frames:
        raise InputError(f"{where}: 'points' has {points.shape[1]} frames, 'video' has {num_frames}")
    if not isinstance(occluded, np.ndarray) or occluded.dtype != np.bool_:
        raise InputError(f"{where}: 'occluded' is {_describe(occluded)}; expected bool [N, T]")
    if occluded.shape != points.shape[:2]:
        raise InputError(
            f"{where}: 'occluded' has shape {list(occluded.shape)}, expected {list(points.shape[:2])} to "
            "match 'points' [N, T, 2]"
        )
    visible = points[~occluded]
    if not np.all(np.isfinite(visible)):
        count = int(np.sum(~np.isfinite(visible).all(axis=-1)))
        raise InputError(
            f"{where}: 'points' has {count} non-finite (NaN or inf) points where 'occluded' is False"
        )
    if visible.size and (visible.min() < -POINT_TOLERANCE or visible.max() > 1 + POINT_TOLERANCE):
        raise InputError(
            f"{where}: visible 'points' span [{visible.min():.4g}, {visible.max():.4g}]; expected (x, y) "
            f"normalised to [0, 1] (tolerance {POINT_TOLERANCE}); are they in pixels?"
        )


def _check_record(origin: str, name: str, record: Any, encoded: bool) -> _Record:
    """Validate one record; ``encoded`` says whether its video must be JPEG bytes (Kinetics)."""
    where = f"{origin}: video {name!r}"
    if not isinstance(record, Mapping):
        raise InputError(f"{where} is {_describe(record)}; expected a dict with keys {_KEYS_TEXT}")
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        present = ", ".join(map(repr, record)) or "none"
        raise InputError(f"{where}: missing key(s) {', '.join(map(repr, missing))}; it has {present}")
    if encoded:
        video: np.ndarray | list[bytes] = _check_encoded_video(where, record["video"])
    else:
        video = _check_video_array(where, record["video"])
    _check_tracks(where, record["points"], record["occluded"], len(video))
    return _Record(video=video, points=record["points"], occluded=record["occluded"])


def _decode_video(where: str, frames: list[bytes]) -> np.ndarray:
    """JPEG bytes -> uint8 [T, H, W, 3] RGB; every frame must decode to the same size."""
    decoded = []
    for index, frame in enumerate(frames):
        image = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise InputError(f"{where}: frame {index} of 'video' is not a decodable JPEG")
        if decoded and image.shape != decoded[0].shape:
            raise InputError(
                f"{where}: frame {index} of 'video' is {image.shape[1]}x{image.shape[0]}, frame 0 is "
                f"{decoded[0].shape[1]}x{decoded[0].shape[0]}"
            )
        decoded.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(decoded)


@dataclass(frozen=True)
class _Dataset:
    origin: str
    dataset_format: TapVidFormat
    records: dict[str, Any]


def _load_dataset(path: Path, dataset_format: TapVidFormat | Literal["auto"]) -> _Dataset:
    origin = str(path)
    data = load_pickle_safely(Path(path))
    if dataset_format == "auto":
        resolved = _detect_format(origin, data)
    elif dataset_format in ("davis", "kinetics", "rgb_stacking"):
        resolved = dataset_format
    else:
        raise InputError(
            f"unknown TAP-Vid format {dataset_format!r}; expected 'auto', 'davis', 'kinetics' or "
            "'rgb_stacking'"
        )
    return _Dataset(origin=origin, dataset_format=resolved, records=_records_by_name(origin, data, resolved))


def _record_named(dataset: _Dataset, name: str) -> Any:
    """The raw record called ``name``; the error for an unknown name lists a few valid ones."""
    if name not in dataset.records:
        names = list(dataset.records)
        examples = ", ".join(repr(known) for known in names[:_NAMES_IN_ERRORS])
        more = ", ..." if len(names) > _NAMES_IN_ERRORS else ""
        raise InputError(
            f"{dataset.origin}: no video {name!r}; it holds {len(names)} videos: {examples}{more}"
        )
    return dataset.records[name]


def list_tapvid_videos(path: Path) -> list[str]:
    """Names of the videos in a TAP-Vid pickle, in stored order (lists: ``"0000"``, ``"0001"``, ...)."""
    return list(_load_dataset(path, "auto").records)


def read_tapvid_video(path: Path, name: str) -> np.ndarray:
    """The frames of one video, as stored: uint8 [T, H, W, 3] RGB at the original resolution.

    Kinetics JPEG frames are decoded. Raises InputError when ``name`` is not in the file (the message
    lists a few valid names).
    """
    dataset = _load_dataset(path, "auto")
    record = _record_named(dataset, name)
    where = f"{dataset.origin}: video {name!r}"
    if not isinstance(record, Mapping) or "video" not in record:
        raise InputError(f"{where} is {_describe(record)}; expected a dict with a 'video' key")
    if dataset.dataset_format == "kinetics":
        return _decode_video(where, _check_encoded_video(where, record["video"]))
    return _check_video_array(where, record["video"])


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def check_resolution(resolution: Any) -> tuple[int, int] | None:
    """``resolution`` as (height, width) ints, or None; InputError for anything else."""
    if resolution is None:
        return None
    is_pair = isinstance(resolution, (tuple, list)) and len(resolution) == 2
    if not is_pair or not all(map(_is_positive_int, resolution)):
        raise InputError(f"resolution must be None or (height, width) positive integers, got {resolution!r}")
    return int(resolution[0]), int(resolution[1])


def sample_queries(
    occluded: np.ndarray, target_points: np.ndarray, query_mode: QueryMode
) -> tuple[np.ndarray, np.ndarray]:
    """Query points of tracks, by tapnet's rule for ``query_mode`` (see the module docstring).

    ``"first"`` (``sample_queries_first``): one query per track at its first visible frame; tracks never
    visible get none. ``"strided"`` (``sample_queries_strided``): for frames 0, QUERY_STRIDE, 2 *
    QUERY_STRIDE, ...: one query per track visible there (frame-major order), so a track visible at k
    query frames gets k queries.

    Args:
        occluded: bool [N, T], True where a track is not visible.
        target_points: [N, T, 2] (x, y) pixels.
        query_mode: ``"first"`` or ``"strided"``.

    Returns:
        query_points float64 [M, 3] (t, y, x) and rows int [M]: the track each query belongs to.
    """
    if query_mode == "first":
        rows = np.flatnonzero((~occluded).any(axis=1))
        frames = np.argmax(~occluded[rows], axis=1)
    elif query_mode == "strided":
        query_frames = range(0, occluded.shape[1], QUERY_STRIDE)
        per_frame = [(np.flatnonzero(~occluded[:, frame]), frame) for frame in query_frames]
        rows = np.concatenate([visible for visible, _ in per_frame])
        frames = np.concatenate([np.full(len(visible), frame) for visible, frame in per_frame])
    else:
        raise InputError(f"unknown query mode {query_mode!r}; expected 'first' or 'strided'")
    at_query = target_points[rows, frames]
    query_points = np.stack([frames.astype(np.float64), at_query[:, 1], at_query[:, 0]], axis=-1)
    return query_points.reshape(-1, 3), rows


def _make_sample(
    origin: str, name: str, record: _Record, query_mode: QueryMode, resolution: tuple[int, int] | None,
    max_frames: int | None = None,
) -> TapVidSample:
    where = f"{origin}: video {name!r}"
    if max_frames is not None:
        record = _Record(record.video[:max_frames], record.points[:, :max_frames], record.occluded[:, :max_frames])
    video = record.video if isinstance(record.video, np.ndarray) else _decode_video(where, record.video)
    if resolution is not None and resolution != video.shape[1:3]:
        video = np.stack([resize_frame(frame, resolution) for frame in video])
    size_xy = np.array([video.shape[2], video.shape[1]], dtype=np.float64)
    target_points = record.points.astype(np.float64) * size_xy
    query_points, rows = sample_queries(record.occluded, target_points, query_mode)
    return TapVidSample(
        name=name,
        video=video,
        query_points=query_points.astype(np.float32),
        target_points=target_points[rows].astype(np.float32),
        occluded=record.occluded[rows].astype(bool),
    )


def check_query_mode(query_mode: Any) -> None:
    """InputError unless ``query_mode`` is ``"first"`` or ``"strided"``."""
    if query_mode not in ("first", "strided"):
        raise InputError(f"unknown query mode {query_mode!r}; expected 'first' or 'strided'")


def iter_tapvid(
    path: Path,
    *,
    dataset_format: TapVidFormat | Literal["auto"] = "auto",
    query_mode: QueryMode = "first",
    resolution: tuple[int, int] | None = (256, 256),
) -> Iterator[TapVidSample]:
    """Read a TAP-Vid pickle and yield one :class:`TapVidSample` per video, in stored order.

    ``resolution`` is (height, width) of the output frames, or None to keep each video's own size; points
    are scaled to it. The whole file is loaded and every record validated before the first sample is
    yielded, so a bad file fails at the call, not halfway through an evaluation.
    """
    check_query_mode(query_mode)
    output_size = check_resolution(resolution)
    dataset = _load_dataset(path, dataset_format)
    encoded = dataset.dataset_format == "kinetics"
    records = {
        name: _check_record(dataset.origin, name, record, encoded) for name, record in dataset.records.items()
    }
    return (
        _make_sample(dataset.origin, name, record, query_mode, output_size)
        for name, record in records.items()
    )


def load_tapvid_sample(
    path: Path,
    name: str,
    query_mode: QueryMode = "first",
    resolution: tuple[int, int] | None = (256, 256),
    *,
    dataset_format: TapVidFormat | Literal["auto"] = "auto",
    max_frames: int | None = None,
) -> TapVidSample:
    """The sample of the video called ``name``, equal to the one :func:`iter_tapvid` yields for it.

    Only that video's record is validated. Raises InputError when ``name`` is not in the file (the
    message lists a few valid names). ``max_frames`` keeps only the first frames (as ingesting with
    ``IngestConfig.max_frames`` does) before the queries are sampled; None keeps all.
    """
    check_query_mode(query_mode)
    output_size = check_resolution(resolution)
    if max_frames is not None and not _is_positive_int(max_frames):
        raise InputError(f"max_frames must be None or a positive integer, got {max_frames!r}")
    dataset = _load_dataset(path, dataset_format)
    raw = _record_named(dataset, name)
    record = _check_record(dataset.origin, name, raw, encoded=dataset.dataset_format == "kinetics")
    return _make_sample(dataset.origin, name, record, query_mode, output_size, max_frames)


def write_tapvid_davis_pickle(path: Path, videos: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Validate ``videos`` and write them as a TAP-Vid-DAVIS pickle (protocol 4) at ``path``, atomically.

    videos: name -> {'video': uint8 [T, H, W, 3] RGB, 'points': float [N, T, 2] (x, y) normalised to
    [0, 1], 'occluded': bool [N, T]}; no other keys. Points are stored as float32, as in the released
    DAVIS pickle. The file is written to a temporary file in the same folder (created if missing) and
    renamed over ``path``, so readers see the old file or the new one, never a partial one. A failed write
    (full disk, read-only folder) raises an ``OSError`` naming ``path``, with the errno of the failure.
    """
    path = Path(path)
    origin = f"{path} (writing)"
    if not isinstance(videos, Mapping) or not videos:
        raise InputError(
            f"{origin}: expected a non-empty mapping of video name -> record, got {_describe(videos)}"
        )
    payload: dict[str, dict[str, np.ndarray]] = {}
    for name, record in videos.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{origin}: video names must be non-empty strings, got {name!r}")
        if isinstance(record, Mapping):
            extra = [key for key in record if key not in RECORD_KEYS]
            if extra:
                raise InputError(
                    f"{origin}: video {name!r}: unexpected key(s) {', '.join(map(repr, extra))}; a DAVIS "
                    f"record has only {_KEYS_TEXT}"
                )
        checked = _check_record(origin, name, record, encoded=False)
        payload[name] = {
            "video": np.ascontiguousarray(checked.video),
            "points": np.ascontiguousarray(checked.points, dtype=np.float32),
            "occluded": np.ascontiguousarray(checked.occluded),
        }
    try:
        with atomic_file(path) as temporary, temporary.open("wb") as stream:
            pickle.dump(payload, stream, protocol=4)
    except OSError as error:  # a full disk or a read-only folder: the message of a failed write names no file
        reason = error.strerror or str(error)
        message = f"{path}: could not write the TAP-Vid pickle ({reason}); a file already there is unchanged"
        raise OSError(error.errno, message) from error
