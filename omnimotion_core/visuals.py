"""Pictures a user looks at: colour-mapped pseudo-depth and track overlays (arrays in, arrays out)."""

from __future__ import annotations

import cv2
import numpy as np


def colorize_depth(depth: np.ndarray) -> np.ndarray:
    """Colour-map a pseudo-depth map: blue near, red far (as in the OmniMotion paper's figures).

    Args:
        depth: float [H, W], any units; scaled by its own 1st-99th percentile range.

    Returns:
        uint8 [H, W, 3] RGB.
    """
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H, W], got shape {depth.shape}")
    finite = depth[np.isfinite(depth)]
    low, high = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    scaled = np.clip((depth - low) / max(high - low, 1e-8), 0.0, 1.0)
    scaled = np.nan_to_num(scaled, nan=1.0)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def draw_tracks(frames: np.ndarray, tracks: np.ndarray, occluded: np.ndarray, radius: int = 2) -> np.ndarray:
    """Overlay tracks on a video: each point coloured by its position in its first visible frame (hue from
    x, brightness from y), drawn only where it is visible.

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        tracks: [N, T, 2] (x, y) pixels.
        occluded: bool [N, T].
        radius: dot radius in pixels.

    Returns:
        uint8 [T, H, W, 3] RGB, a copy of ``frames`` with the dots drawn.
    """
    num_frames, height, width = frames.shape[:3]
    if tracks.shape[1:] != (num_frames, 2) or occluded.shape != tracks.shape[:2]:
        raise ValueError(
            f"tracks must be [N, {num_frames}, 2] and occluded [N, {num_frames}], got {tracks.shape} and {occluded.shape}"
        )
    visible = ~occluded
    first = np.argmax(visible, axis=1)
    anchor = tracks[np.arange(len(tracks)), first]
    hue = np.clip(anchor[:, 0] / max(width - 1, 1), 0, 1) * 179
    value = 155 + 100 * np.clip(anchor[:, 1] / max(height - 1, 1), 0, 1)
    hsv = np.stack([hue, np.full_like(hue, 255), value], axis=-1).astype(np.uint8)[None]
    colours = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0].tolist()
    out = frames.copy()
    for t in range(num_frames):
        canvas = np.ascontiguousarray(out[t])
        for n in np.flatnonzero(visible[:, t] & np.all(np.isfinite(tracks[:, t]), axis=1)):
            centre = (int(round(tracks[n, t, 0])), int(round(tracks[n, t, 1])))
            cv2.circle(canvas, centre, radius, colours[n], thickness=-1, lineType=cv2.LINE_AA)
        out[t] = canvas
    return out
