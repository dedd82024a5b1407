"""Loading a benchmark's per-video MLflow run: its logged model, with the video group from the data root."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from flows.explorer.loading import LoadConfig, load_mlflow_run
from storage import layout
from storage.errors import InputError
from storage.view_target import list_complete_fits
from tasks.config import FitConfig
from tasks.fit import model_artifacts
from tasks.tracking import TrackingTarget, log_video_result, start_benchmark_run


def test_an_mlflow_run_serves_the_model_it_logged(fitted_video: Path, tmp_path: Path) -> None:
    group = shutil.copytree(fitted_video, layout.video_path(tmp_path, "tiny-synth_000"))
    uri = layout.mlflow_tracking_uri(tmp_path)
    target = TrackingTarget(uri, "tiny", layout.mlflow_artifacts_dir(tmp_path))
    parent = start_benchmark_run.fn(target, "benchmark-tiny", {})
    fit = list_complete_fits(group)[0]
    record = {"dataset": "tiny", "video": "synth_000", "method": "omnimotion", "average_jaccard": 0.25}
    model = model_artifacts(str(fit.path), FitConfig(num_steps=4), "omnimotion", str(group))
    run_id = log_video_result.fn(target, parent, record, None, str(fit.path), model)

    content = load_mlflow_run(uri, run_id, tmp_path, LoadConfig())
    logged, fitted = content.sources[0], content.sources[1]
    assert logged.key == f"mlflow:{run_id}" and fitted.key == f"fit:{fit.name}"
    for a, b in zip(logged.track(3, 10.0, 20.0).__dict__.values(), fitted.track(3, 10.0, 20.0).__dict__.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert content.runs[0]["average_jaccard"] == 0.25 and content.ground_truth is not None

    with pytest.raises(InputError, match="not a benchmark's per-video run"):
        load_mlflow_run(uri, parent, tmp_path, LoadConfig())
    with pytest.raises(InputError, match="no MLflow run 'f00'"):
        load_mlflow_run(uri, "f00", tmp_path, LoadConfig())
