"""Security defaults (see SECURITY.md): what the source may call, where servers listen, what MLflow gets.

The source checks read the syntax tree of every module of the four packages and ``benchmarks/``, so a
comment or a string that mentions ``pickle.load`` does not count, and an aliased import does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def test_the_local_dask_dashboard_listens_on_loopback() -> None:
    from distributed import LocalCluster

    from flows.runners import RunnerConfig, make_task_runner

    with LocalCluster(**make_task_runner(RunnerConfig(local_workers=1)).cluster_kwargs) as cluster:
        sockets = cluster.scheduler.http_server._sockets.values()
        hosts = {sock.getsockname()[0] for sock in sockets}
    assert hosts and hosts <= {"127.0.0.1", "::1"}


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
