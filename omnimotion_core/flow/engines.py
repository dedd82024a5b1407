"""Dense optical flow between frames: OpenCV's DIS and Farneback, and RAFT (torch, batched).

Every engine maps frame i to frame j: ``flow[y, x] = (dx, dy)`` in pixels, so pixel (x, y) of frame i
lands on (x + dx, y + dy) in frame j. DIS and Farneback work on grayscale (BT.601 luma of the RGB
frame), one pair at a time; RAFT works on RGB, ``raft.batch_size`` pairs per model call.

:func:`build_flow_engine` turns a :class:`FlowEngineConfig` (plus the RAFT weights, which ``storage``
reads) into a :class:`FlowEngine` through the engine's entry in the method registry
(:mod:`omnimotion_core.registry`; the three engines here are registered at the end of this module).
``FlowEngine.compute`` takes batches of frame pairs. :func:`iter_pair_flows` feeds an engine the ordered
pairs of one video, batch by batch. :func:`compute_flow` is the single-pair path for engines without weights.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import cv2
import numpy as np
import torch

from omnimotion_core.flow.raft import (
    Raft,
    RaftVariant,
    build_raft,
    compute_raft_flow,
    load_raft_state_dict,
)
from omnimotion_core.registry import METHODS, FlowEngineMethod

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

    The default is ``medium``: against ``fast`` it halves the share of chained correspondences wrong by more
    than 4 px on the synthetic bench videos and lifts DIS-C from AJ 22.0 to 35.0 (seed 0) and the fit on its
    chained set from 20.3 to 30.1, for about 5x the CPU time per flow (7 ms against 1.5 ms at 256x256;
    benchmarks/RESULTS.md, "Session 6 levers").
    """

    preset: DisPreset = "medium"
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


@dataclass(frozen=True)
class RaftEngineConfig:
    """RAFT (Teed and Deng 2020) with torchvision's published weights; see :mod:`omnimotion_core.flow.raft`.

    The weights are read from ``weights`` by ``storage.raft_weights`` and handed to
    :func:`build_flow_engine`; nothing here opens the file.
    """

    variant: RaftVariant = "large"
    """``"large"`` (5.3 M parameters) or ``"small"`` (1.0 M); must match the checkpoint."""
    num_iterations: int = 20
    """Recurrent refinement steps per pair (OmniMotion's preprocessing uses 20)."""
    device: str = "cpu"
    """Torch device the model runs on, e.g. ``"cpu"``, ``"cuda"`` or ``"cuda:1"``."""
    batch_size: int = 4
    """Frame pairs per model call; memory use grows linearly with it."""
    weights: str | None = None
    """Path of a local torchvision RAFT checkpoint, e.g. ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``."""

    def __post_init__(self) -> None:
        if self.variant not in ("large", "small"):
            raise ValueError(f"RAFT variant must be 'large' or 'small', got {self.variant!r}")
        if self.num_iterations < 1:
            raise ValueError(f"RAFT num_iterations must be >= 1, got {self.num_iterations}")
        if self.batch_size < 1:
            raise ValueError(f"RAFT batch_size must be >= 1, got {self.batch_size}")
        try:
            torch.device(self.device)
        except RuntimeError as error:
            raise ValueError(
                f"RAFT device must be a torch device such as 'cpu' or 'cuda:0', got {self.device!r}"
            ) from error


