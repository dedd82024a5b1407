"""Point tracks made by another tracker (e.g. TAP-Net), read to fit OmniMotion on them instead of dense flow.

Two file formats hold the same *record*, a mapping with these keys (no others):

- ``'tracks'`` (or ``'pred_tracks'``, tapnet's prediction name): real [N, T, 2], (x, y) positions of N
  tracks over T frames; float or integer dtype.
- exactly one of ``'occluded'`` (or ``'pred_occluded'``): bool [N, T], True where the track is not visible;
  or ``'visible'``: bool [N, T], True where it is. Probabilities or logits must be thresholded first.
- ``'size'`` (optional): two positive integers (H, W), the frame size the tracks refer to.
- ``'coordinates'`` (optional): ``"pixels"`` (the default) or ``"normalized"``.

Formats, chosen by the file suffix:

- ``.npz``: one record, one array per key (``'coordinates'`` as a string array, e.g.
  ``np.savez(path, tracks=..., occluded=..., coordinates="normalized", size=[256, 256])``). It is
  loaded with ``np.load(allow_pickle=False)``, so object arrays are refused.
- ``.pkl`` / ``.pickle``: loaded with :func:`storage.safe_pickle.load_pickle_safely` (numpy arrays and plain
  containers only). Either one record (a dict holding any record key), or a dict ``video name -> record``
  as TAP-Vid-DAVIS predictions are kept, from which ``video_name`` picks one. ``'coordinates'`` is a str;
  ``'size'`` a tuple, list or array.

Coordinates: ``"pixels"`` are (x, y) pixels with pixel (column c, row r) at (x=c, y=r), the convention of
:class:`omnimotion_core.flow_set.FlowSet` and of the TAP-Vid samples of :mod:`storage.tapvid`.
``"normalized"`` are scaled to pixels as TAP-Vid does (``x_px = x * W``, ``y_px = y * H``, see
:mod:`storage.tapvid`), which needs the size, from the file or the caller.

Validation: positions of visible points must be finite and, when the size is known, lie within
:data:`POINT_TOLERANCE` of the frame (``-0.1 W <= x <= 1.1 W``, same for y): this catches normalised
tracks read as pixels, or tracks for another resolution. Occluded positions may hold anything (NaN
included) and are never read. At least one point must be visible.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.lib.npyio import NpzFile

from storage.errors import InputError
from storage.safe_pickle import load_pickle_safely

Coordinates = Literal["pixels", "normalized"]

POINT_TOLERANCE = 0.1
"""How far (as a fraction of the frame size) a visible point may lie outside the frame."""

TRACKS_KEYS = ("tracks", "pred_tracks")
OCCLUDED_KEYS = ("occluded", "pred_occluded")
VISIBLE_KEY = "visible"
SIZE_KEY = "size"
COORDINATES_KEY = "coordinates"
RECORD_KEYS = (*TRACKS_KEYS, *OCCLUDED_KEYS, VISIBLE_KEY, SIZE_KEY, COORDINATES_KEY)
NPZ_SUFFIXES = (".npz",)
PICKLE_SUFFIXES = (".pkl", ".pickle")
_NAMES_IN_ERRORS = 5


@dataclass(frozen=True)
class ExternalTracks:
    """Another tracker's tracks of one video, validated.

    Attributes:
        tracks: float32 [N, T, 2], (x, y) pixels; pixel (column c, row r) is at (x=c, y=r). Values where
            ``occluded`` is True are as stored (possibly NaN).
        occluded: bool [N, T], True where the track is not visible.
        size: (H, W) of the frames the tracks refer to, or None when neither the file nor the caller gave it.
        source: where the tracks came from: the file path, plus ``[video name]`` for a multi-video pickle.
    """

    tracks: np.ndarray
    occluded: np.ndarray
    size: tuple[int, int] | None
    source: str


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {list(value.shape)}"
    type_name = type(value).__name__
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def _one_of(where: str, record: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The single key of ``keys`` present in ``record`` (None if none); two present is an error."""
    present = [key for key in keys if key in record]
    if len(present) > 1:
        raise InputError(f"{where}: has both {present[0]!r} and {present[1]!r}; keep one")
    return present[0] if present else None


def _check_size(where: str, label: str, size: Any) -> tuple[int, int]:
    values = np.asarray(size)
    if values.shape != (2,) or values.dtype.kind not in "iu" or np.any(values <= 0):
        raise InputError(
            f"{where}: {label} is {values.tolist()!r} ({_describe(size)}); expected two positive integers (H, W)"
        )
    return int(values[0]), int(values[1])


