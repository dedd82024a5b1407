"""The root configuration of a pipeline run, parsed once here and passed down in pieces.

Its pieces live beside what they configure: :class:`~omnimotion_core.flow.FlowConfig` beside the flow code,
:class:`~tasks.config.EvaluationConfig` and :class:`~tasks.config.FitConfig` beside the tasks that evaluate and
fit, :class:`~storage.video_store.IngestConfig` beside ingestion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnimotion_core.flow import FlowConfig
from storage.layout import default_data_root
from storage.video_store import IngestConfig
from tasks.config import EvaluationConfig, FitConfig


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
