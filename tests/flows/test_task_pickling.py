"""Every Prefect task and flow of the pipeline ships to Dask by reference to its function, not by value.

Prefect's Dask runner pickles the task, and the flow run's context with its flow, into every task
submission. A function pickled by value carries a copy of its module's globals, and with them every other
task of that module: dozens of objects per submission, kept for as long as Dask keeps the message.
"""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import cloudpickle
import pytest
from prefect.flows import Flow
from prefect.tasks import Task

import flows
import tasks


def _pipeline_runnables() -> list[Task | Flow]:
    """The tasks and flows defined in the ``tasks`` and ``flows`` packages."""
    found = []
    for package in (tasks, flows):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found += [value for value in vars(module).values()
                      if isinstance(value, Task | Flow) and value.fn.__module__ == module.__name__]
    return found


RUNNABLES = _pipeline_runnables()


def test_every_task_and_flow_is_found() -> None:
    names = {runnable.name for runnable in RUNNABLES}
    assert {"benchmark", "process_video", "evaluate", "ingest_video", "fit_model", "evaluate_tapvid"} <= names
    assert len(RUNNABLES) >= 20


@pytest.mark.parametrize("runnable", RUNNABLES, ids=lambda runnable: runnable.name)
def test_function_pickles_by_reference(runnable: Task | Flow) -> None:
    assert pickle.loads(pickle.dumps(runnable.fn)) is runnable.fn
    # by value, cloudpickle would copy the code and the module globals it uses (the flow: ~89 KB)
    assert len(cloudpickle.dumps(runnable.fn)) < 200
