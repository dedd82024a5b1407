"""Tests for storage/raft_weights.py: state dicts round-trip into RAFT; unusable files are refused by name."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from omnimotion_core.flow.raft import (
    build_raft,
    compute_raft_flow,
    load_raft_state_dict,
    raft_variant_of,
)
from storage.errors import InputError
from storage.raft_weights import read_raft_weights


@pytest.mark.parametrize("variant", ["large", "small"])
def test_saved_random_raft_round_trips_to_identical_flow(tmp_path, variant):
    torch.manual_seed(1)
    saved = build_raft(variant)
    path = tmp_path / f"raft_{variant}.pth"
    torch.save(saved.state_dict(), path)

    weights = read_raft_weights(path)
    assert raft_variant_of(weights) == variant
    torch.manual_seed(2)
    loaded = build_raft(variant)
    load_raft_state_dict(loaded, weights)

    rng = np.random.default_rng(0)
    frames_i, frames_j = (rng.integers(0, 256, (1, 20, 28, 3), dtype=np.uint8) for _ in range(2))
    expected = compute_raft_flow(saved, frames_i, frames_j, num_iterations=2)
    np.testing.assert_array_equal(compute_raft_flow(loaded, frames_i, frames_j, num_iterations=2), expected)


def test_missing_file_names_the_path_and_how_to_get_the_weights(tmp_path):
    path = tmp_path / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    message = rf"RAFT weights not found at {re.escape(str(path))}; download torchvision's raft_large_C_T_SKHT_V2"
    with pytest.raises(InputError, match=message):
        read_raft_weights(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="is not a file"):
        read_raft_weights(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n"], ids=["empty", "text"])
def test_file_that_is_not_a_torch_checkpoint_is_refused_by_name(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    message = rf"{re.escape(str(path))} is not a torch checkpoint readable with weights_only=True"
    with pytest.raises(InputError, match=message):
        read_raft_weights(path)


def test_pickled_module_is_refused_without_running_it(tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(InputError, match=r"not a torch checkpoint readable with weights_only=True \(UnpicklingError"):
        read_raft_weights(path)


def test_state_dict_nested_under_state_dict_key_is_unwrapped(tmp_path):
    path = tmp_path / "nested.pth"
    torch.save({"state_dict": {"a.weight": torch.ones(2)}}, path)
    weights = read_raft_weights(path)
    assert list(weights) == ["a.weight"]
    torch.testing.assert_close(weights["a.weight"], torch.ones(2))


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        ({"state_dict": {"a": torch.ones(1)}, "epoch": 3}, r"got str 'state_dict' -> dict"),
        ({"model": {"a": torch.ones(1)}}, r"got str 'model' -> dict \(a nested checkpoint"),
        ([torch.ones(1)], r"must hold a state dict \(name -> tensor\), got list"),
        ({}, "empty state dict"),
    ],
    ids=["extra_key", "other_nesting", "list", "empty"],
)
def test_checkpoint_that_is_not_a_dict_of_tensors_is_refused(tmp_path, checkpoint, message):
    path = tmp_path / "weights.pth"
    torch.save(checkpoint, path)
    with pytest.raises(InputError, match=message):
        read_raft_weights(path)
