"""Run the ``benchmark`` flow in its own process, recording what each stage writes and optionally pausing
inside one stage so that a test can SIGKILL it there.

Usage: ``python tests/flows/benchmark_child.py SPEC.json``. The spec holds ``dataset``, ``data_root``,
``tracking_uri``, ``methods``, ``resolution``, ``num_steps``, ``checkpoint_every``, ``chunk_pairs``,
``events`` (a JSON-lines file this process appends to), ``result`` (where the records go as JSON), and
``gate``: None, or the stage to stop in (``ingest``, ``flow``, ``fit``, ``evaluate``; ``fit`` stops before
writing the checkpoint of step ``gate_step``). A paused run goes on when the file ``<events>.release``
appears (or is killed there).

Events (one JSON object a line, written unbuffered so they survive a SIGKILL):
``{"event": "ingest"}`` a video's frames were decoded into a partial group;
``{"event": "flow", "set": name, "pairs": [[i, j], ...]}`` a chunk of a flow set was written;
``{"event": "checkpoint", "step": n}`` a fit checkpoint is about to be written;
``{"event": "predictions", "method": m}`` predictions are about to be stored;
``{"event": "evaluate"}`` metrics are about to be computed;
``{"event": "gate", "stage": s}`` the process now waits inside stage ``s`` until it is killed or released;
``{"event": "released", "stage": s}`` it goes on.

The hooks wrap storage and metric functions before any task module is imported, so the tasks' own
``from ... import`` names bind to the wrappers; the wrappers only record and pause, never change results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

GATE_TIMEOUT_SECONDS = 300
"""A paused child exits on its own after this long, in case the test that should end it died."""

STAGES = ("ingest", "flow", "fit", "evaluate")


def release_path(events: Path) -> Path:
    """The file whose appearance lets a paused run go on."""
    return events.with_name(events.name + ".release")


class Recorder:
    """Appends events to a JSON-lines file and pauses at the gate stage."""

    def __init__(self, events: Path, gate: str | None, gate_step: int) -> None:
        if gate is not None and gate not in STAGES:
            raise ValueError(f"gate must be one of {STAGES} or None, got {gate!r}")
        self._descriptor = os.open(events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.release = release_path(events)
        self.gate = gate
        self.gate_step = gate_step

    def record(self, event: str, **fields: Any) -> None:
        """Append one event line (a single write, so a kill never leaves half a line)."""
        line = json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n"
        os.write(self._descriptor, line.encode("utf-8"))

    def pause_if(self, stage: str) -> None:
        """Wait here until killed or released when ``stage`` is the gate."""
        if stage != self.gate:
            return
        self.record("gate", stage=stage)
        deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
        while not self.release.exists():
            if time.monotonic() > deadline:
                os._exit(3)
            time.sleep(0.05)
        self.record("released", stage=stage)


def install_hooks(recorder: Recorder) -> None:
    """Wrap the functions that mark each stage's work; must run before ``flows``/``tasks`` are imported."""
    from omnimotion_core import metrics
    from storage import fit_store, prediction_store, video_store
    from storage.flow_store import FlowSetWriter

    write_group: Callable[..., dict[str, object]] = video_store._write_group

    def recorded_write_group(*args: Any, **kwargs: Any) -> dict[str, object]:
        attrs = write_group(*args, **kwargs)
        recorder.record("ingest")
        recorder.pause_if("ingest")
        return attrs

    write_chunk = FlowSetWriter.write

    def recorded_write_chunk(self: FlowSetWriter, chunk: Any) -> None:
        write_chunk(self, chunk)
        recorder.record("flow", set=self.final_path.name, pairs=chunk.pairs.tolist())
        recorder.pause_if("flow")

    save_checkpoint = fit_store.save_checkpoint

    def recorded_save_checkpoint(fit_dir: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
        if step == recorder.gate_step:
            recorder.pause_if("fit")
        recorder.record("checkpoint", step=step)
        return save_checkpoint(fit_dir, step, state, keep)

    write_predictions = prediction_store.write_predictions

    def recorded_write_predictions(video_group: Path, predictions: Any) -> Path:
        recorder.record("predictions", method=predictions.method)
        return write_predictions(video_group, predictions)

    tapvid_metrics = metrics.tapvid_metrics

    def recorded_tapvid_metrics(*args: Any, **kwargs: Any) -> dict[str, Any]:
        recorder.record("evaluate")
        recorder.pause_if("evaluate")
        return tapvid_metrics(*args, **kwargs)

    video_store._write_group = recorded_write_group
    FlowSetWriter.write = recorded_write_chunk
    fit_store.save_checkpoint = recorded_save_checkpoint
    prediction_store.write_predictions = recorded_write_predictions
    metrics.tapvid_metrics = recorded_tapvid_metrics


@dataclass
class ChildRun:
    """A benchmark started in its own process by a test (the parent side of this module).

    Attributes:
        process: the child process (its output goes to ``log``).
        spec: what it runs (see the module docstring).
        log: the child's stdout and stderr.
    """

    process: subprocess.Popen[bytes]
    spec: dict[str, Any]
    log: Path

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events recorded so far by every run that shares this run's events file."""
        path = Path(self.spec["events"])
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def own_events(self, event: str) -> list[dict[str, Any]]:
        """The events called ``event`` recorded by this process."""
        return [item for item in self.events if item["pid"] == self.process.pid and item["event"] == event]

    def output_tail(self, lines: int = 40) -> str:
        """The last lines the child printed, for assertion messages."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_gate(self, timeout: float = 240.0) -> None:
        """Block until the child pauses at its gate; fail if it exits or takes longer than ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.own_events("gate"):
            if self.process.poll() is not None:
                raise AssertionError(f"child exited with {self.process.returncode} before its gate:\n{self.output_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"child did not reach its gate in {timeout} s:\n{self.output_tail()}")
            time.sleep(0.05)

    def release(self) -> None:
        """Let the child go on from its gate."""
        release_path(Path(self.spec["events"])).touch()

    def kill(self) -> None:
        """SIGKILL the child (if still running) and reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def finish(self, timeout: float = 300.0) -> dict[str, Any]:
        """Wait for the child to exit with status 0 and return the result it wrote."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"child still running after {timeout} s:\n{self.output_tail()}") from None
        if code != 0:
            raise AssertionError(f"child exited with {code}:\n{self.output_tail()}")
        return json.loads(Path(self.spec["result"]).read_text(encoding="utf-8"))


def start_child(spec: dict[str, Any], folder: Path, env: dict[str, str]) -> ChildRun:
    """Write ``spec`` under ``folder`` and start a benchmark process on it with ``env``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    log = folder / "output.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.flows.benchmark_child", str(spec_path)],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    return ChildRun(process=process, spec=spec, log=log)


def child_env(prefect_api_url: str, prefect_home: Path) -> dict[str, str]:
    """Environment of a child: the test's Prefect server, a private Prefect home, no telemetry."""
    return {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DASK_LOGGING__DISTRIBUTED": "warning",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def main(spec_path: str) -> int:
    """Run the benchmark the spec describes; write its records to ``spec["result"]``."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    recorder = Recorder(Path(spec["events"]), spec.get("gate"), int(spec.get("gate_step", -1)))
    install_hooks(recorder)
    loaded = {name for name in sys.modules if name.split(".")[0] in ("flows", "tasks")}
    if loaded:
        raise RuntimeError(f"hooks must be installed before these modules load: {sorted(loaded)}")

    from flows.benchmark import benchmark
    from flows.config import PipelineConfig
    from flows.runners import RunnerConfig, make_task_runner
    from omnimotion_core.flow import FlowConfig
    from tasks.config import EvaluationConfig, FitConfig

    config = PipelineConfig(
        data_root=Path(spec["data_root"]),
        evaluation=EvaluationConfig(resolution=tuple(spec["resolution"])),
        flow=FlowConfig(chunk_pairs=int(spec["chunk_pairs"])),
        fit=FitConfig(
            num_steps=int(spec["num_steps"]), checkpoint_every=int(spec["checkpoint_every"]),
            log_every=int(spec["checkpoint_every"]), seed=int(spec.get("seed", 0)), cpu_threads=1, device="cpu",
        ),
        tracking_uri=spec["tracking_uri"],
        experiment=spec.get("experiment"),
    )
    runner = make_task_runner(RunnerConfig(local_workers=int(spec.get("workers", 2))))
    result = benchmark.with_options(task_runner=runner)(spec["dataset"], list(spec["methods"]), config)
    payload = {
        "records": result.records,
        "failures": [list(failure) for failure in result.failures],
        "mlflow_run_id": result.mlflow_run_id,
        "csv_path": str(result.csv_path) if result.csv_path else None,
    }
    Path(spec["result"]).write_text(json.dumps(payload), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
