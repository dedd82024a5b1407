"""Child processes that end with us: a server run in the foreground until a signal, and the stopping of a
process with every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

import psutil

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""The signals that stop a foreground server (``kill PID``, Ctrl-C)."""


@dataclass(frozen=True)
class StopConfig:
    """How a process tree is stopped.

    Attributes:
        grace_s: seconds between SIGTERM and SIGKILL: a server's time to close its connections and children.
    """

    grace_s: float = 10.0


def process_tree(pid: int, group: int | None = None) -> list[psutil.Process]:
    """The process ``pid`` and all its descendants, with every member of process group ``group`` when given
    (a grandchild whose parent exited is no descendant any more, but stays in its group)."""
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(pid)
        found.update((process.pid, process) for process in (root, *root.children(recursive=True)))
    except psutil.NoSuchProcess:
        pass
    if group is not None:
        for process in psutil.process_iter():
            try:
                if os.getpgid(process.pid) == group:
                    found.setdefault(process.pid, process)
            except ProcessLookupError:
                continue
    return list(found.values())


def _signal_all(processes: list[psutil.Process], group: int | None, signum: int) -> None:
    for process in processes:
        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            pass
    if group is not None:
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            pass


def stop_process_tree(pid: int, group: int | None = None, config: StopConfig = StopConfig()) -> list[psutil.Process]:
    """Stop process ``pid``, every process below it and, when ``group`` is given, every member of that
    process group (a child started in a session of its own leads a group of its id): SIGTERM to all at once,
    SIGKILL to those still alive after ``config.grace_s``. Returns the processes still alive after SIGKILL
    (normally none)."""
    tree = process_tree(pid, group)
    _signal_all(tree, group, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=config.grace_s)
    _signal_all(alive, group, signal.SIGKILL)
    _, alive = psutil.wait_procs(alive, timeout=config.grace_s)
    return alive


class _Stopped(Exception):
    """Raised in the main thread by a stop signal."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


def run_until_signalled(command: Sequence[str], config: StopConfig = StopConfig()) -> int:
    """Run ``command`` (an argument list) in a session of its own until it exits, or until this process gets
    SIGTERM or SIGINT: then stop it with every process it started (:func:`stop_process_tree`). Returns the
    command's exit status, or 0 when a stop signal ended it (stopped as asked). Call from the main thread
    (signal handlers are set there)."""
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in STOP_SIGNALS}
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen([*command], start_new_session=True)
        return process.wait()
    except _Stopped:
        return 0
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        if process is not None:
            stop_process_tree(process.pid, group=process.pid, config=config)
            process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
