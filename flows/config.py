"""The root configuration of a pipeline run, parsed once here and passed down in pieces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from omnimotion_core.appearance import AppearanceCheckConfig
from omnimotion_core.flow import (
    ChainingConfig,
    ConsistencyConfig,
    FlowEngineConfig,
    PairSelectionConfig,
)
from omnimotion_core.metrics import FrameRule, QueryMode
from omnimotion_core.model import PRESETS, OmniMotionConfig
from storage.layout import default_data_root
from storage.video_store import IngestConfig


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
class FlowConfig:
    """How pairwise flow is computed and filtered.

    Attributes:
        engine: flow engine (DIS by default; RAFT needs ``engine.raft.weights``, a local checkpoint).
        pairs: which frame pairs (all ordered pairs for videos up to 64 frames, else a window plus
            long-range pairs).
        consistency: which correspondences are trusted (3 px forward-backward cycle check).
        chaining: whether consecutive flows are chained into long-gap correspondences (stored as a second
            flow set derived from the direct one; the fit uses the derived set).
        chunk_pairs: unordered pairs per task: the unit of parallelism and of resumption.
    """

    engine: FlowEngineConfig = FlowEngineConfig()
    pairs: PairSelectionConfig = PairSelectionConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()
    chaining: ChainingConfig = ChainingConfig()
    chunk_pairs: int = 16

    def __post_init__(self) -> None:
        if self.chunk_pairs < 1:
            raise ValueError(f"chunk_pairs must be >= 1, got {self.chunk_pairs}")


@dataclass(frozen=True)
class FitConfig:
    """How the OmniMotion model is fitted to one video.

    Attributes:
        preset: a name in ``omnimotion_core.model.PRESETS``: ``fast`` (CPU-sized volume model), ``paper`` (the
            reference settings, for GPUs), ``balanced`` (the reference model on a GPU budget) or ``surface``
            (one depth per pixel and grid-conditioned couplings; see ``SurfaceConfig``).
        num_steps: optimisation steps; None keeps the preset's.
        seed: seeds model initialisation and sampling; None keeps the preset's.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.
        cpu_threads: torch threads on CPU; None uses every core.
        checkpoint_every: steps between checkpoints (a killed fit resumes from the last one).
        log_every: steps between recorded loss values (the loss curve in MLflow).
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
    device: str = "auto"
    cpu_threads: int | None = None
    checkpoint_every: int = 200
    log_every: int = 25
    dask_resources: dict[str, float] | None = None
    flow_memory_budget_mib: int = 2048

    def __post_init__(self) -> None:
        if self.flow_memory_budget_mib < 0:
            raise ValueError(f"flow_memory_budget_mib must be >= 0, got {self.flow_memory_budget_mib}")
        if self.preset not in PRESETS:
            raise ValueError(f"unknown model preset {self.preset!r}; presets: {', '.join(sorted(PRESETS))}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"fit device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.num_steps is not None and self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be >= 1")

    def model_config(self, method: str = "omnimotion") -> OmniMotionConfig:
        """The preset with this fit's step count and seed applied, changed as ``method`` says (one of
        :data:`MODEL_METHODS`: the full model or an ablation of the OmniMotion paper)."""
        if method not in MODEL_METHODS:
            raise ValueError(f"unknown model method {method!r}; model methods: {', '.join(MODEL_METHODS)}")
        config = PRESETS[self.preset]
        if method != "omnimotion" and config.representation != "volume":
            raise ValueError(f"model method {method!r} is an ablation of the paper's volume model; preset "
                             f"{self.preset!r} uses the {config.representation!r} representation")
        trainer = config.trainer
        if self.num_steps is not None:
            trainer = replace(trainer, num_steps=self.num_steps)
        if self.seed is not None:
            trainer = replace(trainer, seed=self.seed)
        return MODEL_METHODS[method](replace(config, trainer=trainer))


def _uniform_sampling(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, sampling=replace(config.sampling, mode="uniform", hard_mining_every=0))


def _no_photometric(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, losses=replace(config.losses, photometric_max_weight=0.0))


def _no_invertible(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, bijection=replace(config.bijection, kind="mlp"))


MODEL_METHODS: dict[str, Callable[[OmniMotionConfig], OmniMotionConfig]] = {
    "omnimotion": lambda config: config,
    "omnimotion-uniform": _uniform_sampling,
    "omnimotion-no-photometric": _no_photometric,
    "omnimotion-no-invertible": _no_invertible,
}
"""Methods that fit the model: the full model and the paper's ablations, as edits of the preset."""


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs, with documented defaults.

    Attributes:
        data_root: folder holding every store of the run (see ``storage.layout``).
        evaluation: how predictions are made and scored; videos are ingested at its resolution.
        flow: pairwise optical flow settings.
        fit: model fitting settings.
        max_frames: keep at most this many frames of each video (None keeps all).
        tracking_uri: MLflow tracking URI; None means ``$MLFLOW_TRACKING_URI`` when set, else the SQLite
            store ``<data_root>/mlflow.db``.
        experiment: MLflow experiment name; None means the dataset's name.
        videos_in_flight: videos whose stages are submitted ahead of the one whose results are being
            collected: enough to keep the workers supplied, while the task graph and the futures a run
            holds stay bounded however many videos the dataset has.
    """

    data_root: Path = field(default_factory=default_data_root)
    evaluation: EvaluationConfig = EvaluationConfig()
    flow: FlowConfig = FlowConfig()
    fit: FitConfig = FitConfig()
    max_frames: int | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    videos_in_flight: int = 8

    def __post_init__(self) -> None:
        if self.videos_in_flight < 1:
            raise ValueError(f"videos_in_flight must be >= 1, got {self.videos_in_flight}")

    def ingest_config(self) -> IngestConfig:
        """The ingestion settings implied by this config (frames at the evaluation resolution)."""
        return IngestConfig(size=self.evaluation.resolution, max_frames=self.max_frames)

    def to_params(self) -> dict[str, object]:
        """Flat ``section.key -> value`` form, for logging and cache keys."""
        flat: dict[str, object] = {}

        def walk(prefix: str, value: object) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(f"{prefix}.{key}" if prefix else key, item)
            else:
                flat[prefix] = str(value) if isinstance(value, Path) else value

        walk("", asdict(self))
        return flat
