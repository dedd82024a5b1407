"""The one resize rule of every stored frame (ingested videos, TAP-Vid and BADJA ground truth)."""

from __future__ import annotations

import cv2
import numpy as np


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``uint8 [H, W, 3]`` to ``size = (height, width)``: ``INTER_AREA`` when the pixel count
    shrinks (antialiased), ``INTER_LINEAR`` otherwise. The one resize rule of every stored frame."""
    height, width = size
    if frame.shape[:2] == (height, width):
        return frame
    shrinking = height * width < frame.shape[0] * frame.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)
