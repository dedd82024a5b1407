"""Security defaults (see SECURITY.md): what the source may call, where servers listen, what MLflow gets.

The source checks read the syntax tree of every module of the four packages and ``benchmarks/``, so a
comment or a string that mentions ``pickle.load`` does not count, and an aliased import does.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
import pytest

from storage.tapvid import write_tapvid_davis_pickle
from tests.flows.process_checks import temporary_servers

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("storage", "tasks", "flows", "omnimotion_core", "benchmarks")
SAFE_PICKLE = Path("storage/safe_pickle.py")
SECRET = "s3cr3t-value-that-must-not-be-logged"

FORBIDDEN_CALLS = {
    "os.system", "os.popen", "os.execv", "os.execvp", "os.execl", "os.spawnl", "os.spawnv", "os.startfile",
    "subprocess.getoutput", "subprocess.getstatusoutput", "eval", "exec", "compile", "__import__",
    "pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._Unpickler", "marshal.load", "marshal.loads",
    "shelve.open", "yaml.load", "yaml.unsafe_load", "pandas.read_pickle", "joblib.load", "dill.load",
    "dill.loads", "cloudpickle.load", "cloudpickle.loads", "mlflow.pytorch.load_model", "mlflow.pyfunc.load_model",
}
"""Calls that run code from data or a shell (safe_pickle subclasses ``pickle._Unpickler``, never calls it)."""

SUBPROCESS_CALLS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
                    "subprocess.check_output"}
LOAD_KEYWORDS = {"torch.load": ("weights_only", True, True), "numpy.load": ("allow_pickle", False, False)}
"""name -> (keyword, safe value, whether it must be written out): torch>=2.4 (our floor) still defaults to
``weights_only=False``; numpy has defaulted to ``allow_pickle=False`` since 1.16.3."""


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SOURCE_DIRS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            yield path.relative_to(REPO_ROOT), ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name it stands for (``np`` -> ``numpy``, ``run`` -> ``subprocess.run``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                names[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.expr, imports: dict[str, str]) -> str | None:
    """``pickle.load`` for ``pickle.load`` / ``pk.load`` (``import pickle as pk``) / ``load`` (``from pickle
    import load``); None for anything that is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(imports.get(node.id, node.id))
    return ".".join(reversed(parts))


def _calls(tree: ast.Module) -> Iterator[tuple[ast.Call, str | None]]:
    imports = _imported_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, _dotted(node.func, imports)


def _list_assigned(tree: ast.Module, name: str, line: int) -> bool:
    """Whether the last assignment to ``name`` before ``line`` is a list or tuple display."""
    assignments = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and node.lineno < line
        and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    ]
    return bool(assignments) and isinstance(max(assignments, key=lambda node: node.lineno).value, (ast.List, ast.Tuple))


def test_the_scan_sees_the_whole_source_tree() -> None:
    modules = dict(_modules())
    assert SAFE_PICKLE in modules and Path("flows/cli.py") in modules and len(modules) > 40


def test_no_code_runs_from_data_or_through_a_shell() -> None:
    found = []
    for path, tree in _modules():
        for call, name in _calls(tree):
            if name in FORBIDDEN_CALLS:
                found.append(f"{path}:{call.lineno} {name}")
            if any(keyword.arg == "shell" for keyword in call.keywords):
                found.append(f"{path}:{call.lineno} {name}(shell=...)")
    assert found == []


def test_pickles_are_read_only_through_the_restricted_unpickler() -> None:
    found = []
    for path, tree in _modules():
        imports = _imported_names(tree)
        for node in ast.walk(tree):
            dotted = _dotted(node, imports) if isinstance(node, (ast.Attribute, ast.Name)) else None
            unpickling = dotted is not None and dotted.startswith(("pickle.load", "pickle.Unpickler", "pickle._Unp"))
            if unpickling and path != SAFE_PICKLE:
                found.append(f"{path}:{node.lineno} {dotted}")
    assert found == []


def test_torch_and_numpy_loads_refuse_pickled_code() -> None:
    found, seen = [], []
    for path, tree in _modules():
        for call, name in _calls(tree):
            if name in LOAD_KEYWORDS:
                keyword, value, required = LOAD_KEYWORDS[name]
                given = {k.arg: k.value for k in call.keywords}
                seen.append(name)
                safe = isinstance(given.get(keyword), ast.Constant) and given[keyword].value is value
                if not safe and (required or keyword in given or None in given):
                    found.append(f"{path}:{call.lineno} {name} without {keyword}={value}")
    assert found == []
    assert set(seen) == {"torch.load", "numpy.load"}  # the check looked at real calls


def test_subprocesses_get_argument_lists_never_command_strings() -> None:
    commands = []
    for path, tree in _modules():
        for call, name in _calls(tree):
            if name in SUBPROCESS_CALLS:
                first = call.args[0] if call.args else None
                is_list = isinstance(first, (ast.List, ast.Tuple)) or (
                    isinstance(first, ast.Name) and _list_assigned(tree, first.id, call.lineno)
                )
                commands.append((f"{path}:{call.lineno}", is_list))
    assert commands and all(is_list for _, is_list in commands), commands


