"""Two writers of the same store at once: whoever publishes first wins, the other ends with the same
finished store, and nothing half-written is left behind or read as complete."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from omnimotion_core.flow.consistency import ConsistencyConfig
from omnimotion_core.flow.engines import FlowEngineConfig
from omnimotion_core.flow.flow_set_builder import flow_set_params
from omnimotion_core.flow.pairs import PairSelectionConfig, select_pairs
from omnimotion_core.flow_set import FlowSet
from storage import fit_store, layout, publish
from storage.fit_store import (
    latest_checkpoint,
    list_checkpoints,
    open_fit,
    save_checkpoint,
)
from storage.flow_store import (
    FlowSetWriter,
    flow_sets_dir,
    list_flow_sets,
    read_flow_set,
)
from storage.prediction_store import Predictions, read_predictions, write_predictions
from storage.video_sources import ArraySource
from storage.video_store import ingest, open_video

PARAMS = flow_set_params(FlowEngineConfig(), PairSelectionConfig(mode="all"), ConsistencyConfig())
NUM_FRAMES, SIZE = 4, (8, 12)


@pytest.fixture
def video_group(tmp_path: Path) -> Path:
    frames = np.random.default_rng(0).integers(0, 256, (NUM_FRAMES, *SIZE, 3), dtype=np.uint8)
    return ingest(ArraySource(frames), tmp_path, "clip")


def _flow_set() -> FlowSet:
    rng = np.random.default_rng(1)
    pairs = select_pairs(NUM_FRAMES, PairSelectionConfig(mode="all"))
    mask = rng.random((len(pairs), *SIZE)) > 0.3
    counts = np.stack([mask[pairs[:, 0] == t].sum(axis=0) for t in range(NUM_FRAMES)]).astype(np.int32)
    flow = rng.normal(0.0, 5.0, (len(pairs), *SIZE, 2)).astype(np.float16).astype(np.float32)
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=counts)


def _rows(flow_set: FlowSet, rows: slice) -> FlowSet:
    return FlowSet(pairs=flow_set.pairs[rows], flow=flow_set.flow[rows], mask=flow_set.mask[rows], counts=flow_set.counts)


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{layout.PARTIAL_MARKER}*"))


def _lock_holder(lock: Path, exclusive: bool, seconds: float, timeout: float = 600.0) -> list[str]:
    """Command of a process that takes ``lock``, says "held" and keeps it for ``seconds``."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from storage.publish import file_lock
        with file_lock(Path({str(lock)!r}), exclusive={exclusive}, timeout={timeout}):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    return [sys.executable, "-c", script]


def test_a_writer_whose_shared_partial_set_was_published_by_another_ends_with_that_set(video_group: Path) -> None:
    expected = _flow_set()
    first = FlowSetWriter.open(video_group, "set", expected.pairs, NUM_FRAMES, SIZE, PARAMS)
    first.write(_rows(expected, slice(0, 4)))
    second = FlowSetWriter.open(video_group, "set", expected.pairs, NUM_FRAMES, SIZE, PARAMS)
    assert second.partial_path == first.partial_path  # a second run joins the pairs already written
    second.write(_rows(expected, slice(4, None)))
    published = second.finish()

    first.write(_rows(expected, slice(4, 8)))  # still computing when the other run published
    assert first.finish() == published
    assert _partials(flow_sets_dir(video_group)) == []
    assert list_flow_sets(video_group) == ["set"]
    stored = read_flow_set(video_group, "set")
    np.testing.assert_array_equal(stored.flow, expected.flow)
    np.testing.assert_array_equal(stored.counts, expected.counts)


def test_a_finish_waits_for_a_chunk_being_written(video_group: Path, tmp_path: Path) -> None:
    expected = _flow_set()
    writer = FlowSetWriter.open(video_group, "set", expected.pairs, NUM_FRAMES, SIZE, PARAMS)
    writer.write(_rows(expected, slice(0, 8)))
    lock = publish.writer_lock_path(writer.final_path)
    holder = subprocess.Popen(_lock_holder(lock, exclusive=False, seconds=3), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        writer.write(_rows(expected, slice(8, None)))  # shared: runs beside the other chunk writer
        started = time.monotonic()
        writer.finish()
        assert time.monotonic() - started > 0.5  # the exclusive publish waited for the other writer
    finally:
        holder.wait(timeout=30)
    np.testing.assert_array_equal(read_flow_set(video_group, "set").counts, expected.counts)


def test_a_lock_held_too_long_times_out_with_a_clear_error(tmp_path: Path) -> None:
    lock = tmp_path / ".set.lock"
    with publish.file_lock(lock, exclusive=True):
        command = _lock_holder(lock, exclusive=True, seconds=0, timeout=0.5)
        failed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0
    assert "still locked after 0.5 s" in failed.stderr and str(lock) in failed.stderr


def test_a_lock_of_a_killed_holder_is_free_again(tmp_path: Path) -> None:
    lock = tmp_path / ".set.lock"
    holder = subprocess.Popen(_lock_holder(lock, exclusive=True, seconds=60), stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=30)
    started = time.monotonic()
    with publish.file_lock(lock, exclusive=True, timeout=5):
        assert time.monotonic() - started < 1.0


def test_two_video_writers_racing_for_one_name_leave_one_complete_group(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (NUM_FRAMES, *SIZE, 3), dtype=np.uint8)
    final = layout.video_path(tmp_path, "clip")
    final.parent.mkdir(parents=True)
    loser = publish.new_partial_path(final)
    winner = ingest(ArraySource(frames), tmp_path, "clip")
    zarr.open_group(str(loser), mode="a", zarr_format=3).attrs["complete"] = True
    assert publish.publish(loser, final) is False
    assert not loser.exists()
    np.testing.assert_array_equal(open_video(winner).read_frames(), frames)


def test_predictions_written_again_keep_the_first_copy(video_group: Path) -> None:
    predictions = Predictions(
        query_points=np.zeros((2, 3), np.float32), tracks=np.ones((2, NUM_FRAMES, 2), np.float32),
        occluded=np.zeros((2, NUM_FRAMES), bool), method="zero_motion", params={"query_mode": "first"},
    )
    path = write_predictions(video_group, predictions)
    stamp = (path / "zarr.json").stat().st_ino
    assert write_predictions(video_group, predictions) == path
    assert (path / "zarr.json").stat().st_ino == stamp
    assert read_predictions(path).method == "zero_motion"
    assert _partials(video_group) == []


def test_latest_checkpoint_survives_another_writer_rotating_it_away(
    video_group: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit = open_fit(video_group, "fit", {"model": {}, "flow_set": "set"})
    for step in (2, 4):
        save_checkpoint(fit, step, {"step": torch.tensor(step)})
    listed = list_checkpoints(fit)
    save_checkpoint(fit, 6, {"step": torch.tensor(6)})  # another writer of the same fit moves on...
    listed[-1][1].unlink()  # ...and rotates step 4 away between our listing and our reading
    stale = iter([listed])
    monkeypatch.setattr(fit_store, "list_checkpoints", lambda fit_dir: next(stale, None) or list_checkpoints(fit_dir))
    state = latest_checkpoint(fit)
    assert state is not None and int(state["step"]) == 6
