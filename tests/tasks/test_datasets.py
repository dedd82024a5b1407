"""The synthetic dataset of a run: generated once under the data root, then reused as it is."""

from __future__ import annotations

from pathlib import Path

from prefect.logging import disable_run_logger

from storage.tapvid import list_tapvid_videos, read_tapvid_video
from tasks.datasets import SyntheticDatasetSpec, make_synthetic_dataset


def test_the_dataset_is_generated_once_and_named_by_its_spec(tmp_path: Path) -> None:
    spec = SyntheticDatasetSpec(preset="small", videos=2, frames=4, size=(32, 40), seed=3)
    with disable_run_logger():
        path = Path(make_synthetic_dataset.fn(str(tmp_path), spec))
        assert path == tmp_path / "datasets" / "synthetic-small-2v-4f-32x40-seed3.pkl"
        assert list_tapvid_videos(path) == ["synth_000", "synth_001"]
        assert read_tapvid_video(path, "synth_000").shape == (4, 32, 40, 3)
        written = path.stat().st_mtime_ns
        assert Path(make_synthetic_dataset.fn(str(tmp_path), spec)) == path
    assert path.stat().st_mtime_ns == written  # reused, not generated again
    assert SyntheticDatasetSpec(videos=None, frames=None).name == "synthetic-bench-seed0"
