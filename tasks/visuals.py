"""Prefect tasks: the pictures of a (video, method) of a benchmark, and of a fit of ``process`` / ``fit``:
track overlay video, pseudo-depth strip, loss curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from omnimotion_core.model import pseudo_depth
from omnimotion_core.visuals import colorize_depth, draw_tracks
from storage.fit_store import read_dense_tracks, read_depth, read_fit_summary
from storage.media import write_loss_curve, write_mp4, write_png
from storage.prediction_store import read_predictions
from storage.video_store import VideoGroup, open_video
from tasks.caching import StoreCachePolicy, existing_files, store_identity
from tasks.config import FitConfig
from tasks.fit import load_fitted_model, resolve_device

OVERLAY_MAX_TRACKS = 400
"""Most dense tracks drawn in a fit's overlay video: more would cover the frames."""
DEPTH_STRIP_FRAMES = 4
DEPTH_STRIP_MAX_SIDE = 128
"""Longest side of the rendered depth maps: the model is resolution-free, and a 256x256 map costs about
half a minute per frame on one CPU thread."""


def visuals_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`render_visuals`: the predictions, the fit (if any) and the output folder."""
    fit_dir = inputs["fit_dir"]
    return {"predictions": store_identity(inputs["predictions"]),
            "fit": None if fit_dir is None else store_identity(fit_dir), "out_dir": str(Path(inputs["out_dir"]).resolve())}


def _render_visuals(
    video_group: str, predictions: str, out_dir: str, fit_dir: str | None = None, fit: FitConfig | None = None
) -> list[str]:
    """Write ``<video>-<method>-tracks.mp4`` (predicted tracks over the frames, hidden when occluded) and,
    for a fitted model, ``-depth.png`` (pseudo-depth of a few frames, blue near, red far) and ``-loss.png``;
    return the paths."""
    group = open_video(Path(video_group))
    predicted = read_predictions(Path(predictions))
    stem = Path(out_dir) / f"{group.video_id}-{predicted.method}"
    paths = [_write_overlay(stem, group, predicted.tracks, predicted.occluded)]
    if fit_dir is not None:
        if fit is None:
            raise ValueError("render_visuals: a fit folder was given without its FitConfig")
        model = load_fitted_model(Path(fit_dir), fit.model_config(predicted.method), group.num_frames,
                                  resolve_device(fit.device))
        scale = min(1.0, DEPTH_STRIP_MAX_SIDE / max(group.size))
        size = (max(2, round(group.size[0] * scale)), max(2, round(group.size[1] * scale)))
        depth = [pseudo_depth(model, int(t), size).cpu().numpy() for t in _strip_frames(group.num_frames)]
        paths += _write_fit_pictures(stem, Path(fit_dir), depth)
    return [str(path) for path in paths]


render_visuals = task(
    _render_visuals, name="render_visuals", cache_policy=StoreCachePolicy(identity=visuals_identity, is_live=existing_files),
)


def _render_fit_visuals(video_group: str, fit_dir: str, out_dir: str) -> list[str]:
    """The pictures of an exported fit (``process``, ``fit``): ``<fit>-tracks.mp4`` (its dense tracks over
    the frames, at most :data:`OVERLAY_MAX_TRACKS` of them, evenly spread over the grid), ``-depth.png``
    (the exported pseudo-depth of a few frames) and ``-loss.png``; return the paths. Not cached: drawing
    costs less than a lookup would save, and a new dense export changes the overlay."""
    group = open_video(Path(video_group))
    dense = read_dense_tracks(Path(fit_dir))
    shown = _spread_over_grid(dense.query_points, OVERLAY_MAX_TRACKS)
    stem = Path(out_dir) / Path(fit_dir).name
    paths = [_write_overlay(stem, group, dense.tracks[shown], dense.occluded[shown])]
    depth = read_depth(Path(fit_dir))
    paths += _write_fit_pictures(stem, Path(fit_dir), [depth[t] for t in _strip_frames(group.num_frames)])
    return [str(path) for path in paths]


render_fit_visuals = task(_render_fit_visuals, name="render_fit_visuals", cache_policy=NO_CACHE)


def _write_overlay(stem: Path, group: VideoGroup, tracks: np.ndarray, occluded: np.ndarray) -> Path:
    """``<stem>-tracks.mp4``: ``tracks`` [N, T, 2] (x, y) px drawn over the video's frames where visible."""
    fps = float(group.attrs.get("fps") or 10.0)
    return write_mp4(stem.with_name(stem.name + "-tracks.mp4"), draw_tracks(group.read_frames(), tracks, occluded), fps=fps)


def _strip_frames(num_frames: int) -> np.ndarray:
    """The frames shown in a depth strip: :data:`DEPTH_STRIP_FRAMES` evenly spread, first and last included."""
    return np.linspace(0, num_frames - 1, min(DEPTH_STRIP_FRAMES, num_frames)).round().astype(int)


def _write_fit_pictures(stem: Path, fit_dir: Path, depth: list[np.ndarray]) -> list[Path]:
    """``<stem>-depth.png`` (the ``depth`` maps [H, W] side by side, blue near, red far) and, when the fit
    recorded losses, ``<stem>-loss.png``."""
    paths = [write_png(stem.with_name(stem.name + "-depth.png"), np.concatenate([colorize_depth(d) for d in depth], axis=1))]
    summary = read_fit_summary(fit_dir)
    if summary["loss_history"]:
        paths.append(write_loss_curve(stem.with_name(stem.name + "-loss.png"), summary["loss_history"],
                                      summary["loss_terms"][1:]))
    return paths


def _spread_over_grid(query_points: np.ndarray, most: int) -> np.ndarray:
    """Indices of at most ``most`` of a grid's ``query_points`` [N, 3] (t, y, x): every k-th row and column."""
    _, rows = np.unique(query_points[:, 1], return_inverse=True)
    _, columns = np.unique(query_points[:, 2], return_inverse=True)
    step = 1
    while np.count_nonzero((rows % step == 0) & (columns % step == 0)) > most:
        step += 1
    return np.flatnonzero((rows % step == 0) & (columns % step == 0))
