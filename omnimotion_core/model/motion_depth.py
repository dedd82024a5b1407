"""Initial depth planes of the ``surface`` model from motion: what moves unlike the camera starts nearer.

A surface fit starts flat (every pixel at ``initial_depth``), and a coupling layer that moves x or y reads
only the two other coordinates: with every pixel at one depth it cannot move an object unlike the
background behind it, and depth separates only slowly (the gradient that would separate it is zero while
the planes are flat). On the development video of benchmarks/RESULTS.md a fast object was assigned to the
background's motion for about 1,000 steps even on exact correspondences. Starting its pixels nearer removes
that wait.

Per frame i, the shortest-gap flow of the set from frame i is compared with the per-frame similarity (camera
pan, zoom and roll) fitted to it by iteratively reweighted least squares on the trusted pixels; the
residual r (pixels per frame) becomes a depth offset ``-offset * tanh(r / scale)``, median-filtered
over 5x5 pixels and resampled to the depth planes' cells. "Moves unlike the camera = in front" is a prior
the occlusion term corrects where it is wrong.
"""

from __future__ import annotations

import cv2
import numpy as np

from omnimotion_core.flow_set import PairSource

ROBUST_ITERATIONS = 6
"""Reweighting rounds of the similarity fit (Cauchy weights; the fit settles within a few)."""


def fit_similarity(points: np.ndarray, targets: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Robust 2D similarity mapping ``points`` [M, 2] onto ``targets`` [M, 2]: (a, b, tx, ty) with
    x' = a x - b y + tx, y' = b x + a y + ty (least squares reweighted by 1 / (1 + (r / scale)^2))."""
    if points.ndim != 2 or points.shape[1] != 2 or targets.shape != points.shape:
        raise ValueError(f"fit_similarity: points and targets must be [M, 2], got {points.shape} and {targets.shape}")
    if len(points) < 2:
        raise ValueError(f"fit_similarity: need at least 2 points, got {len(points)}")
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    rhs = np.concatenate([targets[:, 0], targets[:, 1]]).astype(np.float64)
    weights = np.ones(len(rhs))
    params = np.zeros(4)
    for _ in range(ROBUST_ITERATIONS):
        root = np.sqrt(weights)[:, None]
        params = np.linalg.lstsq(design * root, rhs * root[:, 0], rcond=None)[0]
        residual = (design @ params - rhs).reshape(2, -1)
        distance = np.hypot(residual[0], residual[1])
        weights = np.tile(1.0 / (1.0 + (distance / scale) ** 2), 2)
    return params


def shortest_gap_row(pairs: np.ndarray, frame: int) -> int:
    """Row of the pair (frame, j) with the smallest |j - frame| (the later j on a tie)."""
    rows = np.flatnonzero(pairs[:, 0] == frame)
    if len(rows) == 0:
        raise ValueError(f"motion_depth_offsets: the flow set has no pair from frame {frame}")
    gaps = np.abs(pairs[rows, 1] - frame) * 2 - (pairs[rows, 1] > frame)
    return int(rows[np.argmin(gaps)])


def motion_depth_offsets(flow_set: PairSource, resolution: int, offset: float, scale: float,
                         stride: int = 2) -> np.ndarray:
    """Depth offsets of the ``surface`` model's depth planes from the motion in ``flow_set``.

    Args:
        flow_set: the video's flow set (its shortest-gap pair from each frame is read).
        resolution: cells per side of the depth planes.
        offset: depth given to pixels that move unlike the camera (they start at ``initial_depth - offset``).
        scale: residual motion, in pixels per frame, at which a pixel gets tanh(1) = 76 % of ``offset``.
        stride: the similarity is fitted on the trusted pixels of every ``stride``-th row and column.

    Returns:
        float32 [T, resolution, resolution]: the offset of each cell of each frame's plane (<= 0); a frame
        whose pair trusts fewer than 2 of the sampled pixels keeps a flat plane (0).
    """
    if offset < 0 or scale <= 0:
        raise ValueError(f"motion_depth_offsets: need offset >= 0 and scale > 0, got {offset} and {scale}")
    height, width = flow_set.size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([xs, ys], axis=-1)
    rows_index, columns_index = ys.astype(np.int64).ravel()[None], xs.astype(np.int64).ravel()[None]
    pairs = np.asarray(flow_set.pairs)
    planes = np.zeros((flow_set.num_frames, resolution, resolution), dtype=np.float32)
    for frame in range(flow_set.num_frames):
        row = shortest_gap_row(pairs, frame)
        gap = abs(int(pairs[row, 1]) - frame)
        flow = flow_set.read_flow(np.array([row]), rows_index, columns_index)
        flow = flow[0].reshape(height, width, 2).astype(np.float32)
        trusted = flow_set.read_masks(np.array([row]))[0]
        subsample = np.zeros_like(trusted)
        subsample[::stride, ::stride] = trusted[::stride, ::stride]
        if subsample.sum() < 2:
            continue
        a, b, tx, ty = fit_similarity(pixels[subsample], pixels[subsample] + flow[subsample])
        camera = np.stack([a * xs - b * ys + tx, b * xs + a * ys + ty], axis=-1) - pixels
        residual = np.linalg.norm(flow - camera, axis=-1) / gap
        residual = cv2.medianBlur(residual.astype(np.float32), 5)
        plane = -offset * np.tanh(residual / scale)
        planes[frame] = cv2.resize(plane, (resolution, resolution), interpolation=cv2.INTER_AREA)
    return planes
