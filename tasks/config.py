"""The settings of the evaluation and model-fitting stages (the tasks they configure live beside them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np

from omnimotion_core.appearance import AppearanceCheckConfig
from omnimotion_core.methods import METHODS, ModelMethod
from omnimotion_core.metrics import FrameRule, QueryMode
from omnimotion_core.model import PRESETS, OmniMotionConfig
from omnimotion_core.model.progress import ProgressConfig

FitDevice = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class EvaluationConfig:
    """How TAP-Vid predictions are made and scored.

    Attributes:
        query_mode: ``first`` (query each point at its first visible frame; the DAVIS/Kinetics protocol
            of the OmniMotion paper's table) or ``strided`` (queries every 5 frames).
        frame_rule: ``tapvid`` scores as the official evaluator does (in ``first`` mode only frames after
            the query); ``all_but_query`` scores every frame but the query frame, as the OmniMotion paper did.
        resolution: ``(height, width)`` at which videos are processed and scored (256x256 in TAP-Vid).
        appearance_check: the patch test that every method's predicted tracks pass through before they
            are stored (:mod:`omnimotion_core.appearance`): a point whose surroundings no longer look like
            its query patch is marked occluded.
    """

    query_mode: QueryMode = "first"
    frame_rule: FrameRule = "tapvid"
    resolution: tuple[int, int] = (256, 256)
    appearance_check: AppearanceCheckConfig = AppearanceCheckConfig()

    def prediction_params(self) -> dict[str, object]:
        """What in these settings names a set of predictions (the frame rule only changes the scores)."""
        params: dict[str, object] = {"query_mode": self.query_mode, "resolution": list(self.resolution)}
        if self.appearance_check.enabled:
            check = self.appearance_check
            params["appearance_check"] = {"radius": check.radius, "threshold": check.threshold}
        return params


@dataclass(frozen=True)
class FitConfig:
    """How a model method is fitted to one video.

    Attributes:
        preset: a name in ``omnimotion_core.model.PRESETS``: ``fast`` (the CPU-sized surface model: one depth
            per pixel and grid-conditioned couplings, see ``SurfaceConfig``), or the paper's volume model:
            ``fast-volume`` (CPU-sized), ``paper`` (the reference settings, for GPUs) or ``balanced`` (the
            reference model on a GPU budget). The paper's ablation methods need a volume preset,
            ``omnimotion-no-matches`` a surface one.
        num_steps: optimisation steps; None keeps the preset's.
        seed: seeds model initialisation and sampling; None keeps the preset's.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.
        cpu_threads: torch threads on CPU; None uses every core.
        checkpoint_every: steps between checkpoints (a killed fit resumes from the last one).
        log_every: steps between recorded loss values (the loss curve in MLflow).
        progress: how often the fit logs its step, rate, time left and loss (default: every 5 % of the
            steps, and at least every 30 s).
        progress_bar: also draw a tqdm bar on stderr (the command line turns it on when stderr is a
            terminal).
        dask_resources: Dask resources a fit task asks for, e.g. ``{"GPU": 1}`` so that a cluster routes
            fits to workers started with ``--resources GPU=1``; None asks for none (a local cluster has
            no resources, so a fit asking for one would never start there).
        flow_memory_budget_mib: most memory (MiB) the flow set may take during a fit. A set that fits (flow
            float16, e.g. 64 frames x all pairs at 256x256 = 1.2 GiB) is loaded whole; a larger one (96
            frames x all pairs at 256x256 = 2.8 GiB) is streamed from zarr pair by pair, caching at most a
            quarter of the budget. Same batches either way; 0 always streams.
    """

    preset: str = "fast"
    num_steps: int | None = None
    seed: int | None = None
    device: FitDevice = "auto"
    cpu_threads: int | None = None
    checkpoint_every: int = 200
    log_every: int = 25
    progress: ProgressConfig = ProgressConfig()
    progress_bar: bool = False
    dask_resources: dict[str, float] | None = None
    flow_memory_budget_mib: int = 2048

    def __post_init__(self) -> None:
        if self.flow_memory_budget_mib < 0:
            raise ValueError(f"flow_memory_budget_mib must be >= 0, got {self.flow_memory_budget_mib}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; presets: {', '.join(sorted(PRESETS))}")
        if self.device not in get_args(FitDevice):
            raise ValueError(f"fit device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.num_steps is not None and self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be >= 1")

    def model_config(self, method: str = "omnimotion") -> OmniMotionConfig:
        """The preset with this fit's step count and seed applied, changed as the model method ``method``
        (a :class:`~omnimotion_core.registry.ModelMethod` of the registry) says."""
        model_method = METHODS.get(method, ModelMethod)
        config = PRESETS[self.preset]
        wanted = model_method.representations
        if wanted is not None and config.representation not in wanted:
            fitting = ", ".join(name for name, preset in PRESETS.items() if preset.representation in wanted)
            raise ValueError(f"model method {method!r} ({model_method.description}) needs the "
                             f"{' or '.join(wanted)} representation; preset {self.preset!r} "
                             f"uses the {config.representation!r} representation (presets that fit: {fitting})")
        trainer = config.trainer
        if self.num_steps is not None:
            trainer = replace(trainer, num_steps=self.num_steps)
        if self.seed is not None:
            trainer = replace(trainer, seed=self.seed)
        return model_method.configure(replace(config, trainer=trainer))


@dataclass(frozen=True)
class DenseExportConfig:
    """Which pixels ``process`` and ``fit`` track through every frame after a fit (stored in the fit's
    ``dense/`` group, drawn in its overlay video).

    Attributes:
        query_frame: the frame whose pixels are tracked (default 0, the first).
        stride: every ``stride``-th pixel of every ``stride``-th row, from the top-left pixel (default 4: a
            32x32 grid on a 128x128 frame, one pixel in 16); 1 tracks every pixel of the frame (H x W tracks).
    """

    query_frame: int = 0
    stride: int = 4

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"dense stride must be >= 1, got {self.stride}")
        if self.query_frame < 0:
            raise ValueError(f"dense query frame must be >= 0, got {self.query_frame}")

    def grid_shape(self, size: tuple[int, int]) -> tuple[int, int]:
        """(rows, columns) of the grid on a frame of ``size`` (H, W)."""
        return math.ceil(size[0] / self.stride), math.ceil(size[1] / self.stride)

    def query_points(self, size: tuple[int, int]) -> np.ndarray:
        """float32 [N, 3] (t, y, x) pixels: the grid on a frame of ``size`` (H, W), row by row."""
        ys, xs = np.meshgrid(np.arange(0, size[0], self.stride), np.arange(0, size[1], self.stride), indexing="ij")
        return np.stack([np.full(ys.size, self.query_frame), ys.ravel(), xs.ravel()], axis=1).astype(np.float32)

    def describe(self, size: tuple[int, int]) -> str:
        """E.g. ``1024 tracks of frame 0: every 4th pixel of every 4th row (32x32 of its 128x128 pixels)``."""
        rows, columns = self.grid_shape(size)
        if self.stride == 1:
            return f"{rows * columns} tracks of frame {self.query_frame}: every pixel ({rows}x{columns})"
        return (f"{rows * columns} tracks of frame {self.query_frame}: every {self.stride}th pixel of every "
                f"{self.stride}th row ({rows}x{columns} of its {size[0]}x{size[1]} pixels)")