def _check_coordinates(where: str, value: Any) -> Coordinates:
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "US":
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if value == "pixels":
        return "pixels"
    elif value == "normalized":
        return "normalized"
    else:
        raise InputError(f"{where}: 'coordinates' is {value!r}; expected 'pixels' or 'normalized'")


def _resolve_size(
    where: str, stored: tuple[int, int] | None, given: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The size the tracks refer to: the caller's (which must agree with the stored one), else the stored one."""
    if given is None:
        return stored
    given = _check_size(where, "the size argument", given)
    if stored is not None and stored != given:
        raise InputError(f"{where}: 'size' is {list(stored)} (H, W) but the caller gave {list(given)}")
    return given


def _check_arrays(where: str, tracks_key: str, tracks: Any, occlusion_key: str, occlusion: Any) -> None:
    if not isinstance(tracks, np.ndarray) or tracks.dtype.kind not in "fiu":
        raise InputError(
            f"{where}: {tracks_key!r} is {_describe(tracks)}; expected a float array [N, T, 2] (x, y)"
        )
    if tracks.ndim != 3 or tracks.shape[2] != 2:
        raise InputError(f"{where}: {tracks_key!r} has shape {list(tracks.shape)}; expected [N, T, 2] (x, y)")
    if not isinstance(occlusion, np.ndarray) or occlusion.dtype != np.bool_:
        raise InputError(
            f"{where}: {occlusion_key!r} is {_describe(occlusion)}; expected bool [N, T] "
            "(threshold probabilities or logits first)"
        )
    if occlusion.shape != tracks.shape[:2]:
        raise InputError(
            f"{where}: {occlusion_key!r} has shape {list(occlusion.shape)} [N, T], {tracks_key!r} has "
            f"{list(tracks.shape[:2])} tracks and frames"
        )


def _check_visible_points(
    where: str, tracks_key: str, tracks: np.ndarray, occluded: np.ndarray, size: tuple[int, int] | None
) -> None:
    """Visible positions (pixels) must exist, be finite and, with a known size, lie near the frame."""
    visible = ~occluded
    if not visible.any():
        raise InputError(f"{where}: no visible point: every entry of the occlusion mask says occluded")
    finite = np.isfinite(tracks).all(axis=-1)
    bad = visible & ~finite
    if bad.any():
        track, frame = np.argwhere(bad)[0]
        raise InputError(
            f"{where}: {tracks_key!r} has {int(bad.sum())} non-finite (NaN or inf) visible points, "
            f"e.g. track {track} at frame {frame}"
        )
    if size is None:
        return
    height, width = size
    limits = np.array([width, height], dtype=np.float64)
    outside = visible & (
        (tracks < -POINT_TOLERANCE * limits) | (tracks > (1 + POINT_TOLERANCE) * limits)
    ).any(axis=-1)
    if outside.any():
        track, frame = np.argwhere(outside)[0]
        x, y = tracks[track, frame]
        raise InputError(
            f"{where}: {tracks_key!r} has {int(outside.sum())} visible points outside a {width}x{height} "
            f"frame (tolerance {POINT_TOLERANCE} of the frame), e.g. track {track} at frame {frame} at "
            f"(x, y) = ({x:.4g}, {y:.4g}) pixels; wrong 'coordinates' or 'size'?"
        )


def _parse_record(where: str, record: Mapping[str, Any], size: tuple[int, int] | None) -> ExternalTracks:
    unknown = [key for key in record if key not in RECORD_KEYS]
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; allowed keys are {list(RECORD_KEYS)}")
    tracks_key = _one_of(where, record, TRACKS_KEYS)
    if tracks_key is None:
        raise InputError(f"{where}: missing 'tracks' (or 'pred_tracks'); it has {list(record)}")
    occluded_key = _one_of(where, record, (*OCCLUDED_KEYS, VISIBLE_KEY))
    if occluded_key is None:
        raise InputError(
            f"{where}: missing 'occluded' (or 'pred_occluded' or 'visible'); it has {list(record)}"
        )
    _check_arrays(where, tracks_key, record[tracks_key], occluded_key, record[occluded_key])
    occluded = ~record[occluded_key] if occluded_key == VISIBLE_KEY else record[occluded_key].copy()
    stored_size = _check_size(where, "'size'", record[SIZE_KEY]) if SIZE_KEY in record else None
    size = _resolve_size(where, stored_size, size)
    coordinates = _check_coordinates(where, record[COORDINATES_KEY]) if COORDINATES_KEY in record else "pixels"
    if coordinates == "normalized" and size is None:
        raise InputError(f"{where}: 'coordinates' is 'normalized' but no 'size' is stored; pass size=(H, W)")
    scale = np.array([size[1], size[0]], dtype=np.float64) if coordinates == "normalized" else 1.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported below, as non-finite
        tracks = (record[tracks_key].astype(np.float64) * scale).astype(np.float32)
    _check_visible_points(where, tracks_key, tracks, occluded, size)
    return ExternalTracks(tracks=tracks, occluded=occluded, size=size, source=where)


def _read_npz(path: Path, video_name: str | None) -> dict[str, Any]:
    if video_name is not None:
        raise InputError(
            f"{path}: an .npz file holds one video's tracks; video_name={video_name!r} applies to pickles"
        )
    with path.open("rb") as handle:  # opened here so that numpy's failures cannot leak the file
        try:
            archive = np.load(handle, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise InputError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from error
        if not isinstance(archive, NpzFile):
            raise InputError(f"{path}: holds a single .npy array, not an .npz archive of named arrays")
        with archive:
            record = {}
            for key in archive.files:
                try:
                    record[key] = archive[key]
                except ValueError as error:
                    raise InputError(
                        f"{path}: array {key!r} needs pickle (object dtype), which is not allowed"
                    ) from error
    return record


def _record_from_pickle(path: Path, video_name: str | None) -> tuple[str, Mapping[str, Any]]:
    """(where, record) of the pickle at ``path``: its single record, or the one named ``video_name``."""
    data = load_pickle_safely(path)
    if not isinstance(data, Mapping):
        raise InputError(
            f"{path}: holds {_describe(data)}; expected a dict with 'tracks' and 'occluded', or a dict of "
            "video name -> such dicts"
        )
    if any(key in data for key in RECORD_KEYS):
        if video_name is not None:
            raise InputError(
                f"{path}: holds one video's tracks, not a dict of videos; video_name={video_name!r} does not apply"
            )
        return str(path), data
    names = list(data)
    examples = ", ".join(repr(name) for name in names[:_NAMES_IN_ERRORS]) + (
        ", ..." if len(names) > _NAMES_IN_ERRORS else ""
    )
    if video_name is None:
        raise InputError(f"{path}: holds the tracks of {len(names)} videos ({examples}); pass video_name")
    if video_name not in data:
        raise InputError(f"{path}: no video {video_name!r}; it holds {len(names)} videos: {examples}")
    where = f"{path}[{video_name!r}]"
    record = data[video_name]
    if not isinstance(record, Mapping):
        raise InputError(f"{where}: is {_describe(record)}; expected a dict with 'tracks' and 'occluded'")
    return where, record


def read_external_tracks(
    path: Path, *, video_name: str | None = None, size: tuple[int, int] | None = None
) -> ExternalTracks:
    """Read another tracker's tracks of one video (formats: see the module docstring).

    Args:
        path: ``.npz``, ``.pkl`` or ``.pickle`` file.
        video_name: which video of a pickle holding a dict ``video name -> record``; None for single records.
        size: (H, W) the tracks refer to; needed for normalised coordinates when the file stores no size,
            and checked against the stored size when both are given.

    Returns:
        The tracks in pixels, their occlusion, the size (or None) and where they came from.

    Raises:
        InputError: missing file or unknown suffix; missing, unknown or duplicated keys; wrong dtype or
            shape; N or T mismatch; non-finite or far-outside-the-frame visible points; no visible point;
            normalised coordinates without a size; a video name that is missing, unknown or not applicable.
        UnsafePickleError: the pickle asks for anything but numpy arrays and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        reason = "is not a file" if path.exists() else "does not exist"
        raise InputError(f"{path}: {reason}; expected a tracks file (.npz, .pkl or .pickle)")
    suffix = path.suffix.lower()
    if suffix in NPZ_SUFFIXES:
        where, record = str(path), _read_npz(path, video_name)
    elif suffix in PICKLE_SUFFIXES:
        where, record = _record_from_pickle(path, video_name)
    else:
        suffixes = [*NPZ_SUFFIXES, *PICKLE_SUFFIXES]
        raise InputError(f"{path}: unknown suffix {path.suffix!r}; expected one of {suffixes}")
    return _parse_record(where, record, size)
