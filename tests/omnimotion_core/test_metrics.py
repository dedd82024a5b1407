"""Tests of omnimotion_core/metrics.py: TAP-Vid scores and temporal coherence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnimotion_core.metrics import (
    THRESHOLDS_PX,
    pck_t,
    scored_frames,
    tapvid_metrics,
    temporal_coherence,
)

TAPVID_KEYS = (
    ["occlusion_accuracy"]
    + [f"pts_within_{d}" for d in THRESHOLDS_PX]
    + [f"jaccard_{d}" for d in THRESHOLDS_PX]
    + ["average_jaccard", "average_pts_within_thresh"]
)


def _random_case(seed: int, query_mode: str, noise_px: float) -> tuple[np.ndarray, ...]:
    """B=2 videos, N=7 queries, T=9 frames: random occlusion, noisy predictions, flipped flags.

    Each query frame is visible; with ``query_mode="first"`` every frame before it is occluded, as
    tapnet's ``sample_queries_first`` guarantees. Returns the arguments of tapvid_metrics in order.
    """
    rng = np.random.default_rng(seed)
    batch, num_points, num_frames = 2, 7, 9
    gt_occluded = rng.random((batch, num_points, num_frames)) < 0.35
    query_frames = rng.integers(0, num_frames, size=(batch, num_points))
    frames = np.arange(num_frames)
    gt_occluded[frames == query_frames[..., None]] = False
    if query_mode == "first":
        gt_occluded[frames < query_frames[..., None]] = True
    gt_tracks = rng.uniform(0.0, 256.0, size=(batch, num_points, num_frames, 2))
    pred_tracks = gt_tracks + rng.normal(0.0, noise_px, size=gt_tracks.shape)
    pred_occluded = gt_occluded ^ (rng.random(gt_occluded.shape) < 0.25)
    at_query = np.take_along_axis(gt_tracks, query_frames[..., None, None], axis=2)[:, :, 0]
    query_points = np.stack([query_frames, at_query[..., 1], at_query[..., 0]], axis=-1).astype(np.float64)
    return query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks


# Expected values were produced by running tapnet's compute_tapvid_metrics
# (google-deepmind/tapnet, tapnet/tapvid/evaluation_datasets.py at commit
# 025fba614fddbdb109cba82725ba902ef5ab3b97; the function is identical at c2b3b6a5fce7) on the inputs
# of _random_case(seed, query_mode, noise_px) above, i.e. numpy.random.default_rng(seed).
TAPNET_REFERENCE = [
    (
        0,
        "first",
        2.0,
        {
            "occlusion_accuracy": [0.75, 0.8888888888888888],
            "pts_within_1": [0.041666666666666664, 0.15384615384615385],
            "jaccard_1": [0.0, 0.09090909090909091],
            "pts_within_2": [0.2916666666666667, 0.46153846153846156],
            "jaccard_2": [0.10256410256410256, 0.2631578947368421],
            "pts_within_4": [0.7916666666666666, 0.9230769230769231],
            "jaccard_4": [0.43333333333333335, 0.7142857142857143],
            "pts_within_8": [1.0, 1.0],
            "jaccard_8": [0.6538461538461539, 0.8461538461538461],
            "pts_within_16": [1.0, 1.0],
            "jaccard_16": [0.6538461538461539, 0.8461538461538461],
            "average_jaccard": [0.3687179487179487, 0.5521320784478679],
            "average_pts_within_thresh": [0.625, 0.7076923076923076],
        },
    ),
    (
        1,
        "strided",
        3.0,
        {
            "occlusion_accuracy": [0.8392857142857143, 0.7142857142857143],
            "pts_within_1": [0.15, 0.0],
            "jaccard_1": [0.08450704225352113, 0.0],
            "pts_within_2": [0.25, 0.07692307692307693],
            "jaccard_2": [0.1323529411764706, 0.014084507042253521],
            "pts_within_4": [0.725, 0.6410256410256411],
            "jaccard_4": [0.4807692307692308, 0.3333333333333333],
            "pts_within_8": [1.0, 0.9487179487179487],
            "jaccard_8": [0.7906976744186046, 0.6],
            "pts_within_16": [1.0, 1.0],
            "jaccard_16": [0.7906976744186046, 0.6363636363636364],
            "average_jaccard": [0.4558049126072864, 0.31675629534784466],
            "average_pts_within_thresh": [0.625, 0.5333333333333334],
        },
    ),
    (
        2,
        "first",
        6.0,
        {
            "occlusion_accuracy": [0.6875, 0.7727272727272727],
            "pts_within_1": [0.0, 0.0],
            "jaccard_1": [0.0, 0.0],
            "pts_within_2": [0.0, 0.06666666666666667],
            "jaccard_2": [0.0, 0.0],
            "pts_within_4": [0.16666666666666666, 0.2],
            "jaccard_4": [0.10526315789473684, 0.08],
            "pts_within_8": [0.75, 0.4],
            "jaccard_8": [0.5, 0.22727272727272727],
            "pts_within_16": [0.9166666666666666, 0.9333333333333333],
            "jaccard_16": [0.6153846153846154, 0.6875],
            "average_jaccard": [0.24412955465587044, 0.19895454545454544],
            "average_pts_within_thresh": [0.36666666666666664, 0.32],
        },
    ),
]


@pytest.mark.parametrize(("seed", "query_mode", "noise_px", "expected"), TAPNET_REFERENCE)
def test_metrics_match_tapnet_on_random_cases(seed, query_mode, noise_px, expected):
    metrics = tapvid_metrics(*_random_case(seed, query_mode, noise_px), query_mode=query_mode)
    for key in TAPVID_KEYS:
        np.testing.assert_allclose(metrics[key], expected[key], rtol=0, atol=1e-6, err_msg=key)


def _hand_case() -> tuple[np.ndarray, ...]:
    """One video, two points, four frames; the numbers are worked out in the tests below.

    Point 0, query at t=0, truly visible at (10, 10) in every frame. Predicted visible at t=1..3 at
    distances 0, 1.5 (x + 1.5) and 5 (x + 3, y + 4). At its query frame t=0 the prediction is
    (-10, 10), 20 px off and flagged occluded: that frame must never be scored.
    Point 1, query at t=1, true position (50, 60), truly visible at t=1 and t=3 only. Predicted
    position exact; predicted visible at t=0 and t=2 (both wrong) and occluded at t=3 (wrong).
    """
    query_points = np.array([[[0.0, 10.0, 10.0], [1.0, 60.0, 50.0]]])
    gt_occluded = np.array([[[False, False, False, False], [True, False, True, False]]])
    gt_tracks = np.empty((1, 2, 4, 2))
    gt_tracks[0, 0] = [10.0, 10.0]
    gt_tracks[0, 1] = [50.0, 60.0]
    pred_tracks = gt_tracks.copy()
    pred_tracks[0, 0] = [[-10.0, 10.0], [10.0, 10.0], [11.5, 10.0], [13.0, 14.0]]
    pred_occluded = np.array([[[True, False, False, False], [False, False, False, True]]])
    return query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks


def test_metrics_match_hand_computation_for_first_queries():
    # Scored (first mode): point 0 at t=1,2,3; point 1 at t=2,3 -> 5 entries.
    # OA: point 0 all right (3); point 1 wrong at t=2 and t=3 -> 3/5.
    # Truly visible scored: distances 0, 1.5, 5 (point 0) and 0 (point 1, t=3) -> 4 entries.
    #   pts_within: d=1 -> {0, 0} = 2/4; d=2, 4 -> 3/4; d=8, 16 -> 4/4; mean 0.8.
    # Jaccard = TP / (4 visible + FP). Point 1 at t=3 is predicted occluded, so never a TP.
    #   FP: point 1 t=2 (truly occluded) always; point 0 t=3 (5 px) for d <= 4; point 0 t=2 for d=1.
    #   d=1: 1 / (4 + 3); d=2, 4: 2 / (4 + 2); d=8, 16: 3 / (4 + 1).
    metrics = tapvid_metrics(*_hand_case(), query_mode="first")
    jaccard = [1 / 7, 1 / 3, 1 / 3, 3 / 5, 3 / 5]
    pts_within = [2 / 4, 3 / 4, 3 / 4, 1.0, 1.0]
    assert metrics["occlusion_accuracy"] == pytest.approx([3 / 5])
    for d, expected_jaccard, expected_within in zip(THRESHOLDS_PX, jaccard, pts_within, strict=True):
        assert metrics[f"jaccard_{d}"] == pytest.approx([expected_jaccard])
        assert metrics[f"pts_within_{d}"] == pytest.approx([expected_within])
    assert metrics["average_jaccard"] == pytest.approx([211 / 525])  # (1/7 + 2/3 + 6/5) / 5
    assert metrics["average_pts_within_thresh"] == pytest.approx([0.8])


def test_all_but_query_rule_also_scores_frames_before_a_first_query():
    # Adds point 1 at t=0 (truly occluded, predicted visible): OA 3/6, one more FP at every d.
    metrics = tapvid_metrics(*_hand_case(), query_mode="first", frame_rule="all_but_query")
    jaccard = [1 / 8, 2 / 7, 2 / 7, 3 / 6, 3 / 6]
    assert metrics["occlusion_accuracy"] == pytest.approx([3 / 6])
    for d, expected_jaccard in zip(THRESHOLDS_PX, jaccard, strict=True):
        assert metrics[f"jaccard_{d}"] == pytest.approx([expected_jaccard])
    assert metrics["average_pts_within_thresh"] == pytest.approx([0.8])  # no truly visible frame added


def test_strided_queries_score_frames_before_the_query():
    strided = tapvid_metrics(*_hand_case(), query_mode="strided")
    all_but_query = tapvid_metrics(*_hand_case(), query_mode="first", frame_rule="all_but_query")
    assert strided["occlusion_accuracy"] == pytest.approx([3 / 6])
    for key in TAPVID_KEYS:
        np.testing.assert_array_equal(strided[key], all_but_query[key], err_msg=key)


@pytest.mark.parametrize("query_mode", ["first", "strided"])
def test_all_but_query_rule_ignores_query_mode(query_mode):
    case = _random_case(0, "first", 2.0)
    metrics = tapvid_metrics(*case, query_mode=query_mode, frame_rule="all_but_query")
    reference = tapvid_metrics(*case, query_mode="strided", frame_rule="tapvid")
    for key in TAPVID_KEYS:
        np.testing.assert_array_equal(metrics[key], reference[key], err_msg=key)


def test_scored_frames_per_rule():
    query_frames = np.array([0, 2])
    after_query = [[False, True, True, True], [False, False, False, True]]
    all_but_query = [[False, True, True, True], [True, True, False, True]]
    np.testing.assert_array_equal(scored_frames(query_frames, 4, "first", "tapvid"), after_query)
    np.testing.assert_array_equal(scored_frames(query_frames, 4, "strided", "tapvid"), all_but_query)
    np.testing.assert_array_equal(scored_frames(query_frames, 4, "first", "all_but_query"), all_but_query)


def test_hand_case_temporal_coherence():
    # Point 0 is the only truly visible triplet holder (t=1 and t=2); the true track is still.
    # t=1: p2 - 2 p1 + p0 = (11.5, 10) - (20, 20) + (-10, 10) = (-18.5, 0) -> 18.5 px.
    # t=2: p3 - 2 p2 + p1 = (13, 14) - (23, 20) + (10, 10) = (0, 4) -> 4 px.
    metrics = tapvid_metrics(*_hand_case(), query_mode="first")
    assert metrics["temporal_coherence"] == pytest.approx([(18.5 + 4.0) / 2])


@pytest.mark.parametrize("query_mode", ["first", "strided"])
def test_perfect_prediction_scores_one(query_mode):
    query_points, gt_occluded, gt_tracks, _, _ = _random_case(3, query_mode, 0.0)
    pred_occluded, pred_tracks = gt_occluded.copy(), gt_tracks.copy()
    metrics = tapvid_metrics(query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks, query_mode)
    for key in TAPVID_KEYS:
        np.testing.assert_array_equal(metrics[key], [1.0, 1.0], err_msg=key)
    np.testing.assert_array_equal(metrics["temporal_coherence"], [0.0, 0.0])


def test_all_occluded_prediction_scores_zero_jaccard():
    query_points, gt_occluded, gt_tracks, _, _ = _random_case(4, "strided", 0.0)
    pred_occluded = np.ones_like(gt_occluded)
    metrics = tapvid_metrics(query_points, gt_occluded, gt_tracks, pred_occluded, gt_tracks, "strided")
    np.testing.assert_array_equal(metrics["average_jaccard"], [0.0, 0.0])
    np.testing.assert_array_equal(metrics["average_pts_within_thresh"], [1.0, 1.0])  # positions exact


def test_constant_offset_of_three_pixels_is_within_four_but_not_two():
    query_points, gt_occluded, gt_tracks, _, _ = _random_case(5, "first", 0.0)
    pred_tracks = gt_tracks + np.array([3.0, 0.0])
    metrics = tapvid_metrics(query_points, gt_occluded, gt_tracks, gt_occluded, pred_tracks, "first")
    for d, expected in zip(THRESHOLDS_PX, [0.0, 0.0, 1.0, 1.0, 1.0], strict=True):
        np.testing.assert_array_equal(metrics[f"pts_within_{d}"], [expected, expected])
    np.testing.assert_array_equal(metrics["average_pts_within_thresh"], [0.6, 0.6])
    np.testing.assert_array_equal(metrics["temporal_coherence"], [0.0, 0.0])  # offset has no acceleration


def test_temporal_coherence_is_acceleration_error():
    # True track x = t^2 (acceleration 2), predicted x = 2 t^2 (acceleration 4): TC = |4 - 2| = 2.
    t = np.arange(5.0)
    gt_tracks = np.stack([t**2, np.zeros(5)], axis=-1)[None, None]
    pred_tracks = np.stack([2 * t**2, np.zeros(5)], axis=-1)[None, None]
    gt_occluded = np.zeros((1, 1, 5), dtype=bool)
    np.testing.assert_allclose(temporal_coherence(gt_occluded, gt_tracks, pred_tracks), [2.0])


def test_temporal_coherence_uses_only_fully_visible_triplets():
    # Visible at t = 0, 1, 2, 4: only the triplet centred on t=1 counts. Its error is (0, 3) -> 3 px;
    # the big errors at t=3 (occluded) and around it must be ignored.
    gt_tracks = np.zeros((1, 1, 5, 2))
    pred_tracks = np.zeros((1, 1, 5, 2))
    pred_tracks[0, 0, 2] = [0.0, 3.0]
    pred_tracks[0, 0, 3] = [100.0, 100.0]
    gt_occluded = np.array([[[False, False, False, True, False]]])
    np.testing.assert_allclose(temporal_coherence(gt_occluded, gt_tracks, pred_tracks), [3.0])


def test_temporal_coherence_is_nan_without_visible_triplet():
    gt_occluded = np.array([[[False, False, True, False, False]], [[False, False, False, False, False]]])
    tracks = np.zeros((2, 1, 5, 2))
    result = temporal_coherence(gt_occluded, tracks, tracks)
    assert np.isnan(result[0])
    assert result[1] == 0.0


def test_empty_denominator_gives_nan_like_tapnet():
    # The only query is at the last frame: in first mode nothing is scored at all.
    query_points = np.array([[[2.0, 0.0, 0.0]]])
    gt_occluded = np.array([[[True, True, False]]])
    tracks = np.zeros((1, 1, 3, 2))
    metrics = tapvid_metrics(query_points, gt_occluded, tracks, gt_occluded, tracks, "first")
    for key in TAPVID_KEYS + ["temporal_coherence"]:
        assert np.isnan(metrics[key][0]), key


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), query_mode=st.sampled_from(["first", "strided"]))
def test_jaccard_never_exceeds_pts_within_and_grows_with_threshold(seed, query_mode):
    metrics = tapvid_metrics(*_random_case(seed, query_mode, 4.0), query_mode=query_mode)
    previous = np.zeros(2)
    for d in THRESHOLDS_PX:
        jaccard, within = metrics[f"jaccard_{d}"], metrics[f"pts_within_{d}"]
        scored = np.isfinite(within)
        assert np.all(jaccard[scored] <= within[scored])
        assert np.all(jaccard[scored] >= previous[scored])
        assert np.all((0.0 <= within[scored]) & (within[scored] <= 1.0))
        previous = np.where(scored, jaccard, previous)


def _valid_arguments() -> dict[str, np.ndarray]:
    query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks = _random_case(0, "first", 2.0)
    return {
        "query_points": query_points,
        "gt_occluded": gt_occluded,
        "gt_tracks": gt_tracks,
        "pred_occluded": pred_occluded,
        "pred_tracks": pred_tracks,
    }


@pytest.mark.parametrize(
    ("name", "bad_value", "message"),
    [
        ("query_points", np.zeros((2, 7, 2)), r"query_points must be \[B, N, 3\] \(t, y, x\) = \(2, 7, 3\)"),
        ("gt_tracks", np.zeros((2, 7, 9, 3)), r"gt_tracks must be \[B, N, T, 2\] \(x, y\) = \(2, 7, 9, 2\)"),
        ("pred_tracks", np.zeros((2, 7, 8, 2)), r"got shape \(2, 7, 8, 2\)"),
        ("pred_occluded", np.zeros((2, 7, 9)), r"pred_occluded must have dtype bool .* got float64"),
        ("gt_occluded", np.zeros((2, 7), dtype=bool), r"must be bool \[B, N, T\], got shape \(2, 7\)"),
        ("pred_tracks", np.zeros((2, 7, 9, 2), dtype=bool), r"pred_tracks must hold real numbers"),
        ("gt_tracks", [[0.0]], r"gt_tracks must be a numpy array, got list"),
    ],
)
def test_rejects_malformed_inputs(name, bad_value, message):
    arguments = _valid_arguments() | {name: bad_value}
    with pytest.raises(ValueError, match=message):
        tapvid_metrics(**arguments, query_mode="first")


def test_rejects_query_frame_outside_video():
    arguments = _valid_arguments()
    arguments["query_points"][0, 0, 0] = 9.0
    with pytest.raises(ValueError, match=r"frame indices in \[0, 8\], got values in \[\d+, 9\]"):
        tapvid_metrics(**arguments, query_mode="strided")


def test_rejects_nan_query_frame():
    arguments = _valid_arguments()
    arguments["query_points"][1, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"query_points\[..., 0\] must be finite frame indices"):
        tapvid_metrics(**arguments, query_mode="first")


def test_rejects_unknown_query_mode():
    with pytest.raises(ValueError, match="query_mode must be 'first' or 'strided', got 'last'"):
        tapvid_metrics(**_valid_arguments(), query_mode="last")


def test_rejects_unknown_frame_rule():
    with pytest.raises(ValueError, match="frame_rule must be 'tapvid' or 'all_but_query', got 'omnimotion'"):
        tapvid_metrics(**_valid_arguments(), query_mode="first", frame_rule="omnimotion")


def _sparse_case() -> tuple[np.ndarray, ...]:
    """One point queried at t=0 of 5 frames, labelled at t=0, 2, 4 only (BADJA-like): visible at 0 and 2,
    occluded at 4. The prediction is 1.5 px off at t=2, says occluded at t=4, and is far off (and
    'visible') at the unlabelled frames 1 and 3. Returns tapvid_metrics' arguments and the mask."""
    query_points = np.array([[[0.0, 20.0, 10.0]]])
    gt_tracks = np.full((1, 1, 5, 2), np.nan)
    gt_tracks[0, 0, [0, 2, 4]] = [[10.0, 20.0], [12.0, 20.0], [14.0, 20.0]]
    mask = np.array([[[True, False, True, False, True]]])
    gt_occluded = np.array([[[False, True, False, True, True]]])  # unlabelled frames hold True, as loaders give
    pred_tracks = np.array([[[[10.0, 20.0], [90.0, 90.0], [13.5, 20.0], [90.0, 90.0], [14.0, 20.0]]]])
    pred_occluded = np.array([[[False, False, False, False, True]]])
    return query_points, gt_occluded, gt_tracks, pred_occluded, pred_tracks, mask


