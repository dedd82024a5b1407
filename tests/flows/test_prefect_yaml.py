"""prefect.yaml names real flows with parameters they accept."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import yaml
from prefect.flows import Flow

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_entrypoint(entrypoint: str) -> Flow:
    file_part, attribute = entrypoint.split(":")
    module_name = file_part.removesuffix(".py").replace("/", ".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def test_every_deployment_names_an_importable_flow_and_valid_parameters() -> None:
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert spec["deployments"], "prefect.yaml declares no deployment"
    for deployment in spec["deployments"]:
        flow = _load_entrypoint(deployment["entrypoint"])
        assert isinstance(flow, Flow), f"{deployment['entrypoint']} is not a Prefect flow"
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment.get("parameters", {})) <= accepted
        assert (REPO_ROOT / deployment["entrypoint"].split(":")[0]).is_file()


def test_benchmark_runs_nightly() -> None:
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly-benchmark")
    assert nightly["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]
