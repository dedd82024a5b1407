"""MLflow tracking: a parent run per benchmark with a nested run per (video, method), and a run per fit of
``process`` / ``fit``. Experiments are tagged as model development, every run names the data it used as an
MLflow dataset input, and the UI links open MLflow's model-training view.

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
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"
"""The experiment kind of training runs, which MLflow 3 reads from the experiment's ``mlflow.experimentKind`` tag
(an experiment without one has its kind guessed). MLflow 3.17's UI picks its view from a URL parameter
instead (see :func:`ui_page`)."""
DATASET_CONTEXT_TAG = "mlflow.data.context"
DATASET_DIGEST_LENGTH = 12
"""Hex digits of a dataset's content hash shown in MLflow."""
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


@dataclass(frozen=True)
class DatasetRef:
    """The data a run used, as MLflow shows it (the runs table's Dataset column, the compare view).

    Attributes:
        name: the dataset's (or video's) name.
        digest: a short hash of its content: the same digest means the same bytes.
        source: where it was read (a local path).
    """

    name: str
    digest: str
    source: str


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
    """The experiment's id, created when missing; it is tagged as model development (an experiment made
    before that tag was set gets it now)."""
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        target.artifact_root.mkdir(parents=True, exist_ok=True)
        try:
            return client.create_experiment(target.experiment, artifact_location=target.artifact_root.resolve().as_uri(),
                                            tags={EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT})
        except Exception:
            experiment = client.get_experiment_by_name(target.experiment)
            if experiment is None:
                raise
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT)
    return experiment.experiment_id


def _open_experiment(target: TrackingTarget) -> tuple[MlflowClient, str]:
    """A client of the store and the experiment's id, setting both up under the store's lock."""
    with _store_setup_lock(target.tracking_uri):
        client = MlflowClient(target.tracking_uri)
        return client, _experiment_id(client, target)


def _log_dataset(client: MlflowClient, run_id: str, dataset: DatasetRef, context: str) -> None:
    """Log ``dataset`` as the run's dataset input (``context``: ``training`` or ``eval``)."""
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    entity = MetaDataset(LocalArtifactDatasetSource(dataset.source), dataset.name, dataset.digest)._to_mlflow_entity()
    client.log_inputs(run_id, datasets=[DatasetInput(entity, tags=[InputTag(DATASET_CONTEXT_TAG, context)])])


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


