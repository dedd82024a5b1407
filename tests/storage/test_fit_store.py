"""Fit folders: atomic checkpoints, resume point, parameter conflicts, completion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from omnimotion_core.flow import Matches
from storage.errors import IncompleteStoreError, InputError, StoreConflictError
from storage.fit_store import (
    complete_fit,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    open_fit,
    read_depth,
    read_matches,
    save_checkpoint,
    write_depth,
    write_matches,
)


def test_checkpoints_round_trip_and_only_the_latest_are_kept(tmp_path: Path) -> None:
    fit = open_fit(tmp_path / "v.zarr", "fit-a", {"steps": 10})
    for step in (1, 2, 3):
        save_checkpoint(fit, step, {"step": step, "weights": torch.full((2,), float(step))}, keep=2)
    assert [step for step, _ in list_checkpoints(fit)] == [2, 3]
    state = latest_checkpoint(fit)
    assert state is not None and state["step"] == 3
    assert torch.equal(state["weights"], torch.tensor([3.0, 3.0]))
    assert not list((fit / "checkpoints").glob(".step_*"))


def test_a_fit_without_checkpoints_has_no_resume_point(tmp_path: Path) -> None:
    assert latest_checkpoint(open_fit(tmp_path / "v.zarr", "fit-a", {})) is None


def test_reopening_with_other_parameters_is_refused(tmp_path: Path) -> None:
    open_fit(tmp_path / "v.zarr", "fit-a", {"steps": 10})
    assert open_fit(tmp_path / "v.zarr", "fit-a", {"steps": 10}).name == "fit-a"
    with pytest.raises(StoreConflictError, match="started with other parameters"):
        open_fit(tmp_path / "v.zarr", "fit-a", {"steps": 20})


def test_checkpoint_holding_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"payload": Path("/etc")}, path)
    with pytest.raises(InputError, match=r"evil\.pt: not a readable checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_depth_is_readable_only_once_complete(tmp_path: Path) -> None:
    fit = open_fit(tmp_path / "v.zarr", "fit-a", {})
    depth = np.linspace(0, 2, 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    with pytest.raises(IncompleteStoreError, match="has not completed"):
        write_depth(fit, depth)
    complete_fit(fit, {"fit_seconds": 1.5})
    with pytest.raises(IncompleteStoreError, match="no pseudo-depth exported"):
        read_depth(fit)
    write_depth(fit, depth)
    np.testing.assert_allclose(read_depth(fit), depth, atol=1e-3)


def test_matches_round_trip_and_an_unfinished_write_reads_as_none(tmp_path: Path) -> None:
    fit = open_fit(tmp_path / "v.zarr", "fit-a", {})
    assert read_matches(fit) is None
    matches = Matches(frames=np.array([[0, 3], [2, 7]]), source=np.array([[1.5, 2.0], [30.25, 4.0]], np.float32),
                      target=np.array([[9.0, 2.5], [28.0, 40.75]], np.float32))
    write_matches(fit, matches)
    stored = read_matches(fit)
    assert stored is not None
    for name in ("frames", "source", "target"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(matches, name))
    assert stored.frames.dtype == np.int64 and stored.source.dtype == np.float32
    write_matches(fit, Matches(frames=np.zeros((0, 2), np.int64), source=np.zeros((0, 2), np.float32),
                               target=np.zeros((0, 2), np.float32)))
    empty = read_matches(fit)
    assert empty is not None and len(empty) == 0
    zarr.open_group(str(fit / "matches"), mode="r+").attrs["complete"] = False
    assert read_matches(fit) is None
