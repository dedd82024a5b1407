"""Dask worker preload for tests (``dask worker --preload tests/flows/worker_gate.py``).

The first worker of the cluster to write a video's frames (into the partial group, before publishing)
claims the token file named by ``$OMNIMOTION_TEST_GATE_TOKEN``, writes its process id there and stops, so
that a test can kill it in the middle of a task; every other ingestion runs normally.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

TOKEN_ENV = "OMNIMOTION_TEST_GATE_TOKEN"
PAUSE_SECONDS = 300


def _claim(token: Path) -> bool:
    """Create ``token`` holding this process id, atomically; False when another worker holds it."""
    draft = token.with_name(f"{token.name}.{os.getpid()}")
    draft.write_text(str(os.getpid()), encoding="utf-8")
    try:
        os.link(draft, token)
    except FileExistsError:
        return False
    finally:
        draft.unlink()
    return True


def dask_setup(worker: Any) -> None:
    """Wrap the frame writer of ingestion with the one-time pause."""
    from storage import video_store

    token = Path(os.environ[TOKEN_ENV])
    write_group = video_store._write_group

    def paused_once(*args: Any, **kwargs: Any) -> dict[str, object]:
        attrs = write_group(*args, **kwargs)
        if _claim(token):
            time.sleep(PAUSE_SECONDS)
            os._exit(3)
        return attrs

    video_store._write_group = paused_once
