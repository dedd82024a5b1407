"""Tests for omnimotion_core.flow.pairs: which pairs each mode selects, and in which order."""

import numpy as np
import pytest

from omnimotion_core.flow.pairs import (
    PairSelectionConfig,
    select_pairs,
    split_pairs,
    unordered_pairs,
)


def test_all_mode_selects_every_ordered_pair_once():
    pairs = select_pairs(6, PairSelectionConfig(mode="all"))
    assert pairs.dtype == np.int64 and pairs.shape == (30, 2)
    expected = {(i, j) for i in range(6) for j in range(6) if i != j}
    assert {tuple(p) for p in pairs.tolist()} == expected


def test_pairs_come_as_forward_then_reverse_sorted_by_unordered_pair():
    pairs = select_pairs(3, PairSelectionConfig(mode="all"))
    assert pairs.tolist() == [[0, 1], [1, 0], [0, 2], [2, 0], [1, 2], [2, 1]]


def test_windowed_mode_takes_gaps_up_to_window_plus_doubling_long_gaps():
    pairs = select_pairs(40, PairSelectionConfig(mode="windowed", window=4))
    gaps = np.abs(pairs[:, 1] - pairs[:, 0])
    assert sorted(set(gaps.tolist())) == [1, 2, 3, 4, 8, 16, 32]
    # sum over gaps g of (40 - g) unordered pairs, both directions
    assert len(pairs) == 2 * sum(40 - g for g in (1, 2, 3, 4, 8, 16, 32)) == 428
    assert len(unordered_pairs(pairs)) * 2 == len(pairs)


def test_windowed_mode_on_a_short_video_is_all_pairs():
    assert len(select_pairs(5, PairSelectionConfig(mode="windowed", window=8))) == 20


def test_auto_mode_switches_to_windowed_above_the_threshold():
    config = PairSelectionConfig(mode="auto", window=4, auto_max_frames_all=10)
    assert len(select_pairs(10, config)) == 90
    assert len(select_pairs(11, config)) == 2 * sum(11 - g for g in (1, 2, 3, 4, 8))


def test_one_frame_video_is_an_error():
    with pytest.raises(ValueError, match="at least 2 frames .* got 1"):
        select_pairs(1, PairSelectionConfig())


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="got 'dense'"):
        PairSelectionConfig(mode="dense")


def test_unordered_pairs_and_split_pairs():
    unordered = unordered_pairs(np.array([[2, 0], [0, 2], [1, 3]]))
    assert unordered.tolist() == [[0, 2], [1, 3]]
    chunks = split_pairs(select_pairs(4, PairSelectionConfig(mode="all")), 5)
    assert [len(chunk) for chunk in chunks] == [5, 5, 2]
    with pytest.raises(ValueError, match="different frames"):
        unordered_pairs(np.array([[1, 1]]))
