"""The root configuration of a pipeline run, parsed once here and passed down in pieces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnimotion_core.flow import ConsistencyConfig, FlowEngineConfig, PairSelectionConfig
from omnimotion_core.metrics import FrameRule, QueryMode
from storage.layout import default_data_root
from storage.video_store import IngestConfig


@dataclass(frozen=True)
class EvaluationConfig:
    """How TAP-Vid predictions are scored.

    Attributes:
        query_mode: ``first`` (query each point at its first visible frame; the DAVIS/Kinetics protocol
            of the OmniMotion paper's table) or ``strided`` (queries every 5 frames).
        frame_rule: ``tapvid`` scores as the official evaluator does (in ``first`` mode only frames after
            the query); ``all_but_query`` scores every frame but the query frame, as the OmniMotion paper did.
        resolution: ``(height, width)`` at which videos are processed and scored (256x256 in TAP-Vid).
    """

    query_mode: QueryMode = "first"
    frame_rule: FrameRule = "tapvid"
    resolution: tuple[int, int] = (256, 256)


@dataclass(frozen=True)
class FlowConfig:
    """How pairwise flow is computed and filtered.

    Attributes:
        engine: flow engine (DIS by default; RAFT needs ``engine.raft.weights``, a local checkpoint).
        pairs: which frame pairs (all ordered pairs for videos up to 64 frames, else a window plus
            long-range pairs).
        consistency: which correspondences are trusted (3 px forward-backward cycle check).
        chunk_pairs: unordered pairs per task: the unit of parallelism and of resumption.
    """

    engine: FlowEngineConfig = FlowEngineConfig()
    pairs: PairSelectionConfig = PairSelectionConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()
    chunk_pairs: int = 16

    def __post_init__(self) -> None:
        if self.chunk_pairs < 1:
            raise ValueError(f"chunk_pairs must be >= 1, got {self.chunk_pairs}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs, with documented defaults.

    Attributes:
        data_root: folder holding every store of the run (see ``storage.layout``).
        evaluation: how predictions are scored; videos are ingested at its resolution.
        flow: pairwise optical flow settings.
        max_frames: keep at most this many frames of each video (None keeps all).
        tracking_uri: MLflow tracking URI; None means ``$MLFLOW_TRACKING_URI`` when set, else the SQLite
            store ``<data_root>/mlflow.db``.
        experiment: MLflow experiment name; None means the dataset's name.
    """

    data_root: Path = field(default_factory=default_data_root)
    evaluation: EvaluationConfig = EvaluationConfig()
    flow: FlowConfig = FlowConfig()
    max_frames: int | None = None
    tracking_uri: str | None = None
    experiment: str | None = None

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
