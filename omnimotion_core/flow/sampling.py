"""Bilinear sampling of per-pixel fields (flow, masks) at sub-pixel positions.

Pixel centres sit at integer coordinates: x in [0, W - 1], y in [0, H - 1]. Positions outside the frame
take the value of the nearest border pixel.
"""

from __future__ import annotations

import cv2
import numpy as np


def sample_points(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Exact bilinear sample of ``field`` at points (unquantised weights, unlike ``cv2.remap``'s 1/32 px steps),
    computed in float32.

    Args:
        field: float [H, W, C] values on the pixel grid.
        x: float [N] column positions in pixels.
        y: float [N] row positions in pixels.

    Returns:
        float32 [N, C], the interpolated values (border-clamped outside the frame).
    """
    if field.ndim != 3:
        raise ValueError(f"field must be [H, W, C], got shape {field.shape}")
    height, width, channels = field.shape
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, width - 1)
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, height - 1)
    x0 = np.minimum(x.astype(np.int64), max(width - 2, 0))  # floor: x >= 0
    y0 = np.minimum(y.astype(np.int64), max(height - 2, 0))
    wx = (x - x0).astype(np.float32)[:, None]
    wy = (y - y0).astype(np.float32)[:, None]
    values = np.asarray(field, dtype=np.float32).reshape(-1, channels)
    index = y0 * width + x0
    right, down = min(width - 1, 1), width * min(height - 1, 1)
    top = np.take(values, index, axis=0) * (1.0 - wx) + np.take(values, index + right, axis=0) * wx
    bottom = np.take(values, index + down, axis=0) * (1.0 - wx) + np.take(values, index + down + right, axis=0) * wx
    return top * (1.0 - wy) + bottom * wy


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 [H, W] x and y coordinates of every pixel centre."""
    return np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))


def sample_at_flow(field_j: np.ndarray, flow_ij: np.ndarray) -> np.ndarray:
    """Sample a field of frame j where each pixel of frame i lands (bilinear, ``cv2.remap``).

    Args:
        field_j: float32 [H, W, C] values on the pixel grid of frame j.
        flow_ij: float32 [H, W, 2] (dx, dy) pixels from frame i to frame j.

    Returns:
        float32 [H, W, C], ``field_j`` at (x + dx, y + dy) for each pixel (x, y) of frame i. OpenCV
        quantises the sub-pixel weights to 1/32 pixel.
    """
    height, width = flow_ij.shape[:2]
    grid_x, grid_y = pixel_grid(height, width)
    map_x = grid_x + flow_ij[..., 0]
    map_y = grid_y + flow_ij[..., 1]
    sampled = cv2.remap(
        np.ascontiguousarray(field_j, dtype=np.float32),
        map_x,
        map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return sampled.reshape(height, width, -1)