def test_the_mlflow_ui_listens_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flows import cli, processes

    ran = []
    monkeypatch.setattr(processes, "run_until_signalled", lambda command: ran.append(command) or 0)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli.main(["ui", "--data-root", str(tmp_path)]) == 0
    [command] = ran
    assert isinstance(command, list)
    assert command[command.index("--host") + 1] == "127.0.0.1"


def _listening(process: psutil.Process) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket ``process`` listens on."""
    return {(conn.laddr.ip, conn.laddr.port) for conn in process.net_connections("inet")
            if conn.status == psutil.CONN_LISTEN}


def test_the_local_dask_cluster_listens_on_loopback_and_prints_a_dashboard_url_that_opens() -> None:
    from flows.runners import RunnerConfig, make_task_runner

    printed: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: printed.append(record.getMessage())  # type: ignore[method-assign]
    runner = make_task_runner(RunnerConfig(local_workers=1))
    level = runner.logger.level
    runner.logger.setLevel(logging.INFO)
    runner.logger.addHandler(handler)
    before = _listening(psutil.Process())
    try:
        with runner:
            assert runner.client is not None
            opened = _listening(psutil.Process()) - before
            [url] = [match for line in printed for match in re.findall(r"dashboard is available at (\S+)", line)]
            with urllib.request.urlopen(url, timeout=60) as response:
                page = response.read().decode("utf-8", errors="replace")
    finally:
        runner.logger.removeHandler(handler)
        runner.logger.setLevel(level)
    # The scheduler's dashboard and the worker's HTTP server, both on loopback.
    assert len(opened) == 2 and {host for host, _ in opened} == {"127.0.0.1"}
    assert (urlsplit(url).hostname, urlsplit(url).port) in opened
    assert response.status == 200 and "needs bokeh" not in page


def test_every_listening_socket_of_a_default_run_is_on_loopback(tmp_path: Path) -> None:
    """A default command-line run (no Prefect server configured: a temporary one; a local Dask cluster), its
    sockets and those of its children listed every 50 ms while it runs."""
    rng = np.random.default_rng(0)
    dataset = tmp_path / "tiny.pkl"
    write_tapvid_davis_pickle(dataset, {name: {
        "video": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        "points": rng.uniform(0.2, 0.8, (2, 4, 2)).astype(np.float32), "occluded": np.zeros((2, 4), dtype=bool),
    } for name in ("a", "b")})
    env = {key: value for key, value in os.environ.items() if key not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = tmp_path / "run.log"
    with log.open("w") as output:
        run = subprocess.Popen([sys.executable, "-m", "flows.cli", "benchmark", str(dataset), "--methods", "zero_motion",
                                "--size", "16x16", "--data-root", str(tmp_path / "data")],
                               cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        seen: dict[str, set[tuple[str, int]]] = {}
        root = psutil.Process(run.pid)
        deadline = time.monotonic() + 300
        while run.poll() is None and time.monotonic() < deadline:
            try:
                for process in (root, *root.children(recursive=True)):
                    kind = "run" if process.pid == run.pid else "prefect server" if any(
                        "prefect.server" in part for part in process.cmdline()) else " ".join(process.cmdline()[:3])
                    seen.setdefault(kind, set()).update(_listening(process))
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.05)
        if run.poll() is None:
            run.kill()
    text = log.read_text(encoding="utf-8")
    assert run.wait() == 0, text[-3000:]
    [url] = re.findall(r"dashboard is available at (\S+)", text)
    assert {host for sockets in seen.values() for host, _ in sockets} == {"127.0.0.1"}, seen
    assert len(seen["run"]) >= 2 and (urlsplit(url).hostname, urlsplit(url).port) in seen["run"]
    assert len(seen["prefect server"]) == 1
    assert temporary_servers(tmp_path / "prefect-home") == []  # stopped with the run


def test_logged_parameters_hold_no_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from flows.config import PipelineConfig
    from tasks.tracking import TrackingTarget, start_benchmark_run

    for name in ("HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "MLFLOW_TRACKING_PASSWORD", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, SECRET)
    target = TrackingTarget(f"sqlite:///{tmp_path / 'mlflow.db'}", "security", tmp_path / "artifacts")
    params = {**PipelineConfig(data_root=tmp_path).to_params(), "api_key": SECRET, "db.Password": SECRET}
    run_id = start_benchmark_run.fn(target, "run", params)
    logged = MlflowClient(target.tracking_uri).get_run(run_id).data.params
    assert logged["data_root"] == str(tmp_path) and "code.git_sha" in logged
    assert not [key for key, value in logged.items() if SECRET in value]
    assert not [key for key in logged if any(word in key.upper() for word in ("TOKEN", "SECRET", "PASSWORD"))]


def test_credentials_inside_a_tracking_uri_are_not_logged(tmp_path: Path) -> None:
    from flows.config import PipelineConfig
    from tasks.tracking import without_secrets

    config = PipelineConfig(data_root=tmp_path, tracking_uri=f"https://alice:{SECRET}@mlflow.example.org")
    logged = without_secrets(config.to_params())
    assert not [key for key, value in logged.items() if SECRET in str(value)]
    assert logged["tracking_uri"] == "https://mlflow.example.org"
