"""Dense optical flow between two frames with OpenCV (DIS or Farneback).

Every engine maps frame i to frame j: ``flow[y, x] = (dx, dy)`` in pixels, so pixel (x, y) of frame i
lands on (x + dx, y + dy) in frame j. Both engines work on grayscale (BT.601 luma of the RGB frame).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

DisPreset = Literal["ultrafast", "fast", "medium"]

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class DisConfig:
    """OpenCV DIS (dense inverse search) flow. Every ``None`` keeps the preset's value.

    Preset values in OpenCV 5.0 (finest scale, patch size, stride, descent iterations, variational
    refinement iterations): ultrafast (2, 8, 4, 12, 0), fast (2, 8, 4, 16, 5), medium (1, 8, 3, 25, 5);
    all presets use alpha 20, delta 5, gamma 10, mean normalisation and spatial propagation.
    """

    preset: DisPreset = "fast"
    finest_scale: int | None = None
    """Finest pyramid level the search stops at (0 = full resolution)."""
    patch_size: int | None = None
    """Side of the square patches in pixels."""
    patch_stride: int | None = None
    """Distance between neighbouring patches in pixels."""
    gradient_descent_iterations: int | None = None
    """Gradient-descent iterations per patch."""
    variational_refinement_iterations: int | None = None
    """Variational refinement iterations per scale (0 switches refinement off)."""
    variational_refinement_alpha: float | None = None
    """Weight of the smoothness term of the refinement."""
    variational_refinement_delta: float | None = None
    """Weight of the colour-constancy term of the refinement."""
    variational_refinement_gamma: float | None = None
    """Weight of the gradient-constancy term of the refinement."""
    use_mean_normalization: bool | None = None
    """Normalise patch means (robust to brightness changes)."""
    use_spatial_propagation: bool | None = None
    """Propagate good patch matches to their neighbours."""

    def __post_init__(self) -> None:
        if self.preset not in _DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {sorted(_DIS_PRESETS)}, got {self.preset!r}")


@dataclass(frozen=True)
class FarnebackConfig:
    """OpenCV Farneback polynomial-expansion flow (``cv2.calcOpticalFlowFarneback``).

    Defaults are OpenCV's sample values, with 5 pyramid levels (instead of 3) so that a 256 px frame
    still reaches motions of a few tens of pixels.
    """

    pyr_scale: float = 0.5
    """Scale between pyramid levels (< 1)."""
    levels: int = 5
    """Number of pyramid levels, including the full-resolution one."""
    winsize: int = 15
    """Averaging window in pixels; larger is more robust to noise, blurrier at motion boundaries."""
    iterations: int = 3
    """Iterations per pyramid level."""
    poly_n: int = 5
    """Neighbourhood in pixels of the per-pixel polynomial fit (5 or 7)."""
    poly_sigma: float = 1.2
    """Gaussian sigma of the polynomial fit (1.1 for poly_n 5, 1.5 for poly_n 7 are OpenCV's advice)."""
    gaussian_window: bool = False
    """Use a Gaussian instead of a box averaging window (OPTFLOW_FARNEBACK_GAUSSIAN)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.pyr_scale < 1.0:
            raise ValueError(f"Farneback pyr_scale must be in (0, 1), got {self.pyr_scale}")
        if self.levels < 1 or self.winsize < 1 or self.iterations < 1:
            raise ValueError(
                f"Farneback levels, winsize and iterations must be >= 1, got "
                f"{self.levels}, {self.winsize}, {self.iterations}"
            )


EngineName = Literal["dis", "farneback"]


@dataclass(frozen=True)
class FlowEngineConfig:
    """Which optical-flow engine to run and its parameters (only the chosen engine's are used)."""

    engine: EngineName = "dis"
    """``"dis"`` (default: fast, good on textured frames) or ``"farneback"`` (slower, smoother)."""
    dis: DisConfig = field(default_factory=DisConfig)
    farneback: FarnebackConfig = field(default_factory=FarnebackConfig)

    def __post_init__(self) -> None:
        if self.engine not in ("dis", "farneback"):
            raise ValueError(f"flow engine must be 'dis' or 'farneback', got {self.engine!r}")

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``"dis-fast"`` or ``"farneback"`` (for tables: "DIS-C")."""
        if self.engine == "dis":
            return f"dis-{self.dis.preset}"
        elif self.engine == "farneback":
            return "farneback"
        else:
            raise ValueError(f"unknown flow engine {self.engine!r}")


def _make_dis(config: DisConfig) -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[config.preset])
    setters = {
        "finest_scale": dis.setFinestScale,
        "patch_size": dis.setPatchSize,
        "patch_stride": dis.setPatchStride,
        "gradient_descent_iterations": dis.setGradientDescentIterations,
        "variational_refinement_iterations": dis.setVariationalRefinementIterations,
        "variational_refinement_alpha": dis.setVariationalRefinementAlpha,
        "variational_refinement_delta": dis.setVariationalRefinementDelta,
        "variational_refinement_gamma": dis.setVariationalRefinementGamma,
        "use_mean_normalization": dis.setUseMeanNormalization,
        "use_spatial_propagation": dis.setUseSpatialPropagation,
    }
    for name, setter in setters.items():
        value = getattr(config, name)
        if value is not None:
            setter(value)
    return dis


_thread_state = threading.local()


def _to_gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _run_dis(frame_i: np.ndarray, frame_j: np.ndarray, config: DisConfig) -> np.ndarray:
    """DIS flow, reusing one DIS object per config and thread (saves its buffer set-up, about 20 %)."""
    cache = getattr(_thread_state, "dis", None)
    if cache is None:
        cache = _thread_state.dis = {}
    if config not in cache:
        cache[config] = _make_dis(config)
    return cache[config].calc(_to_gray(frame_i), _to_gray(frame_j), None)


def _run_farneback(frame_i: np.ndarray, frame_j: np.ndarray, config: FarnebackConfig) -> np.ndarray:
    flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if config.gaussian_window else 0
    return cv2.calcOpticalFlowFarneback(
        _to_gray(frame_i),
        _to_gray(frame_j),
        None,
        config.pyr_scale,
        config.levels,
        config.winsize,
        config.iterations,
        config.poly_n,
        config.poly_sigma,
        flags,
    )


def _check_frame(frame: np.ndarray, name: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"{name} must be a uint8 [H, W, 3] RGB array, got {got}")


def compute_flow(
    frame_i: np.ndarray,
    frame_j: np.ndarray,
    config: FlowEngineConfig,
    *,
    pair: tuple[int, int] | None = None,
) -> np.ndarray:
    """Dense optical flow from ``frame_i`` to ``frame_j``.

    Args:
        frame_i: uint8 [H, W, 3] RGB, the source frame.
        frame_j: uint8 [H, W, 3] RGB, the target frame (same size).
        config: engine and its parameters.
        pair: (i, j) frame indices, only used to name the pair in error messages.

    Returns:
        float32 [H, W, 2], (dx, dy) in pixels: pixel (x, y) of frame i lands on (x + dx, y + dy) in frame j.

    Raises:
        ValueError: a frame is not uint8 [H, W, 3], the frames differ in size, or the engine returned
            NaN or infinite values.
    """
    where = f" for pair {pair}" if pair is not None else ""
    _check_frame(frame_i, f"frame_i{where}")
    _check_frame(frame_j, f"frame_j{where}")
    if frame_i.shape != frame_j.shape:
        raise ValueError(f"frames must have the same size{where}, got {frame_i.shape} and {frame_j.shape}")
    if config.engine == "dis":
        flow = _run_dis(frame_i, frame_j, config.dis)
    elif config.engine == "farneback":
        flow = _run_farneback(frame_i, frame_j, config.farneback)
    else:
        raise ValueError(f"unknown flow engine {config.engine!r}; expected 'dis' or 'farneback'")
    flow = np.asarray(flow, dtype=np.float32)
    expected = (*frame_i.shape[:2], 2)
    if flow.shape != expected:
        raise ValueError(f"flow engine {config.engine!r} returned shape {flow.shape}{where}, expected {expected}")
    if not np.isfinite(flow).all():
        bad = int(np.count_nonzero(~np.isfinite(flow[..., 0]) | ~np.isfinite(flow[..., 1])))
        raise ValueError(
            f"flow engine {config.label!r} returned NaN or infinite flow at {bad} pixels{where} "
            f"(frames of size {frame_i.shape[1]}x{frame_i.shape[0]})"
        )
    return flow
