"""Prefect task: the pictures of one (video, method): track overlay video, pseudo-depth, loss curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prefect import task

from omnimotion_core.model import pseudo_depth
from omnimotion_core.visuals import colorize_depth, draw_tracks
from storage.fit_store import read_fit_summary
from storage.media import write_loss_curve, write_mp4, write_png
from storage.prediction_store import read_predictions
from storage.video_store import open_video
from tasks.caching import StoreCachePolicy, existing_files, store_identity
from tasks.config import FitConfig
from tasks.fit import load_fitted_model, resolve_device

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
    fps = float(group.attrs.get("fps") or 10.0)
    overlay = draw_tracks(group.read_frames(), predicted.tracks, predicted.occluded)
    paths = [write_mp4(stem.with_name(stem.name + "-tracks.mp4"), overlay, fps=fps)]
    if fit_dir is not None:
        if fit is None:
            raise ValueError("render_visuals: a fit folder was given without its FitConfig")
        model = load_fitted_model(Path(fit_dir), fit.model_config(predicted.method), group.num_frames,
                                  resolve_device(fit.device))
        shown = np.linspace(0, group.num_frames - 1, min(DEPTH_STRIP_FRAMES, group.num_frames)).round().astype(int)
        scale = min(1.0, DEPTH_STRIP_MAX_SIDE / max(group.size))
        size = (max(2, round(group.size[0] * scale)), max(2, round(group.size[1] * scale)))
        strip = np.concatenate([colorize_depth(pseudo_depth(model, int(t), size).cpu().numpy()) for t in shown], axis=1)
        paths.append(write_png(stem.with_name(stem.name + "-depth.png"), strip))
        summary = read_fit_summary(Path(fit_dir))
        if summary["loss_history"]:
            paths.append(write_loss_curve(stem.with_name(stem.name + "-loss.png"), summary["loss_history"],
                                          summary["loss_terms"][1:]))
    return [str(path) for path in paths]


render_visuals = task(
    _render_visuals, name="render_visuals", cache_policy=StoreCachePolicy(identity=visuals_identity, is_live=existing_files),
)
