"""Tests for omnimotion_core.flow.mft: multi-gap chaining (MFT) on flows with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.flow import (
    ChainingConfig,
    DisConfig,
    FlowEngineConfig,
    MftConfig,
    build_flow_engine,
    chain_flow_set,
    count_correspondences,
    track_mft,
)
from omnimotion_core.flow.mft import candidate_sources, follow_points, needed_pairs
from omnimotion_core.flow_set import FlowSet

SIZE = 48
NUM_FRAMES = 12
VELOCITY = np.array([1.25, 0.5])  # (dx, dy) pixels per frame of the background


def _background_flow(a: int, b: int) -> np.ndarray:
    return np.broadcast_to(VELOCITY * (b - a), (SIZE, SIZE, 2)).astype(np.float32)


def _occluder_box(t: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) (x1, y1 exclusive) of a 14 x 10 px block moving right at 6 px per frame, in frame t."""
    x0 = 6 * t - 22
    return x0, 18, x0 + 14, 28


def _occluded_flow(a: int, b: int) -> np.ndarray:
    """Exact flow a -> b of a background translating by VELOCITY under a block moving at (6, 0) px per frame."""
    flow = _background_flow(a, b).copy()
    x0, y0, x1, y1 = _occluder_box(a)
    flow[max(y0, 0):y1, max(x0, 0):max(x1, 0)] = (6.0 * (b - a), 0.0)
    return flow


def _reader(flow_of):
    cache: dict[tuple[int, int], np.ndarray] = {}

    def read(a: int, b: int) -> np.ndarray:
        if (a, b) not in cache:
            cache[a, b] = flow_of(a, b)
        return cache[a, b]

    return read


def test_exact_flows_give_exact_tracks() -> None:
    points = np.array([[5.0, 5.0], [10.3, 20.7], [2.5, 30.0]])
    followed = follow_points(points, 0, NUM_FRAMES, _reader(_background_flow), MftConfig())
    expected = points[None] + np.arange(NUM_FRAMES)[:, None, None] * VELOCITY
    inside = (expected[..., 0] <= SIZE - 1) & (expected[..., 1] <= SIZE - 1)
    np.testing.assert_allclose(followed.positions, expected, atol=1e-4)
    assert np.array_equal(followed.occluded, ~inside)
    assert followed.sigma[0].max() == 0 and followed.sigma[1:].max() <= MftConfig().flow_sigma * np.sqrt(2) + 1e-6


def test_point_behind_an_occluder_is_occluded_there_and_found_again() -> None:
    point = np.array([[13.0, 20.0]])  # background; the occluder passes over it in frames 5-7
    expected = point + np.arange(NUM_FRAMES)[:, None] * VELOCITY
    covered = []
    for t in range(NUM_FRAMES):
        x0, y0, x1, y1 = _occluder_box(t)
        covered.append(x0 <= expected[t, 0] <= x1 - 1 and y0 <= expected[t, 1] <= y1 - 1)
    covered = np.array(covered)
    assert covered.tolist() == [False] * 5 + [True] * 3 + [False] * 4
    followed = follow_points(point, 0, NUM_FRAMES, _reader(_occluded_flow), MftConfig(gaps=(1, 2, 4, 8)))
    assert followed.occluded[:, 0].tolist() == covered.tolist()
    np.testing.assert_allclose(followed.positions[8:, 0], expected[8:], atol=1e-4)


def test_occlusion_is_found_again_through_the_gaps_without_the_direct_flow() -> None:
    point = np.array([[13.0, 20.0]])
    expected = point + np.arange(NUM_FRAMES)[:, None] * VELOCITY

    def read(a: int, b: int) -> np.ndarray | None:
        return None if abs(b - a) not in (1, 2, 4, 8) else _occluded_flow(a, b)

    followed = follow_points(point, 0, NUM_FRAMES, read, MftConfig(gaps=(1, 2, 4, 8)))
    assert followed.occluded[:, 0].tolist() == [False] * 5 + [True] * 3 + [False] * 4
    np.testing.assert_allclose(followed.positions[8:, 0], expected[8:], atol=1e-4)


def test_point_leaving_the_frame_is_occluded_from_then_on() -> None:
    def leftwards(a: int, b: int) -> np.ndarray:
        return np.broadcast_to(np.array([-4.0, 0.0]) * (b - a), (SIZE, SIZE, 2)).astype(np.float32)

    followed = follow_points(np.array([[9.0, 10.0]]), 0, 6, _reader(leftwards), MftConfig())
    assert followed.occluded[:, 0].tolist() == [False, False, False, True, True, True]  # x = 9, 5, 1, -3, ...
    np.testing.assert_allclose(followed.positions[:, 0, 0], 9.0 - 4.0 * np.arange(6), atol=1e-4)