@dataclass(frozen=True)
class FlowEngineConfig:
    """Which optical-flow engine to run and the settings of the built-in engines (only the chosen
    engine's are used)."""

    engine: str = "dis"
    """A flow engine of the method registry: ``"dis"`` (default: fast, good on textured frames),
    ``"farneback"`` (slower, smoother), ``"raft"`` (learned; needs weights, best on a GPU) or one that a
    plugin registered (see :mod:`omnimotion_core.registry`)."""
    dis: DisConfig = field(default_factory=DisConfig)
    farneback: FarnebackConfig = field(default_factory=FarnebackConfig)
    raft: RaftEngineConfig = field(default_factory=RaftEngineConfig)

    def __post_init__(self) -> None:
        METHODS.get(self.engine, FlowEngineMethod)

    @property
    def method(self) -> FlowEngineMethod:
        """The registry entry of :attr:`engine`."""
        return METHODS.get(self.engine, FlowEngineMethod)

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``"dis-fast"``, ``"farneback"`` or ``"raft-large"``."""
        return self.method.label(self)


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
    """DIS flow, reusing one DIS object per config, frame size and thread (saves its buffer set-up, about 20 %).

    A DIS object's first ``calc`` at a frame size can differ from every later one at that size (OpenCV 5.1: by
    0.6 px at 40x40, not at 256x256), whatever the later frames are; so a new object first computes the pair
    once and throws it away, and a pair's flow never depends on what the thread computed before it."""
    cache = getattr(_thread_state, "dis", None)
    if cache is None:
        cache = _thread_state.dis = {}
    gray_i, gray_j = _to_gray(frame_i), _to_gray(frame_j)
    key = (config, gray_i.shape)
    if key not in cache:
        cache[key] = _make_dis(config)
        cache[key].calc(gray_i, gray_j, None)
    return cache[key].calc(gray_i, gray_j, None)


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


def _check_batch(frames: np.ndarray, name: str) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise ValueError(f"{name} must be a uint8 [B, H, W, 3] RGB array, got {got}")


