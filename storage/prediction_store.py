"""Predicted tracks of one method for the query points of one video, stored in the video's group.

Layout: ``<video>.zarr/predictions/<method_key>/`` with arrays ``query_points`` float32 [N, 3] (t, y, x)
pixels, ``tracks`` float32 [N, T, 2] (x, y) pixels and ``occluded`` bool [N, T]; attributes ``method``,
``params`` (what produced them) and ``complete``. Published atomically like every group (see
:mod:`storage.layout`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from storage import layout, publish
from storage.errors import IncompleteStoreError

PREDICTIONS_GROUP = "predictions"


@dataclass(frozen=True)
class Predictions:
    """Tracks predicted by one method.

    Attributes:
        query_points: float32 [N, 3] (t, y, x) pixels.
        tracks: float32 [N, T, 2] (x, y) pixels.
        occluded: bool [N, T].
        method: the method's name (e.g. ``zero_motion``).
        params: what produced them (method config, query mode, resolution).
    """

    query_points: np.ndarray
    tracks: np.ndarray
    occluded: np.ndarray
    method: str
    params: dict[str, object]


def prediction_key(method: str, params: dict[str, object]) -> str:
    """Stable folder name for a method and its parameters, e.g. ``zero_motion-1a2b3c4d``."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:8]
    return f"{layout.video_id_from_name(method)}-{digest}"


def predictions_path(video_group: Path, method: str, params: dict[str, object]) -> Path:
    """Folder of the predictions of ``method`` with ``params`` in ``video_group``."""
    return Path(video_group) / PREDICTIONS_GROUP / prediction_key(method, params)


def write_predictions(video_group: Path, predictions: Predictions) -> Path:
    """Store ``predictions`` in ``video_group`` (replacing nothing: same key means same content)."""
    num_points, num_frames = predictions.occluded.shape
    if predictions.tracks.shape != (num_points, num_frames, 2):
        raise ValueError(f"tracks must be [{num_points}, {num_frames}, 2], got {predictions.tracks.shape}")
    if predictions.query_points.shape != (num_points, 3):
        raise ValueError(f"query_points must be [{num_points}, 3], got {predictions.query_points.shape}")
    final_path = predictions_path(video_group, predictions.method, predictions.params)
    if final_path.exists():
        return final_path
    final_path.parent.mkdir(parents=True, exist_ok=True)
    publish.remove_stale_partials(final_path)
    partial = publish.new_partial_path(final_path)
    try:
        group = zarr.open_group(str(partial), mode="a", zarr_format=3)
        group.create_array("query_points", data=predictions.query_points.astype(np.float32))
        group.create_array("tracks", data=predictions.tracks.astype(np.float32))
        group.create_array("occluded", data=predictions.occluded.astype(bool))
        group.attrs.update(
            {"method": predictions.method, "params": predictions.params, "complete": True}
        )
    except BaseException:
        publish.discard(partial)
        raise
    publish.publish(partial, final_path)
    return final_path


def read_predictions(path: Path) -> Predictions:
    """Read a complete predictions group; refuse an unfinished one."""
    path = Path(path)
    if not (path / "zarr.json").is_file():
        raise IncompleteStoreError(f"{path}: no predictions group here")
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    if attrs.get("complete") is not True:
        raise IncompleteStoreError(f"{path}: the predictions were never finished")
    return Predictions(
        query_points=np.asarray(group["query_points"][:]),
        tracks=np.asarray(group["tracks"][:]),
        occluded=np.asarray(group["occluded"][:]),
        method=str(attrs["method"]),
        params=dict(attrs["params"]),
    )


def list_predictions(video_group: Path) -> list[Path]:
    """Folders of the complete predictions stored in ``video_group``, sorted by name."""
    folder = Path(video_group) / PREDICTIONS_GROUP
    if not folder.is_dir():
        return []
    return sorted(
        entry for entry in folder.iterdir()
        if layout.PARTIAL_MARKER not in entry.name and (entry / "zarr.json").is_file()
        and zarr.open_group(str(entry), mode="r").attrs.get("complete") is True
    )