def test_agreeing_candidates_outvote_a_consistent_but_wrong_long_flow() -> None:
    """A direct flow 0 -> t that is wrong in both directions passes the cycle check with the smallest
    uncertainty: MFT's rule (``consensus_radius=0``) takes it; the consensus keeps the chained candidates."""
    wrong = np.array([6.0, -4.0])

    def flow_of(a: int, b: int) -> np.ndarray:
        if 0 in (a, b) and abs(b - a) >= 3:
            return np.broadcast_to(wrong * np.sign(b - a), (SIZE, SIZE, 2)).astype(np.float32)
        return _background_flow(a, b)

    point = np.array([[20.0, 20.0]])
    truth = point[0] + 5 * VELOCITY
    consensus = follow_points(point, 0, 6, _reader(flow_of), MftConfig(gaps=(1, 2)))
    paper = follow_points(point, 0, 6, _reader(flow_of), MftConfig(gaps=(1, 2), consensus_radius=0, max_sigma=None))
    np.testing.assert_allclose(consensus.positions[5, 0], truth, atol=1e-4)
    np.testing.assert_allclose(paper.positions[5, 0], point[0] + wrong, atol=1e-4)


def test_uncertain_points_are_reported_occluded_above_max_sigma() -> None:
    """Only gap-1 flows: the uncertainty grows as flow_sigma * sqrt(steps), so past max_sigma a point is reported
    occluded while its position still follows the flow."""

    def read(a: int, b: int) -> np.ndarray | None:
        return _background_flow(a, b) if abs(b - a) == 1 else None

    followed = follow_points(np.array([[5.0, 5.0]]), 0, 10, read, MftConfig(max_sigma=2.5))
    steps = np.arange(10)
    np.testing.assert_allclose(followed.sigma[:, 0], np.sqrt(steps), atol=1e-5)
    assert followed.occluded[:, 0].tolist() == (np.sqrt(steps) > 2.5).tolist()
    np.testing.assert_allclose(followed.positions[9, 0], [5.0, 5.0] + 9 * VELOCITY, atol=1e-4)


def test_missing_neighbour_flow_is_an_error() -> None:
    with pytest.raises(ValueError, match="between frames 0 and 1 are missing"):
        follow_points(np.zeros((1, 2)), 0, 3, lambda a, b: None, MftConfig())


def test_candidate_sources_and_needed_pairs() -> None:
    assert candidate_sources(0, 3, (1, 2)) == [2, 1, 0]
    assert candidate_sources(0, 4, (1, 2)) == [3, 2, 0]
    assert candidate_sources(5, 1, (1, 2, 4)) == [2, 3, 5]
    pairs = needed_pairs(np.array([0, 0]), 5, (1, 2))
    unordered = {tuple(sorted(pair)) for pair in pairs.tolist()}
    assert unordered == {(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3), (0, 4), (2, 4), (3, 4)}
    assert len(pairs) == 2 * len(unordered)
    assert all(pairs[k].tolist() == pairs[k + 1][::-1].tolist() for k in range(0, len(pairs), 2))
    long_video = needed_pairs(np.array([0]), 100, MftConfig().gaps)
    assert len(long_video) < 0.15 * 100 * 99


@pytest.mark.parametrize("field", ["max_cycle_error", "flow_sigma"])
def test_config_rejects_non_positive_thresholds(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MftConfig(**{field: 0.0})


def test_config_rejects_gaps_without_one() -> None:
    with pytest.raises(ValueError, match="gaps"):
        MftConfig(gaps=(2, 4))


def test_mft_rule_derives_exact_correspondences_from_exact_flows() -> None:
    pairs = np.array([(i, j) for i in range(5) for j in range(5) if i != j], dtype=np.int64)
    flow = np.stack([_background_flow(int(i), int(j)) for i, j in pairs])
    mask = np.ones(flow.shape[:3], dtype=bool)
    direct = FlowSet(pairs=pairs, flow=flow, mask=mask, counts=count_correspondences(pairs, mask, 5))
    frames = np.zeros((5, SIZE, SIZE, 3), dtype=np.uint8)
    derived = chain_flow_set(direct, frames, ChainingConfig(rule="mft"))
    np.testing.assert_allclose(derived.flow, flow, atol=1e-4)
    grid_x = np.arange(SIZE)[None, None, :] + flow[..., 0]
    grid_y = np.arange(SIZE)[None, :, None] + flow[..., 1]
    np.testing.assert_array_equal(derived.mask, (grid_x >= 0) & (grid_x <= SIZE - 1) & (grid_y >= 0) & (grid_y <= SIZE - 1))


def test_track_mft_reads_known_flows_instead_of_computing_them() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    queries = np.array([[0.0, 10.0, 12.0], [3.0, 20.0, 5.0]])
    engine = build_flow_engine(FlowEngineConfig(dis=DisConfig(preset="fast")))
    computed: list[tuple[int, int]] = []
    first, _ = track_mft(frames, queries, engine, MftConfig(), progress=lambda done, total: computed.append((done, total)))
    assert computed and computed[-1][0] == computed[-1][1]
    flows = {}

    def known(a: int, b: int) -> np.ndarray:
        if (a, b) not in flows:
            flows[a, b] = engine.compute(frames[[a]], frames[[b]])[0].astype(np.float16)
        return flows[a, b]

    calls: list[tuple[int, int]] = []
    again, _ = track_mft(frames, queries, engine, MftConfig(), known=known, progress=lambda *c: calls.append(c))
    assert not calls
    np.testing.assert_array_equal(again, first)
