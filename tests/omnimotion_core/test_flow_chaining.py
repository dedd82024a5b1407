"""Chaining consecutive flows into long-gap correspondences, on a translating texture with exact flow."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.flow import ChainingConfig, chain_flow_set, lands_in_frame
from omnimotion_core.flow.flow_set_builder import count_correspondences
from omnimotion_core.flow_set import FlowSet

T, H, W = 6, 24, 28
STEP = np.array([2.0, 1.0], dtype=np.float32)  # (dx, dy) per frame


def _frames() -> np.ndarray:
    """A smooth random texture moving by STEP per frame (wrapping, so every landing pixel has its colour)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    return np.stack([np.roll(texture, shift=(t * int(STEP[1]), t * int(STEP[0])), axis=(0, 1)) for t in range(T)])


def _flow_set(long_gap_flow: str, long_gap_mask: np.ndarray | None) -> FlowSet:
    """All ordered pairs; exact flow at gap 1 (trusted where in frame), chosen flow and mask at longer gaps."""
    pairs = np.array([(i, j) for i in range(T) for j in range(T) if i != j], dtype=np.int64)
    flow = np.empty((len(pairs), H, W, 2), dtype=np.float32)
    mask = np.empty((len(pairs), H, W), dtype=bool)
    for row, (i, j) in enumerate(pairs):
        truth = np.broadcast_to(STEP * (j - i), (H, W, 2))
        if abs(j - i) == 1:
            flow[row], mask[row] = truth, lands_in_frame(truth)
            continue
        flow[row] = truth if long_gap_flow == "truth" else 0.0
        mask[row] = False if long_gap_mask is None else long_gap_mask
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=count_correspondences(pairs, mask, T))


def _row(flow_set: FlowSet, i: int, j: int) -> int:
    return int(np.flatnonzero((flow_set.pairs[:, 0] == i) & (flow_set.pairs[:, 1] == j))[0])


def _stays_in_frame(i: int, j: int) -> np.ndarray:
    """bool [H, W]: pixels of frame i whose true path to frame j never leaves the frame."""
    return lands_in_frame(np.broadcast_to(STEP * (j - i), (H, W, 2)).astype(np.float32))


@pytest.mark.parametrize(("i", "j"), [(0, 3), (0, 5), (4, 1), (5, 0), (2, 4)])
def test_chaining_recovers_exact_long_gap_flow_where_direct_flow_failed(i: int, j: int) -> None:
    chained = chain_flow_set(_flow_set("zero", None), _frames(), ChainingConfig())
    row = _row(chained, i, j)
    expected = _stays_in_frame(i, j)
    np.testing.assert_array_equal(chained.mask[row], expected)
    np.testing.assert_allclose(chained.flow[row][expected], np.broadcast_to(STEP * (j - i), (int(expected.sum()), 2)))


def test_adjacent_pairs_and_counts() -> None:
    flow_set = _flow_set("zero", None)
    chained = chain_flow_set(flow_set, _frames(), ChainingConfig())
    adjacent = np.abs(flow_set.pairs[:, 0] - flow_set.pairs[:, 1]) == 1
    np.testing.assert_array_equal(chained.flow[adjacent], flow_set.flow[adjacent])
    np.testing.assert_array_equal(chained.mask[adjacent], flow_set.mask[adjacent])
    np.testing.assert_array_equal(chained.counts, count_correspondences(chained.pairs, chained.mask, T))
    assert chained.counts.sum() > flow_set.counts.sum()


def test_a_trusted_direct_match_that_conflicts_with_the_chain_is_dropped() -> None:
    """DIS's failure mode: zero flow both ways at a long gap passes the cycle check but is wrong."""
    chained = chain_flow_set(_flow_set("zero", np.ones((H, W), dtype=bool)), _frames(), ChainingConfig())
    row = _row(chained, 0, 3)
    chain_valid = _stays_in_frame(0, 3)
    np.testing.assert_array_equal(chained.mask[row], ~chain_valid)  # direct kept only where no chain reaches
    np.testing.assert_array_equal(chained.flow[row][~chain_valid], 0.0)


def test_a_direct_match_that_agrees_with_the_chain_is_kept_as_it_is() -> None:
    left_half = np.zeros((H, W), dtype=bool)
    left_half[:, : W // 2] = True
    flow_set = _flow_set("truth", left_half)
    offset = np.float32(0.75)
    long_gap = np.abs(flow_set.pairs[:, 0] - flow_set.pairs[:, 1]) > 1
    shifted = FlowSet(flow_set.pairs, np.where(long_gap[:, None, None, None], flow_set.flow + offset, flow_set.flow),
                      flow_set.mask, flow_set.counts)
    chained = chain_flow_set(shifted, _frames(), ChainingConfig())
    row = _row(chained, 0, 2)
    trusted_direct = left_half  # every left-half pixel: direct is trusted there and within 4 px of the chain
    expected = np.broadcast_to(STEP * 2 + offset, (int(trusted_direct.sum()), 2))
    np.testing.assert_allclose(chained.flow[row][trusted_direct], expected)
    assert chained.mask[row][trusted_direct].all()


def test_the_colour_check_rejects_chained_matches_of_another_colour() -> None:
    frames = _frames()
    frames[3] = 255 - frames[3]
    chained = chain_flow_set(_flow_set("zero", None), frames, ChainingConfig(max_color_distance=0.05))
    assert not chained.mask[_row(chained, 0, 3)].any()
    assert chained.mask[_row(chained, 0, 2)].any()


def test_disabled_chaining_returns_the_flow_set_unchanged() -> None:
    flow_set = _flow_set("zero", None)
    assert chain_flow_set(flow_set, _frames(), ChainingConfig(enabled=False)) is flow_set


def test_chaining_needs_every_neighbouring_pair() -> None:
    flow_set = _flow_set("zero", None)
    keep = ~((flow_set.pairs[:, 0] == 2) & (flow_set.pairs[:, 1] == 3))
    partial = FlowSet(flow_set.pairs[keep], flow_set.flow[keep], flow_set.mask[keep], flow_set.counts)
    with pytest.raises(ValueError, match=r"pair \(2, 3\) is missing"):
        chain_flow_set(partial, _frames(), ChainingConfig())


@pytest.mark.parametrize("field", ["max_cycle_error", "max_color_distance", "max_disagreement"])
def test_config_rejects_non_positive_thresholds(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ChainingConfig(**{field: 0.0})