def _start_benchmark_run(target: TrackingTarget, run_name: str, params: dict[str, object],
                         dataset: DatasetRef | None = None) -> str:
    """Create the parent run of a benchmark with the flattened config and code version, and ``dataset`` as
    its dataset input; return its id."""
    client, experiment_id = _open_experiment(target)
    _close_abandoned_runs(client, experiment_id)
    owner = {"omnimotion.host": socket.gethostname(), "omnimotion.pid": str(os.getpid())}
    run = client.create_run(experiment_id, run_name=run_name, tags={"omnimotion.kind": "benchmark", **owner})
    _log_params(client, run.info.run_id, {**params, **code_version()})
    if dataset is not None:
        _log_dataset(client, run.info.run_id, dataset, "eval")
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
    dataset: DatasetRef | None = None,
) -> str:
    """Log one (video, method) result as a nested run of ``parent_run_id``, tagged ``video``, ``method``
    and, for a fitted model, ``preset``: its metrics, its pictures, ``dataset`` as its dataset input and,
    for a fitted model, fit time, steps, steps/s and the training losses as step series (``loss/<term>``).
    ``model`` = (checkpoint path, description) is logged under ``model/`` so that
    ``tasks.fit.load_logged_model`` can rebuild the fitted model. Returns the nested run's id."""
    client = MlflowClient(target.tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    video, method = str(record["video"]), str(record["method"])
    tags = {"mlflow.parentRunId": parent_run_id, "omnimotion.kind": "video", "video": video, "method": method}
    if model is not None:
        tags["preset"] = str(model[1]["preset"])
    run = client.create_run(experiment_id, run_name=f"{video}/{method}", tags=tags)
    metrics = _finite_metrics({k: v for k, v in record.items() if k not in ("dataset", "video", "method")})
    params = {"video": video, "method": method, "dataset": str(record["dataset"])}
    if fit_dir is not None:
        metrics += _fit_metrics(fit_dir)
        params.update(_fit_params(fit_dir))
    _log_run_content(client, run.info.run_id, metrics, params, artifacts or [], model)
    if dataset is not None:
        _log_dataset(client, run.info.run_id, dataset, "eval")
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id


def _fit_metrics(fit_dir: str) -> list[Metric]:
    """A complete fit's time, steps, steps/s and its losses as step series (``loss/<term>``)."""
    summary = read_fit_summary(Path(fit_dir))
    metrics = _finite_metrics({"fit_seconds": summary["fit_seconds"], "fit_steps": summary["steps"],
                               "fit_steps_per_second": summary["steps_per_second"]})
    now = int(time.time() * 1000)
    for row in summary["loss_history"]:
        for term, value in zip(summary["loss_terms"][1:], row[1:], strict=True):
            metrics.append(Metric(f"loss/{term}", float(value), now, int(row[0])))
    return metrics


def _fit_params(fit_dir: str) -> dict[str, object]:
    """The fit's name (a hash of what determines it) and the device it ran on."""
    return {"fit": Path(fit_dir).name, "fit_device": str(read_fit_summary(Path(fit_dir))["device"])}


def _log_run_content(client: MlflowClient, run_id: str, metrics: list[Metric], params: Mapping[str, object],
                     artifacts: list[str], model: tuple[str, dict[str, object]] | None) -> None:
    """Log a run's metrics (in batches), params, artifact files and ``model`` = (checkpoint path, description)
    under ``model/`` (``checkpoint.pt`` + ``fit.json``)."""
    for start in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[start : start + 900])
    _log_params(client, run_id, params)
    for path in artifacts:
        client.log_artifact(run_id, path)
    if model is not None:
        checkpoint, description = model
        with tempfile.TemporaryDirectory() as folder:
            staged = Path(folder) / "model"
            staged.mkdir()
            shutil.copyfile(checkpoint, staged / "checkpoint.pt")
            (staged / "fit.json").write_text(json.dumps(description, indent=2), encoding="utf-8")
            client.log_artifacts(run_id, str(staged), artifact_path="model")


log_video_result = task(
    _log_video_result, name="log_video_result", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,
)


def _log_fit_run(
    target: TrackingTarget,
    run_name: str,
    params: dict[str, object],
    tags: dict[str, str],
    dataset: DatasetRef,
    fit_dir: str,
    model: tuple[str, dict[str, object]],
    artifacts: list[str],
) -> str:
    """Log a fit of ``process`` / ``fit`` as a run of its own: ``params`` with the code version, ``tags``
    (video, method, preset), the video as the dataset input (context ``training``), the fit's time, steps
    and loss series, ``artifacts`` (its pictures) and the model under ``model/``. Returns the run's id."""
    client, experiment_id = _open_experiment(target)
    run = client.create_run(experiment_id, run_name=run_name, tags={"omnimotion.kind": "fit", **tags})
    all_params = {**params, **_fit_params(fit_dir), **code_version()}
    _log_run_content(client, run.info.run_id, _fit_metrics(fit_dir), all_params, artifacts, model)
    _log_dataset(client, run.info.run_id, dataset, "training")
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id


log_fit_run = task(
    _log_fit_run, name="log_fit_run", retries=2, retry_delay_seconds=2, retry_condition_fn=is_transient_failure,
    cache_policy=NO_CACHE,
)


def experiment_of_run(tracking_uri: str, run_id: str) -> str:
    """The id of the experiment holding ``run_id``."""
    return MlflowClient(tracking_uri).get_run(run_id).info.experiment_id


UI_MODEL_TRAINING = "workflowType=machine_learning"
"""The URL parameter that shows MLflow's UI in its model-training view (runs, metrics, datasets). MLflow 3.17
picks the view from it, else from the browser's last choice (the GenAI overview at first), not from the
experiment's kind tag."""


def ui_page(base_url: str, experiment_id: str, run_id: str | None = None) -> str:
    """The page of an MLflow UI served at ``base_url`` showing the runs table of ``experiment_id`` (or the
    run ``run_id``), in the model-training view."""
    runs = f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs"
    return f"{runs}/{run_id}?{UI_MODEL_TRAINING}" if run_id else f"{runs}?{UI_MODEL_TRAINING}"


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
