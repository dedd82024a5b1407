"""MLflow tracking of benchmark runs: a parent run per benchmark, a nested run per (video, method).

Uses :class:`mlflow.MlflowClient` with explicit run ids (never the fluent "active run"), so tasks running
in threads or on Dask workers log to the right run. Parameters never include values whose key looks like
a secret (see :func:`without_secrets`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.fit_store import read_fit_summary
from storage.publish import file_lock, process_alive
from tasks.retry import is_transient_failure

SECRET_KEY_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")
"""A parameter whose key contains one of these words (case-insensitive, as a word) is never logged."""

PACKAGES = ("torch", "numpy", "zarr", "opencv-python-headless", "prefect", "dask", "mlflow", "pandas")
_MAX_PARAM_LENGTH = 6000
_PARAMS_PER_BATCH = 100


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs go.

    Attributes:
        tracking_uri: MLflow tracking URI, e.g. ``sqlite:////abs/data/mlflow.db``.
        experiment: experiment name (one per dataset by default).
        artifact_root: folder for this experiment's artifacts (used when the experiment is created).
    """

    tracking_uri: str
    experiment: str
    artifact_root: Path


_URI_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def without_secrets(params: Mapping[str, object]) -> dict[str, object]:
    """Drop parameters whose key has a word such as TOKEN, SECRET, PASSWORD or KEY in it, and the
    ``user:password@`` part of any URI among the values."""
    kept = {}
    for key, value in params.items():
        words = {word.upper() for word in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", key) if word}
        if not words & set(SECRET_KEY_PARTS):
            kept[key] = _URI_USERINFO.sub(r"\g<scheme>", value) if isinstance(value, str) else value
    return kept


def code_version() -> dict[str, str]:
    """Git commit of the working tree (``unknown`` outside a checkout) and versions of key packages."""
    repo = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "unknown", ""
    version = {"code.git_sha": sha + ("-dirty" if dirty else "")}
    for package in PACKAGES:
        try:
            version[f"package.{package}"] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version[f"package.{package}"] = "not installed"
    return version


def _experiment_id(client: MlflowClient, target: TrackingTarget) -> str:
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is not None:
        return experiment.experiment_id
    target.artifact_root.mkdir(parents=True, exist_ok=True)
    try:
        return client.create_experiment(target.experiment, artifact_location=target.artifact_root.resolve().as_uri())
    except Exception:
        experiment = client.get_experiment_by_name(target.experiment)
        if experiment is None:
            raise
        return experiment.experiment_id


def _close_abandoned_runs(client: MlflowClient, experiment_id: str) -> None:
    """Mark KILLED the benchmark runs still RUNNING whose process, on this host, is gone (a run killed
    before it could close its MLflow run). Runs of other hosts are left alone: nothing here can tell."""
    host = socket.gethostname()
    running = client.search_runs(
        [experiment_id], filter_string="tags.`omnimotion.kind` = 'benchmark' and attributes.status = 'RUNNING'"
    )
    for run in running:
        tags = run.data.tags
        pid = tags.get("omnimotion.pid", "")
        if tags.get("omnimotion.host") == host and pid.isdigit() and not process_alive(int(pid)):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))


def _log_params(client: MlflowClient, run_id: str, params: Mapping[str, object]) -> None:
    items = [Param(key, str(value)[:_MAX_PARAM_LENGTH]) for key, value in without_secrets(params).items()]
    for start in range(0, len(items), _PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + _PARAMS_PER_BATCH])


def _finite_metrics(values: Mapping[str, object]) -> list[Metric]:
    now = int(time.time() * 1000)
    metrics = []
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            metrics.append(Metric(key, float(value), now, 0))
    return metrics


SQLITE_PREFIX = "sqlite:///"


