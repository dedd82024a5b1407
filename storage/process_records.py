"""Records of the server processes a run started: one JSON file per process in a records folder, naming the
process and the run that owns it, so that a later run can tell a server whose owner was killed from one in
use.

A record holds process ids with their start times (seconds since the epoch, as the OS reports them): a
process id alone may be reused by an unrelated process once its first holder has exited.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

from storage.errors import StorageError
from storage.publish import atomic_file, file_lock


@dataclass(frozen=True)
class ProcessRecord:
    """A server process and its owner.

    Attributes:
        pid / started: the server's process id and start time.
        owner_pid / owner_started: the same of the process that started it and stops it when it ends.
        url: where the server answers, e.g. ``http://127.0.0.1:8123/api``.
    """

    pid: int
    started: float
    owner_pid: int
    owner_started: float
    url: str


def _record_path(folder: Path, pid: int) -> Path:
    return folder / f"server-{pid}.json"


def write_process_record(folder: Path, record: ProcessRecord) -> Path:
    """Write ``record`` (atomically) into ``folder``, created if missing; return its file."""
    path = _record_path(folder, record.pid)
    with atomic_file(path) as partial:
        partial.write_text(json.dumps(asdict(record)), encoding="utf-8")
    return path


def read_process_records(folder: Path) -> list[ProcessRecord]:
    """Every record of ``folder`` (none when it does not exist), by process id.

    Raises:
        StorageError: a record file that is not a record (the message names it).
    """
    records = []
    for path in sorted(folder.glob("server-*.json")):
        try:
            records.append(ProcessRecord(**json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, TypeError) as error:
            raise StorageError(f"{path}: not a server process record ({error}); delete it") from None
    return records


def remove_process_record(folder: Path, pid: int) -> None:
    """Delete the record of process ``pid`` (nothing when there is none)."""
    _record_path(folder, pid).unlink(missing_ok=True)


def records_lock(folder: Path, timeout: float) -> AbstractContextManager[None]:
    """An exclusive lock on the records of ``folder``, held while a run reads them and stops the servers whose
    owner is gone (so that two runs never stop the same one twice)."""
    return file_lock(folder / ".lock", exclusive=True, timeout=timeout)


def server_records_dir(prefect_home: Path) -> Path:
    """The records folder of the temporary Prefect servers that runs using ``prefect_home`` start."""
    return prefect_home / "omnimotion-servers"