def test_evaluation_mask_leaves_unlabelled_frames_out_of_every_score():
    # Scored: t=2 (visible, 1.5 px off, predicted visible) and t=4 (occluded, predicted occluded).
    # OA 2/2. delta: within 2, 4, 8, 16 but not 1 -> 4/5. Jaccard: d=1: TP 0, FP 1 -> 0/2; d>=2: 1/1.
    *arguments, mask = _sparse_case()
    metrics = tapvid_metrics(*arguments, query_mode="first", evaluation_mask=mask)
    assert metrics["occlusion_accuracy"] == pytest.approx([1.0])
    assert metrics["average_pts_within_thresh"] == pytest.approx([0.8])
    assert [metrics[f"jaccard_{d}"][0] for d in THRESHOLDS_PX] == pytest.approx([0.0, 1.0, 1.0, 1.0, 1.0])
    assert metrics["average_jaccard"] == pytest.approx([0.8])
    assert np.isnan(metrics["temporal_coherence"][0])  # no three labelled visible frames in a row
    # Calling the unlabelled frames 'occluded' instead scores the tracker on invented labels:
    # OA 2/4, and frames 1 and 3 become false positives (d>=2: 1 / (1 + 2)).
    invented = tapvid_metrics(*arguments, query_mode="first")
    assert invented["occlusion_accuracy"] == pytest.approx([0.5])
    assert invented["average_jaccard"] == pytest.approx([(0 + 4 / 3) / 5])