def _store_setup_lock(tracking_uri: str) -> contextlib.AbstractContextManager[None]:
    """For a SQLite store, an exclusive lock beside the file while MLflow creates or migrates its tables
    and the experiment: two runs starting at once on a fresh store otherwise race in the schema set-up
    (``duplicate column name``). Other stores set themselves up."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return contextlib.nullcontext()
    database = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
    return file_lock(database.with_name(database.name + ".lock"), exclusive=True)


def _start_benchmark_run(target: TrackingTarget, run_name: str, params: dict[str, object]) -> str:
    """Create the parent run of a benchmark with the flattened config and code version; return its id."""
    with _store_setup_lock(target.tracking_uri):
        client = MlflowClient(target.tracking_uri)
        experiment_id = _experiment_id(client, target)
    _close_abandoned_runs(client, experiment_id)
    owner = {"omnimotion.host": socket.gethostname(), "omnimotion.pid": str(os.getpid())}
    run = client.create_run(experiment_id, run_name=run_name, tags={"omnimotion.kind": "benchmark", **owner})
    _log_params(client, run.info.run_id, {**params, **code_version()})
    return run.info.run_id


start_benchmark_run = task(
    _start_benchmark_run, name="start_benchmark_run", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,
)


def _log_video_result(
    target: TrackingTarget,
    parent_run_id: str,
    record: dict[str, object],
    artifacts: list[str] | None = None,
    fit_dir: str | None = None,
    model: tuple[str, dict[str, object]] | None = None,
) -> str:
    """Log one (video, method) result as a nested run of ``parent_run_id``: its metrics, its pictures and,
    for a fitted model, fit time, steps, steps/s and the training losses as step series (``loss/<term>``).
    ``model`` = (checkpoint path, description) is logged under ``model/`` so that
    ``tasks.fit.load_logged_model`` can rebuild the fitted model. Returns the nested run's id."""
    client = MlflowClient(target.tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    video, method = str(record["video"]), str(record["method"])
    run = client.create_run(
        experiment_id,
        run_name=f"{video}/{method}",
        tags={"mlflow.parentRunId": parent_run_id, "omnimotion.kind": "video", "video": video, "method": method},
    )
    metrics = _finite_metrics({k: v for k, v in record.items() if k not in ("dataset", "video", "method")})
    params = [Param("video", video), Param("method", method), Param("dataset", str(record["dataset"]))]
    if fit_dir is not None:
        summary = read_fit_summary(Path(fit_dir))
        metrics += _finite_metrics({"fit_seconds": summary["fit_seconds"], "fit_steps": summary["steps"],
                                    "fit_steps_per_second": summary["steps_per_second"]})
        now = int(time.time() * 1000)
        for row in summary["loss_history"]:
            for term, value in zip(summary["loss_terms"][1:], row[1:], strict=True):
                metrics.append(Metric(f"loss/{term}", float(value), now, int(row[0])))
        params += [Param("fit", Path(fit_dir).name), Param("fit_device", str(summary["device"]))]
    for start in range(0, len(metrics), 900):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 900])
    client.log_batch(run.info.run_id, params=params)
    for path in artifacts or []:
        client.log_artifact(run.info.run_id, path)
    if model is not None:
        checkpoint, description = model
        with tempfile.TemporaryDirectory() as folder:
            staged = Path(folder) / "model"
            staged.mkdir()
            shutil.copyfile(checkpoint, staged / "checkpoint.pt")
            (staged / "fit.json").write_text(json.dumps(description, indent=2), encoding="utf-8")
            client.log_artifacts(run.info.run_id, str(staged), artifact_path="model")
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id


log_video_result = task(
    _log_video_result, name="log_video_result", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,
)


def _finish_benchmark_run(
    target: TrackingTarget,
    run_id: str,
    summary: dict[str, float],
    artifacts: list[str],
    failures: list[tuple[str, str, str]],
) -> None:
    """Log the benchmark's summary metrics (``<method>.<metric>``), table files and failures; close the run.

    The run ends FINISHED even when some (video, method) failed: its ``omnimotion.failures`` tag counts
    them and the ``failures`` tag lists ``video/method: error`` lines.
    """
    client = MlflowClient(target.tracking_uri)
    failure_lines = "\n".join(f"{video}/{method}: {message}" for video, method, message in failures)
    client.log_batch(
        run_id,
        metrics=_finite_metrics(summary),
        tags=[RunTag("omnimotion.failures", str(len(failures))), RunTag("failures", failure_lines[:5000])],
    )
    for path in artifacts:
        client.log_artifact(run_id, path)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))


finish_benchmark_run = task(
    _finish_benchmark_run, name="finish_benchmark_run", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,
)
