"""Model fits on disk: ``<video_group>/fits/<fit_name>/``.

Layout::

    fits/<fit_name>/
      zarr.json                 attributes: schema_version, complete, params (model config, flow set, steps)
      checkpoints/step_<n>.pt   torch state (model, optimiser, sampler generator, step); written to a
                                temporary file and renamed, so a checkpoint on disk is always whole
      depth                     float16 [T, H, W] pseudo-depth of every frame (optional export)
      matches/                  the long-gap matches the surface model found in the video (written once, read
                                by a resumed fit instead of matching the frames again; attribute complete):
        frames                  int64   [M, 2] (i, j)
        source                  float32 [M, 2] (x, y) pixels in frame i
        target                  float32 [M, 2] (x, y) pixels in frame j
      dense/                    tracks of a pixel grid of one frame through every frame (optional export):
        query_points            float32 [N, 3] (t, y, x) pixels
        tracks                  float32 [N, T, 2] (x, y) pixels
        occluded                bool    [N, T]

A fit is resumable: the latest checkpoint is the point to continue from. ``complete: true`` is set only
after the last checkpoint and the outputs are written; readers of the outputs require it. Checkpoints are
read with ``torch.load(..., weights_only=True)``: only tensors and plain containers, never code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr

from omnimotion_core.flow.matches import Matches
from storage import layout
from storage.errors import IncompleteStoreError, InputError, StoreConflictError
from storage.publish import atomic_file

CHECKPOINTS_DIR = "checkpoints"
DEPTH_ARRAY = "depth"
_CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def fit_path(video_group: Path, fit_name: str) -> Path:
    """Folder of the fit ``fit_name`` of a video group."""
    if layout.video_id_from_name(fit_name) != fit_name:
        raise InputError(f"{fit_name!r} is not a valid fit name: use letters, digits, '-', '_', '.'")
    return Path(video_group) / layout.FITS_GROUP / fit_name


def open_fit(video_group: Path, fit_name: str, params: dict[str, Any]) -> Path:
    """Create the fit folder, or reopen it when it was started with the same ``params``.

    Raises:
        StoreConflictError: the fit exists with other parameters (choose another name).
    """
    path = fit_path(video_group, fit_name)
    canonical = json.loads(json.dumps(params, sort_keys=True, default=str))
    if (path / "zarr.json").is_file():
        existing = dict(zarr.open_group(str(path), mode="r").attrs)
        if existing.get("params") != canonical:
            raise StoreConflictError(
                f"{path}: this fit was started with other parameters; use another fit name or delete it"
            )
        return path
    group = zarr.open_group(str(path), mode="a", zarr_format=3)
    group.attrs.update({"schema_version": layout.SCHEMA_VERSION, "complete": False, "params": canonical})
    return path


def save_checkpoint(fit_dir: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``checkpoints/step_<step>.pt`` atomically; keep only the ``keep`` latest."""
    folder = Path(fit_dir) / CHECKPOINTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step_{step:08d}.pt"
    with atomic_file(final) as temporary:
        torch.save(state, temporary)
    for _, old in list_checkpoints(fit_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def list_checkpoints(fit_dir: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every whole checkpoint, oldest first."""
    folder = Path(fit_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _CHECKPOINT_PATTERN.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a file that is not one is an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise InputError(f"{path}: not a readable checkpoint ({type(error).__name__}: {first_line})") from error
    if not isinstance(state, dict):
        raise InputError(f"{path}: a checkpoint must hold a dict, got {type(state).__name__}")
    return state


_LISTING_ATTEMPTS = 5


def latest_checkpoint(fit_dir: Path) -> dict[str, Any] | None:
    """The state of the newest checkpoint, or None when the fit has none yet.

    Another run fitting the same model may remove the newest file between our listing and our reading
    (it keeps only its latest checkpoints, and has written a newer one): the folder is then listed again.
    """
    for _ in range(_LISTING_ATTEMPTS):
        checkpoints = list_checkpoints(fit_dir)
        if not checkpoints:
            return None
        newest = checkpoints[-1][1]
        try:
            return load_checkpoint(newest)
        except InputError:
            if newest.exists():
                raise
    raise IncompleteStoreError(f"{fit_dir}: checkpoints kept vanishing while being read ({_LISTING_ATTEMPTS} tries)")


def complete_fit(fit_dir: Path, summary: dict[str, Any]) -> None:
    """Mark the fit complete (its last checkpoint written) with ``summary`` (fit time, steps, losses)."""
    group = zarr.open_group(str(fit_dir), mode="r+")
    group.attrs.update({"summary": json.loads(json.dumps(summary, default=str)), "complete": True})


def write_depth(fit_dir: Path, depth: np.ndarray) -> Path:
    """Store the pseudo-depth float [T, H, W] of a complete fit (replaces an older export)."""
    group = zarr.open_group(str(fit_dir), mode="r+")
    if group.attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{fit_dir}: the fit has not completed")
    group.create_array(DEPTH_ARRAY, data=np.asarray(depth, dtype=np.float16), chunks=(1, *depth.shape[1:]), overwrite=True)
    return Path(fit_dir) / DEPTH_ARRAY


def read_depth(fit_dir: Path) -> np.ndarray:
    """Pseudo-depth float32 [T, H, W] exported from a complete fit."""
    group = zarr.open_group(str(fit_dir), mode="r")
    if group.attrs.get("complete") is not True or DEPTH_ARRAY not in group:
        raise IncompleteStoreError(f"{fit_dir}: no pseudo-depth exported (the fit is unfinished or not exported)")
    return np.asarray(group[DEPTH_ARRAY][:], dtype=np.float32)


MATCHES_GROUP = "matches"


def write_matches(fit_dir: Path, matches: Matches) -> Path:
    """Store the long-gap matches of a fit (replaces older ones); marked complete only once whole."""
    group = zarr.open_group(str(Path(fit_dir) / MATCHES_GROUP), mode="w", zarr_format=3)
    for name, values, dtype in (("frames", matches.frames, np.int64), ("source", matches.source, np.float32),
                                ("target", matches.target, np.float32)):
        group.create_array(name, data=np.asarray(values, dtype=dtype), chunks=(max(len(matches), 1), 2))
    group.attrs["complete"] = True
    return Path(fit_dir) / MATCHES_GROUP


def read_matches(fit_dir: Path) -> Matches | None:
    """The matches of :func:`write_matches`, or None when the fit has none stored or their write did not finish."""
    path = Path(fit_dir) / MATCHES_GROUP
    if not (path / "zarr.json").is_file():
        return None
    group = zarr.open_group(str(path), mode="r")
    if group.attrs.get("complete") is not True:
        return None
    return Matches(frames=np.asarray(group["frames"][:]), source=np.asarray(group["source"][:]),
                   target=np.asarray(group["target"][:]))


DENSE_GROUP = "dense"


def write_dense_tracks(fit_dir: Path, query_points: np.ndarray, tracks: np.ndarray, occluded: np.ndarray) -> Path:
    """Store dense tracks (a grid of query points through every frame) in the fit; replaces an older export."""
    group = zarr.open_group(str(Path(fit_dir) / DENSE_GROUP), mode="w", zarr_format=3)
    group.create_array("query_points", data=np.asarray(query_points, dtype=np.float32))
    group.create_array("tracks", data=np.asarray(tracks, dtype=np.float32))
    group.create_array("occluded", data=np.asarray(occluded, dtype=bool))
    group.attrs["complete"] = True
    return Path(fit_dir) / DENSE_GROUP


@dataclass(frozen=True)
class DenseTracks:
    """The dense tracks exported from a fit.

    Attributes:
        query_points: float32 [N, 3] (t, y, x) pixels, a grid of one frame.
        tracks: float32 [N, T, 2] (x, y) pixels.
        occluded: bool [N, T].
    """

    query_points: np.ndarray
    tracks: np.ndarray
    occluded: np.ndarray


def read_dense_tracks(fit_dir: Path) -> DenseTracks:
    """The dense tracks of :func:`write_dense_tracks`."""
    path = Path(fit_dir) / DENSE_GROUP
    if not (path / "zarr.json").is_file():
        raise IncompleteStoreError(f"{fit_dir}: no dense tracks exported")
    group = zarr.open_group(str(path), mode="r")
    if group.attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{path}: the dense export has not completed")
    return DenseTracks(np.asarray(group["query_points"][:]), np.asarray(group["tracks"][:]), np.asarray(group["occluded"][:]))


def read_fit_summary(fit_dir: Path) -> dict[str, Any]:
    """The summary of a complete fit: fit_seconds, steps, device, steps_per_second, loss_history, loss_terms."""
    group = zarr.open_group(str(fit_dir), mode="r")
    if group.attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{fit_dir}: the fit has not completed")
    return dict(group.attrs["summary"])