class FlowEngine(ABC):
    """A flow engine ready to run: the small interface every engine implements.

    ``compute`` checks its input and calls :meth:`_compute`, which an engine implements for a non-empty
    batch of checked frames; :attr:`batch_size` says how many pairs it takes per call. Build an engine with
    :func:`build_flow_engine`, which finds the engine of the config's name in the method registry.
    """

    def __init__(self, config: FlowEngineConfig) -> None:
        """
        Args:
            config: the engine's name and settings.
        """
        self.config: FlowEngineConfig = config

    @property
    def name(self) -> str:
        """The engine's name in the method registry, e.g. ``"dis"``."""
        return self.config.engine

    @property
    def batch_size(self) -> int:
        """Pairs per call of :meth:`_compute` (1: one pair at a time)."""
        return 1

    @abstractmethod
    def _compute(self, frames_i: np.ndarray, frames_j: np.ndarray, named: list[tuple[int, int]] | None) -> np.ndarray:
        """Flow of a checked batch: uint8 [B, H, W, 3] twice (B >= 1) -> float32 [B, H, W, 2]; ``named`` holds
        the (i, j) frame indices of the batch items when known, to name them in errors."""

    def compute(self, frames_i: np.ndarray, frames_j: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
        """Dense flow from each frame of ``frames_i`` to the frame of ``frames_j`` at the same batch index.

        Args:
            frames_i: uint8 [B, H, W, 3] RGB source frames.
            frames_j: uint8 [B, H, W, 3] RGB target frames.
            pairs: optional int [B, 2] (i, j) frame indices, only used to name pairs in error messages.

        Returns:
            float32 [B, H, W, 2], (dx, dy) pixels: pixel (x, y) of frames_i[b] lands on (x + dx, y + dy) in
            frames_j[b]. B = 0 gives an empty array.

        Raises:
            ValueError: frames are not uint8 [B, H, W, 3] or differ in shape, ``pairs`` is not [B, 2], or
                the engine returned NaN or infinite flow (naming the pair, or batch item without pairs).
        """
        _check_batch(frames_i, "frames_i")
        _check_batch(frames_j, "frames_j")
        if frames_i.shape != frames_j.shape:
            raise ValueError(
                f"frames_i and frames_j must have the same shape, got {frames_i.shape} and {frames_j.shape}"
            )
        batch, height, width = frames_i.shape[:3]
        named: list[tuple[int, int]] | None = None
        if pairs is not None:
            pairs = np.asarray(pairs)
            if pairs.shape != (batch, 2):
                raise ValueError(f"pairs must be [B={batch}, 2] (i, j) frame indices, got shape {pairs.shape}")
            named = [(int(i), int(j)) for i, j in pairs]
        if batch == 0:
            return np.empty((0, height, width, 2), dtype=np.float32)
        return self._compute(frames_i, frames_j, named)


class OpenCvFlowEngine(FlowEngine):
    """An OpenCV engine (DIS or Farneback): grayscale frames, one pair at a time."""

    def __init__(self, config: FlowEngineConfig, run: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        """
        Args:
            config: the engine's name and settings.
            run: ``run(frame_i, frame_j)`` -> the flow of one pair of uint8 [H, W, 3] RGB frames.
        """
        super().__init__(config)
        self._run = run

    def _compute(self, frames_i: np.ndarray, frames_j: np.ndarray, named: list[tuple[int, int]] | None) -> np.ndarray:
        flows = []
        for b in range(len(frames_i)):
            where = "" if named is None else f" for pair {named[b]}"
            flow = np.asarray(self._run(frames_i[b], frames_j[b]), dtype=np.float32)
            if not np.isfinite(flow).all():
                bad = int(np.count_nonzero(~np.isfinite(flow[..., 0]) | ~np.isfinite(flow[..., 1])))
                raise ValueError(
                    f"flow engine {self.config.label!r} returned NaN or infinite flow at {bad} pixels{where} "
                    f"(frames of size {frames_i.shape[2]}x{frames_i.shape[1]})"
                )
            flows.append(flow)
        return np.stack(flows)


def build_dis_engine(config: FlowEngineConfig, weights: Mapping[str, torch.Tensor] | None) -> OpenCvFlowEngine:
    """The DIS engine of ``config.dis`` (it takes no weights)."""
    _refuse_weights(config, weights)
    return OpenCvFlowEngine(config, functools.partial(_run_dis, config=config.dis))


def build_farneback_engine(config: FlowEngineConfig, weights: Mapping[str, torch.Tensor] | None) -> OpenCvFlowEngine:
    """The Farneback engine of ``config.farneback`` (it takes no weights)."""
    _refuse_weights(config, weights)
    return OpenCvFlowEngine(config, functools.partial(_run_farneback, config=config.farneback))


def _refuse_weights(config: FlowEngineConfig, weights: Mapping[str, torch.Tensor] | None) -> None:
    if weights is not None:
        raise ValueError(f"flow engine {config.engine!r} takes no RAFT weights; set engine 'raft' to use them")


_RAFT_WEIGHTS_HINT = (
    "RAFT needs weights: set flow engine raft.weights to a local torchvision RAFT checkpoint "
    "(e.g. raft_large_C_T_SKHT_V2-ff5fadd5.pth)"
)


class RaftFlowEngine(FlowEngine):
    """RAFT on ``config.raft.device``, ``config.raft.batch_size`` pairs per model call."""

    def __init__(self, config: FlowEngineConfig, raft_model: Raft | None) -> None:
        """
        Args:
            config: the engine's name and settings (``config.raft``).
            raft_model: a model of ``config.raft.variant`` in eval mode with its weights loaded, on
                ``config.raft.device``.
        """
        if raft_model is None:
            raise ValueError(_RAFT_WEIGHTS_HINT)
        if raft_model.variant != config.raft.variant or raft_model.training:
            mode = "training" if raft_model.training else "eval"
            raise ValueError(
                f"RAFT engine needs a raft_{config.raft.variant} model in eval mode, "
                f"got raft_{raft_model.variant} in {mode} mode"
            )
        super().__init__(config)
        self._raft_model = raft_model

    @property
    def batch_size(self) -> int:
        """Pairs per model call: ``raft.batch_size``."""
        return self.config.raft.batch_size

    def _compute(self, frames_i: np.ndarray, frames_j: np.ndarray, named: list[tuple[int, int]] | None) -> np.ndarray:
        starts = range(0, len(frames_i), self.batch_size)
        return np.concatenate([self._run_raft(frames_i, frames_j, start, named) for start in starts])

    def _run_raft(
        self, frames_i: np.ndarray, frames_j: np.ndarray, start: int, named: list[tuple[int, int]] | None
    ) -> np.ndarray:
        """RAFT flow of batch items [start, start + batch_size): float32 [b, H, W, 2]."""
        stop = min(start + self.batch_size, len(frames_i))
        chunk_i, chunk_j = frames_i[start:stop], frames_j[start:stop]
        iterations = self.config.raft.num_iterations
        if named is not None:
            return compute_raft_flow(self._raft_model, chunk_i, chunk_j, iterations, pairs=named[start:stop])
        try:
            return compute_raft_flow(self._raft_model, chunk_i, chunk_j, iterations)
        except ValueError as error:
            raise ValueError(
                f"{error} (RAFT batch of items {start}..{stop - 1} of {len(frames_i)}; pass pairs to name them)"
            ) from error


def build_raft_engine(config: FlowEngineConfig, weights: Mapping[str, torch.Tensor] | None) -> RaftFlowEngine:
    """The RAFT engine of ``config.raft`` with ``weights`` loaded (torchvision's state-dict format, read by
    ``storage.raft_weights`` from ``config.raft.weights``), on ``config.raft.device``.

    Raises:
        ValueError: no weights, weights of the other variant or not RAFT's, or a CUDA device without CUDA.
    """
    if weights is None:
        raise ValueError(_RAFT_WEIGHTS_HINT)
    device = torch.device(config.raft.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"flow engine raft.device is {config.raft.device!r} but torch sees no CUDA device; set it to 'cpu'"
        )
    model = build_raft(config.raft.variant)
    try:
        load_raft_state_dict(model, weights)
    except ValueError as error:
        source = config.raft.weights if config.raft.weights is not None else "the given state dict"
        raise ValueError(
            f"RAFT weights ({source}) do not load into raft_{config.raft.variant} (flow engine raft.variant): {error}"
        ) from error
    return RaftFlowEngine(config, model.to(device))


def build_flow_engine(config: FlowEngineConfig, weights: Mapping[str, torch.Tensor] | None = None) -> FlowEngine:
    """The engine ``config.engine`` names in the method registry, built with ``config`` and ``weights``.

    Args:
        config: engine and its settings.
        weights: the engine's state dict (RAFT: torchvision's weights, which
            ``storage.raft_weights.read_raft_weights`` reads from ``config.raft.weights``); required by an
            engine that needs weights, refused by one that takes none.
    """
    return config.method.build(config, weights)


def compute_flow(
    frame_i: np.ndarray,
    frame_j: np.ndarray,
    config: FlowEngineConfig,
    *,
    pair: tuple[int, int] | None = None,
) -> np.ndarray:
    """Dense optical flow of one pair with an engine that needs no weights (DIS, Farneback).

    Args:
        frame_i: uint8 [H, W, 3] RGB, the source frame.
        frame_j: uint8 [H, W, 3] RGB, the target frame (same size).
        config: engine and its settings.
        pair: (i, j) frame indices, only used to name the pair in error messages.

    Returns:
        float32 [H, W, 2], (dx, dy) in pixels: pixel (x, y) of frame i lands on (x + dx, y + dy) in frame j.

    Raises:
        ValueError: a frame is not uint8 [H, W, 3], the frames differ in size, the engine needs weights
            (build it with :func:`build_flow_engine`), or the engine returned NaN or infinite values.
    """
    where = f" for pair {pair}" if pair is not None else ""
    _check_frame(frame_i, f"frame_i{where}")
    _check_frame(frame_j, f"frame_j{where}")
    if frame_i.shape != frame_j.shape:
        raise ValueError(f"frames must have the same size{where}, got {frame_i.shape} and {frame_j.shape}")
    pairs = None if pair is None else np.array([pair])
    return build_flow_engine(config).compute(frame_i[None], frame_j[None], pairs)[0]


class PairFlows(NamedTuple):
    """One batch of :func:`iter_pair_flows`."""

    rows: slice
    """Rows of ``pairs`` this batch covers."""
    frames_i: np.ndarray
    """uint8 [B, H, W, 3] source frames of those pairs."""
    frames_j: np.ndarray
    """uint8 [B, H, W, 3] target frames."""
    flow: np.ndarray
    """float32 [B, H, W, 2] (dx, dy) pixels from frames_i[b] to frames_j[b]."""


def iter_pair_flows(engine: FlowEngine, frames: np.ndarray, pairs: np.ndarray) -> Iterator[PairFlows]:
    """Flows of ordered pairs of one video, a batch of consecutive rows at a time.

    Each batch holds lcm(2, engine.batch_size) rows (fewer at the end): a whole number of model calls,
    and an even number, so a pair listed next to its reverse (as ``pairs.with_reverse_pairs`` lists them)
    stays in its batch. Each frame is read once per batch.

    Args:
        engine: the flow engine.
        frames: uint8 [T, H, W, 3] RGB (anything indexable by frame, e.g. a zarr array).
        pairs: int [P, 2] ordered (i, j) frame indices in [0, T).

    Yields:
        :class:`PairFlows` for rows 0.., in order.

    Raises:
        TypeError: ``engine`` is not a :class:`FlowEngine` (e.g. a bare :class:`FlowEngineConfig`).
        ValueError: ``pairs`` is not [P, 2], or as :meth:`FlowEngine.compute`.
    """
    if not isinstance(engine, FlowEngine):
        raise TypeError(
            f"engine must be a FlowEngine (build it with build_flow_engine(config)), got {type(engine).__name__}"
        )
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [P, 2] (i, j) frame indices, got shape {pairs.shape}")
    step = math.lcm(2, engine.batch_size)
    for start in range(0, len(pairs), step):
        rows = slice(start, min(start + step, len(pairs)))
        batch = pairs[rows]
        loaded = {int(t): np.asarray(frames[int(t)]) for t in np.unique(batch)}
        frames_i = np.stack([loaded[int(i)] for i in batch[:, 0]])
        frames_j = np.stack([loaded[int(j)] for j in batch[:, 1]])
        yield PairFlows(rows, frames_i, frames_j, engine.compute(frames_i, frames_j, batch))


for _method in (
    FlowEngineMethod(
        name="dis", title="DIS",
        description="OpenCV DIS (dense inverse search) on grayscale frames: fast, good on textured frames",
        options=("--dis-preset",), build=build_dis_engine, label=lambda config: f"dis-{config.dis.preset}",
        params=lambda config: dataclasses.asdict(config.dis),
    ),
    FlowEngineMethod(
        name="farneback", title="Farneback",
        description="OpenCV Farneback polynomial expansion on grayscale frames: slower, smoother",
        build=build_farneback_engine, label=lambda config: "farneback",
        params=lambda config: dataclasses.asdict(config.farneback),
    ),
    FlowEngineMethod(
        name="raft", title="RAFT",
        description="RAFT (torchvision's published weights, from a local checkpoint): learned, best on a GPU",
        options=("--raft-weights", "--raft-variant", "--device"), build=build_raft_engine,
        label=lambda config: f"raft-{config.raft.variant}",
        params=lambda config: {"variant": config.raft.variant, "num_iterations": config.raft.num_iterations},
        weights_file=lambda config: config.raft.weights, weights_option="--raft-weights",
    ),
):
    METHODS.register(_method)
