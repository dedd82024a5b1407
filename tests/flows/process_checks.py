"""Checks on processes for the tests of servers that must end with the run: liveness, waiting, and the
temporary Prefect servers of a Prefect home."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psutil


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.2 s until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def temporary_servers(prefect_home: Path) -> list[psutil.Process]:
    """Running Prefect API servers whose environment names ``prefect_home``."""
    found = []
    for process in psutil.process_iter():
        try:
            if ("prefect.server.api.server:create_app" in process.cmdline()
                    and process.environ().get("PREFECT_HOME") == str(prefect_home)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
