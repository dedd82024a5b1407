"""The root configuration of a pipeline run, parsed once here and passed down in pieces.

Its pieces live beside what they configure: :class:`~omnimotion_core.flow.FlowConfig` beside the flow code,
:class:`~tasks.config.EvaluationConfig` and :class:`~tasks.config.FitConfig` beside the tasks that evaluate and
fit, :class:`~storage.video_store.IngestConfig` beside ingestion.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omnimotion_core.flow import FlowConfig
from storage import layout
from storage.video_store import IngestConfig
from tasks.config import DenseExportConfig, EvaluationConfig, FitConfig
from tasks.tracking import TrackingTarget


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs, with documented defaults.

    Attributes:
        data_root: folder holding every store of the run (see ``storage.layout``).
        evaluation: how predictions are made and scored; videos are ingested at its resolution.
        flow: pairwise optical flow settings.
        fit: model fitting settings.
        dense: which pixels ``process`` / ``fit`` track through every frame after a fit.
        max_frames: keep at most this many frames of each video (None keeps all).
        tracking_uri: MLflow tracking URI; None means ``$MLFLOW_TRACKING_URI`` when set, else the SQLite
            store ``<data_root>/mlflow.db``.
        experiment: MLflow experiment name; None means the dataset's name for a benchmark and
            :data:`FIT_EXPERIMENT` for the fits of ``process`` / ``fit``.
        videos_in_flight: videos whose stages are submitted ahead of the one whose results are being
            collected: enough to keep the workers supplied, while the task graph and the futures a run
            holds stay bounded however many videos the dataset has.
    """

    data_root: Path = field(default_factory=layout.default_data_root)
    evaluation: EvaluationConfig = EvaluationConfig()
    flow: FlowConfig = FlowConfig()
    fit: FitConfig = FitConfig()
    dense: DenseExportConfig = DenseExportConfig()
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
        return flatten_params(asdict(self))

    def tracking_target(self, default_experiment: str) -> TrackingTarget:
        """Where runs are logged: the config's URI, else ``$MLFLOW_TRACKING_URI``, else
        ``<data_root>/mlflow.db``; the config's experiment, else ``default_experiment``."""
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or layout.mlflow_tracking_uri(self.data_root)
        experiment = self.experiment or default_experiment
        return TrackingTarget(tracking_uri=uri, experiment=experiment,
                              artifact_root=layout.mlflow_artifacts_dir(self.data_root) / layout.video_id_from_name(experiment))


FIT_EXPERIMENT = "fits"
"""The MLflow experiment of the runs of ``process`` and ``fit`` (one run per fit) unless one is configured."""


def flatten_params(values: dict[str, object], prefix: str = "") -> dict[str, object]:
    """Nested dicts -> flat ``section.key -> value`` (paths as strings)."""
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_params(value, name))
        else:
            flat[name] = str(value) if isinstance(value, Path) else value
    return flat
