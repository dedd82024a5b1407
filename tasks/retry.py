"""When a failed task is retried: only on transient I/O errors, never on bad input."""

from __future__ import annotations

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from storage.errors import StorageError


def is_transient_failure(task: Task, task_run: TaskRun, state: State) -> bool:
    """True when the task failed with an ``OSError`` (a full disk, a dropped network mount, a locked
    SQLite file) that is not one of our own input or store errors; such failures may pass on retry."""
    try:
        state.result()
    except StorageError:
        return False
    except OSError:
        return True
    except Exception:
        return False
    return False
