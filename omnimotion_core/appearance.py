"""Appearance check of predicted tracks: a point is hidden where the frame no longer looks like it.

Any tracker can place a point on the wrong surface: on the occluder that passes in front of it, or, for a
point that has left the image, somewhere inside the frame where its motion stopped being supervised
(OmniMotion's mapping is not constrained outside the frame and stalls near the border). In both cases the
colours under the predicted position differ from the point's own colours at its query frame. This check
compares the (2r + 1)^2 patch around the prediction in every frame with the patch around the query and
marks the point occluded where the mean absolute colour difference exceeds a threshold.

Limits: the patch is compared without warping, so strong rotation, scaling, lighting changes or motion
blur also read as "hidden"; thin structures narrower than the patch are judged with their background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AppearanceCheckConfig:
    """The patch test applied to predicted tracks.

    Attributes:
        enabled: apply the test (else the tracker's own occlusion is kept as it is).
        radius: patch half-size r in pixels of the frames the tracks live in: (2r + 1)^2 pixels (9x9 at
            the default, at TAP-Vid's 256x256).
        threshold: mean absolute colour difference (colours in [0, 1], over the patch and the 3 channels)
            above which the point counts as hidden.

    Both were chosen on 2 synthetic validation videos of another seed than the benchmark's, with chained
    DIS flow tracks (benchmarks/RESULTS.md, "Appearance check"): 0.15 gave the best AJ at every radius
    from 1 to 8, and radius 4 is the smallest within 0.5 AJ of the best (larger patches suit deforming
    real footage less).
    """

    enabled: bool = True
    radius: int = 4
    threshold: float = 0.15

    def __post_init__(self) -> None:
        if self.radius < 0:
            raise ValueError(f"appearance check: radius must be >= 0, got {self.radius}")
        if not self.threshold > 0:
            raise ValueError(f"appearance check: threshold must be > 0, got {self.threshold}")


def sample_patches(frames: np.ndarray, frame_index: np.ndarray, xy: np.ndarray, radius: int) -> np.ndarray:
    """Bilinear colour patches, clamped at the border.

    Args:
        frames: [T, H, W, 3] uint8 or float frames.
        frame_index: int [M], frame of each patch.
        xy: [M, 2] (x, y) pixel centres.
        radius: patch half-size r.

    Returns:
        float32 [M, (2r + 1)^2, 3], colours in [0, 1] for uint8 frames (as stored otherwise).
    """
    _, height, width, _ = frames.shape
    steps = np.arange(-radius, radius + 1, dtype=np.float32)
    dy, dx = np.meshgrid(steps, steps, indexing="ij")
    x = np.clip(xy[:, None, 0].astype(np.float32) + dx.reshape(1, -1), 0, width - 1)
    y = np.clip(xy[:, None, 1].astype(np.float32) + dy.reshape(1, -1), 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 2) if width > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2) if height > 1 else np.zeros(y.shape, np.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    t = frame_index.astype(np.int64)[:, None]
    scale = np.float32(1 / 255) if frames.dtype == np.uint8 else np.float32(1)
    top = frames[t, y0, x0] * (1 - fx) + frames[t, y0, x1] * fx
    bottom = frames[t, y1, x0] * (1 - fx) + frames[t, y1, x1] * fx
    return ((top * (1 - fy) + bottom * fy) * scale).astype(np.float32)


def patch_difference(frames: np.ndarray, query_points: np.ndarray, tracks: np.ndarray, radius: int) -> np.ndarray:
    """Mean absolute colour difference between each query patch and the patch at each predicted position.

    Args:
        frames: [T, H, W, 3] frames the tracks live in.
        query_points: [N, 3] (t, y, x).
        tracks: [N, T, 2] (x, y) predicted positions.
        radius: patch half-size r.

    Returns:
        float32 [N, T]; 0 at the query frame.
    """
    num_points, num_frames, _ = tracks.shape
    if frames.ndim != 4 or frames.shape[0] != num_frames or frames.shape[-1] != 3:
        raise ValueError(f"appearance check: frames must be [T={num_frames}, H, W, 3], got {frames.shape}")
    if query_points.shape != (num_points, 3):
        raise ValueError(f"appearance check: query_points must be [{num_points}, 3], got {query_points.shape}")
    query_frame = np.rint(query_points[:, 0]).astype(np.int64)
    reference = sample_patches(frames, query_frame, query_points[:, [2, 1]], radius)
    differences = np.empty((num_points, num_frames), dtype=np.float32)
    for t in range(num_frames):
        patches = sample_patches(frames, np.full(num_points, t), tracks[:, t], radius)
        differences[:, t] = np.abs(patches - reference).mean(axis=(1, 2))
    return differences


def check_appearance(
    frames: np.ndarray, query_points: np.ndarray, tracks: np.ndarray, occluded: np.ndarray, config: AppearanceCheckConfig
) -> np.ndarray:
    """The tracker's occlusion, plus every point whose patch differs from its query patch by more than the
    threshold (unchanged when the check is disabled). Returns bool [N, T]."""
    if not config.enabled:
        return occluded
    if not np.isfinite(tracks).all():
        raise ValueError("appearance check: predicted tracks contain NaN or inf")
    return occluded | (patch_difference(frames, query_points, tracks, config.radius) > config.threshold)