def test_evaluation_mask_keeps_temporal_coherence_on_labelled_triplets():
    # Five labelled visible frames on a line; the mask drops t=2, so no triplet t-1, t, t+1 stays.
    gt_tracks = np.stack([np.arange(5.0), np.zeros(5)], axis=-1)[None, None]
    pred_tracks = gt_tracks.copy()
    pred_tracks[0, 0, 2, 0] += 4.0  # acceleration errors 4, 8, 4 px at t = 1, 2, 3
    occluded = np.zeros((1, 1, 5), dtype=bool)
    assert temporal_coherence(occluded, gt_tracks, pred_tracks) == pytest.approx([16.0 / 3])
    mask = np.array([[[True, True, False, True, True]]])
    metrics = tapvid_metrics(np.zeros((1, 1, 3)), occluded, gt_tracks, occluded, pred_tracks, "first",
                             evaluation_mask=mask)
    assert np.isnan(metrics["temporal_coherence"][0])


@pytest.mark.parametrize("query_mode", ["first", "strided"])
@pytest.mark.parametrize("frame_rule", ["tapvid", "all_but_query"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_true_evaluation_mask_gives_bit_identical_scores(seed, query_mode, frame_rule):
    arguments = _random_case(seed, query_mode, 3.0)
    without = tapvid_metrics(*arguments, query_mode=query_mode, frame_rule=frame_rule)
    with_mask = tapvid_metrics(*arguments, query_mode=query_mode, frame_rule=frame_rule,
                               evaluation_mask=np.ones(arguments[1].shape, dtype=bool))
    assert sorted(with_mask) == sorted(without)
    for key, values in without.items():
        assert with_mask[key].dtype == values.dtype
        assert np.array_equal(with_mask[key], values, equal_nan=True), key


def test_rejects_a_malformed_evaluation_mask():
    *arguments, mask = _sparse_case()
    with pytest.raises(ValueError, match="evaluation_mask must be bool"):
        tapvid_metrics(*arguments, query_mode="first", evaluation_mask=mask[..., :4])
    with pytest.raises(ValueError, match="evaluation_mask must be a bool"):
        tapvid_metrics(*arguments, query_mode="first", evaluation_mask=mask.astype(np.uint8))


def _pck_case() -> tuple[np.ndarray, ...]:
    """Two points queried at t=0 of 4 frames; object areas 100, 400, none, 400 px (thresholds 2, 4, -, 4).

    Point 0: 3 px off at t=1, 1 px off at t=2 (a frame without mask), 10 px off at t=3 (not labelled).
    Point 1: 5 px off at t=1, 3.9 px off at t=3. Returns pck_t's arguments and the evaluation mask."""
    query_points = np.array([[[0.0, 0.0, 0.0], [0.0, 50.0, 50.0]]])
    gt_tracks = np.zeros((1, 2, 4, 2))
    gt_tracks[0, 1] = 50.0
    pred_tracks = gt_tracks.copy()
    pred_tracks[0, 0, 1] += [3.0, 0.0]
    pred_tracks[0, 0, 2] += [1.0, 0.0]
    pred_tracks[0, 0, 3] += [10.0, 0.0]
    pred_tracks[0, 1, 1] += [3.0, 4.0]
    pred_tracks[0, 1, 3] += [0.0, 3.9]
    gt_occluded = np.zeros((1, 2, 4), dtype=bool)
    mask = np.ones((1, 2, 4), dtype=bool)
    mask[0, 0, 3] = False
    area = np.array([[100.0, 400.0, np.nan, 400.0]])
    return query_points, gt_occluded, gt_tracks, pred_tracks, area, mask


def test_pck_t_matches_hand_computation():
    # Scored (after the query, labelled, visible, with a mask): point 0 at t=1; point 1 at t=1 and t=3.
    # Correct: point 0 t=1 (3 < 4), point 1 t=3 (3.9 < 4); point 1 t=1 is 5 px off -> 2/3.
    query_points, gt_occluded, gt_tracks, pred_tracks, area, mask = _pck_case()
    score = pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area, "first", evaluation_mask=mask)
    assert score == pytest.approx([2 / 3])
    # Point 1 occluded at t=3: that entry leaves the score -> 1/2.
    gt_occluded[0, 1, 3] = True
    assert pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area, "first", evaluation_mask=mask) == \
        pytest.approx([1 / 2])
    # Without the mask, point 0's unlabelled t=3 (10 px off) would count as a miss -> 1/3.
    assert pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area, "first") == pytest.approx([1 / 3])


