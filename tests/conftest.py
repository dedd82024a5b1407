"""Shared fixtures: paths to the real sample videos and small generated inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT.parent / "shared" / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """The folder of real sample videos beside the checkout; skip when it is absent."""
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"real sample videos not found at {SAMPLES_DIR}")
    return SAMPLES_DIR
