"""open_view_target: what `omnimotion view` accepts as TARGET, and the errors for what it does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storage import layout
from storage.errors import InputError
from storage.runs_table import write_runs_table
from storage.video_sources import ArraySource
from storage.video_store import ingest
from storage.view_target import open_view_target, read_runs_table


def _video_group(root: Path, video_id: str) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    return ingest(ArraySource(frames), root, video_id)


def test_a_video_group_without_a_finished_fit_says_how_to_fit_one(tmp_path: Path) -> None:
    group = _video_group(tmp_path, "clip")
    with pytest.raises(InputError, match=rf"{group}: no finished fit to explore; fit one with: omnimotion fit {group}"):
        open_view_target(group)


def test_a_folder_that_is_neither_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a video group .* nor a benchmark's results folder"):
        open_view_target(tmp_path)


def test_a_results_folder_resolves_its_first_video_to_the_benchmarks_group(tmp_path: Path) -> None:
    results = layout.results_dir(tmp_path, "tiny")
    write_runs_table([{"video": "b", "method": "omnimotion", "status": "ok", "AJ": 50.0},
                      {"video": "a", "method": "zero_motion", "status": "ok"}], results)
    assert read_runs_table(results)[0] == {"video": "b", "method": "omnimotion", "status": "ok", "AJ": 50.0}
    group = _video_group(tmp_path, "tiny-b")
    with pytest.raises(InputError, match=rf"{group}: no finished fit"):
        open_view_target(results)
    with pytest.raises(InputError, match=r"no video group here"):
        open_view_target(results, video="a")
    with pytest.raises(InputError, match=r"no video 'c' in the run table; it has: b, a"):
        open_view_target(results, video="c")
