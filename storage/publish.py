"""Atomic publishing of folders and files: write under a partial name, rename into place when finished.

A partial folder records its writer (host and process id). A later writer removes partial folders
whose process is gone (same host) or that are older than :data:`STALE_AFTER_SECONDS` (any host), so a
killed run leaves nothing behind for long and never anything that reads as finished.

When two writers race for one name, the first rename wins and the other finds the winner's folder
(:func:`publish` returns False). Writers that share one partial folder (the resumable flow sets)
coordinate through :func:`file_lock` on :func:`writer_lock_path`: an advisory ``flock`` that the kernel
drops when its holder exits, so a killed run never leaves a lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.layout import PARTIAL_MARKER

STALE_AFTER_SECONDS = 6 * 3600
LOCK_TIMEOUT_SECONDS = 600.0
"""How long :func:`file_lock` waits by default before giving up."""
_OWNER_FILE = ".owner.json"


def new_partial_path(final_path: Path) -> Path:
    """Create and return a fresh partial folder beside ``final_path``, owned by this process."""
    partial = final_path.with_name(f"{final_path.name}{PARTIAL_MARKER}{uuid.uuid4().hex}")
    partial.mkdir(parents=True)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    (partial / _OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    return partial


def process_alive(pid: int) -> bool:
    """Whether a process of that id exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(partial: Path) -> bool:
    try:
        owner = json.loads((partial / _OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = {}
    same_host = owner.get("host") == socket.gethostname()
    if same_host and isinstance(owner.get("pid"), int) and not process_alive(owner["pid"]):
        return True
    try:
        age = time.time() - partial.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_AFTER_SECONDS


def remove_stale_partials(final_path: Path) -> list[Path]:
    """Delete the stale partial folders of ``final_path``; return what was removed."""
    removed = []
    for partial in final_path.parent.glob(f"{final_path.name}{PARTIAL_MARKER}*"):
        if partial.is_dir() and _is_stale(partial):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    return removed


def publish(partial_path: Path, final_path: Path) -> bool:
    """Rename a finished partial folder to ``final_path``.

    Returns False (and deletes the partial folder) when another writer published ``final_path`` first;
    the caller then checks that the existing folder is what it wanted.
    """
    (partial_path / _OWNER_FILE).unlink(missing_ok=True)
    try:
        os.rename(partial_path, final_path)
    except OSError:
        if not final_path.exists():
            raise
        shutil.rmtree(partial_path, ignore_errors=True)
        return False
    return True


def discard(partial_path: Path) -> None:
    """Delete a partial folder after a failed write."""
    shutil.rmtree(partial_path, ignore_errors=True)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write a whole file to; when the block ends without an
    error the file is flushed to disk and renamed to ``path``, otherwise it is deleted. A reader of
    ``path`` sees the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def writer_lock_path(final_path: Path) -> Path:
    """The lock file shared by every writer of ``final_path``: ``.<name>.lock`` beside it."""
    return final_path.with_name(f".{final_path.name}.lock")


@contextmanager
def file_lock(path: Path, exclusive: bool, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (created if missing): shared, or exclusive of every other holder.

    Threads and processes on this host (and on NFS, through its lock manager) exclude each other. The
    lock ends with the block or with its holder's process, killed or not.

    Raises:
        TimeoutError: the lock was still held by another writer after ``timeout`` seconds (an OSError,
            so tasks retry it as transient).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(descriptor, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path}: still locked after {timeout:g} s by another writer") from None
                time.sleep(delay)
                delay = min(2 * delay, 0.2)
        yield
    finally:
        os.close(descriptor)
