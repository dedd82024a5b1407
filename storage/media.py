"""Image, video and plot files written for people to look at (MLflow artifacts, run folders).

Each file is written through :func:`storage.publish.atomic_file`, so a reader never sees half a file.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from storage.publish import atomic_file

_PLOT_LOCK = threading.Lock()
"""Matplotlib's state (and its mathtext parser) is not thread-safe: plots are drawn one at a time."""


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write ``uint8 [H, W, 3]`` RGB as a PNG file."""
    path = Path(path)
    with atomic_file(path) as temporary:
        if not cv2.imwrite(str(temporary), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: OpenCV could not write the PNG")
    return path


def write_mp4(path: Path, frames: np.ndarray, fps: float = 10.0) -> Path:
    """Write ``uint8 [T, H, W, 3]`` RGB frames as an MPEG-4 (mp4v) video."""
    path = Path(path)
    height, width = frames.shape[1:3]
    with atomic_file(path) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        try:
            if not writer.isOpened():
                raise OSError(f"{path}: OpenCV has no mp4v encoder here")
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return path


def write_loss_curve(path: Path, history: Sequence[Sequence[float]], terms: Sequence[str]) -> Path:
    """Plot loss terms against steps (log scale) as a PNG; ``history`` rows are ``[step, *terms]``."""
    with _PLOT_LOCK:
        return _plot_loss_curve(Path(path), np.asarray(history, dtype=np.float64), terms)


def _plot_loss_curve(path: Path, rows: np.ndarray, terms: Sequence[str]) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter

    figure = Figure(figsize=(6, 3.5), dpi=100)
    axes = figure.add_subplot()
    for column, term in enumerate(terms, start=1):
        values = rows[:, column]
        if np.any(values > 0):
            axes.plot(rows[:, 0], np.maximum(values, 1e-8), label=term)
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(LogFormatter())
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.legend(fontsize=7)
    figure.tight_layout()
    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png")
    return path
