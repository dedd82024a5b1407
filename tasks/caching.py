"""Result caching of the stage tasks: keyed on the content of the inputs + the stage's config, persisted
on local disk under the data root, and never answering with a store that no longer exists.

Each cached stage declares two things:

- its *identity*: a function of the task's inputs returning what determines its output, built from the
  keys the stores already compute (a video group's ``content_hash``, a flow set's or fit's name, which
  hash their parameters, a predictions group's key) and the sha256 of any input file;
- when a cached result is still *live*: by default every path it returns must be a published store.

The cache key is the hash of the identity and the task's source code. Before Prefect looks the key up,
the policy reads the record already stored under it (if any); when its result points to a store that is
gone (a user deleted the folder), the record is overwritten with an expired one, so Prefect treats the
key as a miss and the task runs again. Results are written by whichever thread or process runs the task
(Dask workers included) into the task's ``result_storage``, set by :func:`cached` to
``<data_root>/task-results/``: a rerun in a new process finds them there.

No Prefect lock manager is used: its lock files carry no expiry, so a run killed inside a task would
leave a lock that blocks every later run. Two concurrent runs may therefore both compute a stage; the
stores publish atomically, so the second writer finds the first's store and both return the same path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task
from prefect.cache_policies import CachePolicy, TaskSource
from prefect.context import TaskRunContext
from prefect.results import ResultStore
from prefect.types._datetime import now
from prefect.utilities.hashing import hash_objects

from storage import layout
from storage.errors import StorageError
from storage.ground_truth import ground_truth_files
from storage.video_store import open_video

StageIdentity = Callable[[dict[str, Any]], dict[str, object]]
"""Task inputs -> JSON-like description of everything the task's output depends on."""

ResultCheck = Callable[[Any], bool]
"""A cached return value -> whether it may still be returned."""

TaskT = TypeVar("TaskT", bound=Task)

_HASH_BLOCK = 1 << 20


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def file_identity(path: str) -> str:
    """sha256 of a file's bytes (remembered per path, size and mtime within a process)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


def ground_truth_identity(annotation: str, video_name: str) -> str:
    """The ground truth of ``video_name``: the TAP-Vid pickle's :func:`file_identity`, or for a BADJA folder
    the sha256 of the names and hashes of every file of the sequence (json, frames, masks)."""
    files = ground_truth_files(Path(annotation), video_name)
    if files == [Path(annotation)]:
        return file_identity(annotation)
    return files_identity([(path.name, path) for path in files])


def files_identity(named_files: list[tuple[str, Path]]) -> str:
    """sha256 of the names and :func:`file_identity` of ``(name, path)`` pairs, in their order."""
    digest = hashlib.sha256()
    for name, path in named_files:
        digest.update(f"{name}:{file_identity(str(path))}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def video_identity(video_group: str) -> str:
    """The ``content_hash`` of a finished video group (sha256 of its frames' shape and bytes)."""
    return str(open_video(Path(video_group)).attrs["content_hash"])


def store_identity(store: str) -> dict[str, str]:
    """A flow set, fit or predictions group: its video's content and its own name (a parameter hash)."""
    return {"video": video_identity(str(layout.video_group_of(Path(store)))), "store": Path(store).name}


def paths_in(result: Any) -> list[str]:
    """The paths a task returned: a string, or the strings of a list."""
    if isinstance(result, str):
        return [result]
    if isinstance(result, list):
        return [item for item in result if isinstance(item, str)]
    return []


def published_stores(result: Any) -> bool:
    """Live when every path returned is a published store (see :func:`storage.layout.is_published`)."""
    return all(layout.is_published(Path(path)) for path in paths_in(result))


def existing_files(result: Any) -> bool:
    """Live when every path returned is an existing file."""
    return all(Path(path).is_file() for path in paths_in(result))


def always_live(result: Any) -> bool:
    """For results that point to nothing on disk (e.g. a metrics record)."""
    return True


@dataclass(kw_only=True)
class StoreCachePolicy(CachePolicy):
    """Cache key = hash(task source, ``identity(inputs)``); a stored result that is no longer live
    (``is_live``) is expired before the lookup, so the task recomputes.

    Attributes:
        identity: what the output depends on, from the task's inputs.
        is_live: whether a stored result may still be returned.
    """

    identity: StageIdentity
    is_live: ResultCheck = published_stores

    def compute_key(
        self, task_ctx: TaskRunContext, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str | None:
        """The cache key, or None (no caching) when an input store is missing or unreadable: the task
        then runs and raises the real error."""
        try:
            identity = self.identity(inputs)
        except (StorageError, OSError):
            return None
        source = TaskSource().compute_key(task_ctx, inputs, flow_parameters)
        key = hash_objects(task_ctx.task.name, source, identity, raise_on_failure=True)
        _expire_dead_record(task_ctx.result_store, key, self.is_live)
        return key


def _expire_dead_record(store: ResultStore, key: str, is_live: ResultCheck) -> None:
    """Overwrite the record under ``key`` with an expired one when its result is no longer live."""
    if not store.exists(key):
        return
    try:
        live = is_live(store.read(key).result)
    except Exception:  # a record cut short by a kill reads as a miss
        live = False
    if live:
        return
    store.write(obj=None, key=key, expiration=now("UTC") - timedelta(seconds=1))


def cached(stage: TaskT, data_root: Path) -> TaskT:
    """``stage`` with its results persisted under ``<data_root>/task-results/`` (see
    :func:`storage.layout.task_results_dir`)."""
    return stage.with_options(result_storage=layout.task_results_dir(data_root), persist_result=True)