def test_pck_t_measures_in_source_pixels():
    # Tracks made at half the source width and twice its height (sx = 0.5, sy = 2); area 100 source px
    # -> threshold 2 source px. Point 0 is 3 track px off along y = 1.5 source px (correct; 3 px would
    # miss); point 1 is 0.9 track px off along x = 1.8 source px (correct), then 1.1 = 2.2 (a miss).
    query_points = np.zeros((1, 2, 3))
    gt_tracks = np.zeros((1, 2, 2, 2))
    pred_tracks = gt_tracks.copy()
    pred_tracks[0, 0, 1] = [0.0, 3.0]
    pred_tracks[0, 1, 1] = [0.9, 0.0]
    occluded = np.zeros((1, 2, 2), dtype=bool)
    area = np.array([[100.0, 100.0]])
    scale = np.array([[0.5, 2.0]])
    assert pck_t(query_points, occluded, gt_tracks, pred_tracks, area, "first", scale_xy=scale) == pytest.approx([1.0])
    assert pck_t(query_points, occluded, gt_tracks, pred_tracks, area, "first") == pytest.approx([1 / 2])
    pred_tracks[0, 1, 1] = [1.1, 0.0]
    assert pck_t(query_points, occluded, gt_tracks, pred_tracks, area, "first", scale_xy=scale) == pytest.approx([1 / 2])
    assert pck_t(query_points, occluded, gt_tracks, pred_tracks, area, "first") == pytest.approx([1 / 2])


def test_pck_t_is_nan_without_masks():
    query_points, gt_occluded, gt_tracks, pred_tracks, _, mask = _pck_case()
    area = np.full((1, 4), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area, "first", evaluation_mask=mask)
    assert np.isnan(score[0])


def test_pck_t_rejects_malformed_areas_and_scales():
    query_points, gt_occluded, gt_tracks, pred_tracks, area, _ = _pck_case()
    with pytest.raises(ValueError, match="object_area must be"):
        pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area[:, :3], "first")
    with pytest.raises(ValueError, match="scale_xy must be"):
        pck_t(query_points, gt_occluded, gt_tracks, pred_tracks, area, "first", scale_xy=np.array([[1.0, 0.0]]))
