"""A method from an installed package: a toy tracker declared through the ``omnimotion_pipeline.methods``
entry point of a tiny package (written here), listed by the CLI and run by ``omnimotion benchmark``, with no
file of the pipeline changed."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import build_parser, main
from omnimotion_core.methods import METHODS, TrackerMethod

PLUGIN_MODULE = '''
"""A toy tracker: every point moves one pixel right per frame after its query frame."""

import numpy as np

from omnimotion_core.registry import TrackerMethod


def track_drift(frames, query_points):
    query_points = np.asarray(query_points, dtype=np.float32)
    frame_index = np.arange(frames.shape[0], dtype=np.float32)
    tracks = np.repeat(query_points[:, None, [2, 1]], frames.shape[0], axis=1)
    tracks[..., 0] += np.clip(frame_index[None] - query_points[:, :1], 0, None)
    return tracks, np.zeros(tracks.shape[:2], dtype=bool)


METHOD = TrackerMethod(name="toy-drift", description="moves every point one pixel right per frame",
                       factory=lambda engine: track_drift)
'''


@pytest.fixture
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed package (module + dist-info with its entry point) on sys.path, its methods loaded."""
    site = tmp_path / "site"
    (site / "toy_drift_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "toy_drift_plugin.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    (site / "toy_drift_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-drift-plugin\nVersion: 0.1\n", encoding="utf-8")
    (site / "toy_drift_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[omnimotion_pipeline.methods]\ntoy = toy_drift_plugin:METHOD\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    METHODS.load_entry_points()
    yield
    METHODS.unregister("toy-drift")


def test_an_entry_point_tracker_is_registered_listed_and_accepted(toy_plugin: None,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(METHODS.find("toy-drift"), TrackerMethod)
    assert main(["methods"]) == 0
    assert "- `toy-drift` (tracker): moves every point one pixel right per frame." in capsys.readouterr().out
    help_text = build_parser()._subparsers._group_actions[0].choices["benchmark"].format_help()
    assert "toy-drift" in help_text


def test_benchmark_runs_and_scores_an_entry_point_tracker(toy_plugin: None, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "small.pkl"
    assert main(["synth", str(dataset), "--preset", "small", "--frames", "6", "--videos", "1"]) == 0
    root = tmp_path / "d"
    assert main(["benchmark", str(dataset), "--methods", "zero_motion", "toy-drift", "--data-root", str(root),
                 "--size", "64x64"]) == 0
    out = capsys.readouterr().out
    assert "| toy-drift |" in out and "| zero_motion |" in out
    with (root / "results" / "small" / "runs.csv").open(encoding="utf-8") as runs:
        rows = {row["method"]: row for row in csv.DictReader(runs)}
    assert rows["toy-drift"]["status"] == "ok"
    assert rows["toy-drift"]["AJ"] != rows["zero_motion"]["AJ"]  # its own tracks were scored


def test_a_name_taken_by_a_builtin_cannot_be_registered_again() -> None:
    with pytest.raises(ValueError, match="a method named 'dis-c' is already registered"):
        METHODS.register(TrackerMethod(name="dis-c", description="shadow", factory=lambda engine: None))
