"""Synthetic benchmark datasets: determinism, TAP-Vid layout, presets and difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.synthetic import (
    SYNTHETIC_PRESETS,
    SyntheticDatasetConfig,
    SyntheticVideoConfig,
    generate_synthetic_video,
    generate_tapvid_dataset,
    resize_synthetic_preset,
    summarize_tracks,
)

SMALL = SYNTHETIC_PRESETS["small"]


@pytest.fixture(scope="module")
def small_dataset() -> dict[str, dict[str, np.ndarray]]:
    return generate_tapvid_dataset(SMALL, seed=3)


def test_same_seed_gives_byte_identical_dataset(small_dataset):
    again = generate_tapvid_dataset(SMALL, seed=3)
    assert list(again) == list(small_dataset)
    for name, entry in small_dataset.items():
        for key in ("video", "points", "occluded"):
            assert entry[key].tobytes() == again[name][key].tobytes(), (name, key)


def test_different_seed_gives_different_videos(small_dataset):
    other = generate_tapvid_dataset(SMALL, seed=4)
    for name in small_dataset:
        assert not np.array_equal(small_dataset[name]["video"], other[name]["video"])
        assert not np.array_equal(small_dataset[name]["points"], other[name]["points"])


def test_videos_of_one_dataset_differ_and_do_not_depend_on_dataset_size(small_dataset):
    first, second = small_dataset["synth_000"], small_dataset["synth_001"]
    assert np.abs(first["video"].astype(int) - second["video"].astype(int)).mean() > 20
    alone = generate_synthetic_video(SMALL.video, seed=3, index=1)
    assert alone.video.tobytes() == second["video"].tobytes()


def test_tapvid_entries_have_davis_shapes_dtypes_and_ranges(small_dataset):
    video_config = SMALL.video
    assert list(small_dataset) == ["synth_000", "synth_001"]
    for entry in small_dataset.values():
        assert set(entry) == {"video", "points", "occluded"}
        assert entry["video"].dtype == np.uint8
        assert entry["video"].shape == (video_config.num_frames, video_config.height, video_config.width, 3)
        assert entry["points"].dtype == np.float32
        assert entry["points"].shape == (video_config.num_points, video_config.num_frames, 2)
        assert entry["occluded"].dtype == np.bool_
        assert entry["occluded"].shape == (video_config.num_points, video_config.num_frames)
        visible_points = entry["points"][~entry["occluded"]]
        assert visible_points.min() >= 0.0
        assert visible_points[:, 0].max() <= (video_config.width - 1) / video_config.width
        assert visible_points[:, 1].max() <= (video_config.height - 1) / video_config.height
        assert entry["video"].std() > 20, "frames should show textured photographs"


def test_points_scale_back_to_pixels_like_tapnet():
    video = generate_synthetic_video(SMALL.video, seed=0)
    entry = generate_tapvid_dataset(SyntheticDatasetConfig(num_videos=1, video=SMALL.video), seed=0)["synth_000"]
    # tapnet evaluation_datasets.create_davis_dataset: target_points = points * [width, height].
    pixels = entry["points"] * np.array([SMALL.video.width, SMALL.video.height])
    np.testing.assert_allclose(pixels, video.tracks.positions, atol=1e-4)


def test_every_point_is_visible_in_at_least_one_frame(small_dataset):
    for entry in small_dataset.values():
        assert np.all((~entry["occluded"]).any(axis=1))


def test_zero_motion_tracker_scores_badly():
    config = SyntheticVideoConfig(num_frames=16, height=64, width=64, num_objects=3, num_points=96)
    for index in range(2):
        video = generate_synthetic_video(config, seed=11, index=index)
        stats = summarize_tracks(video.tracks.positions, video.tracks.occluded, config.height, config.width)
        assert stats.zero_motion_delta_avg < 0.3
        assert stats.zero_motion_average_jaccard < 0.2
        assert stats.mean_displacement_px > 3.0
        assert 0.1 < stats.occluded_fraction < 0.6


def test_presets_have_the_documented_sizes():
    small, bench = SYNTHETIC_PRESETS["small"], SYNTHETIC_PRESETS["bench"]
    assert (small.num_videos, small.video.num_frames, small.video.height, small.video.width) == (2, 12, 64, 64)
    assert (bench.num_videos, bench.video.num_frames, bench.video.height, bench.video.width) == (8, 32, 128, 128)


def test_resize_preset_replaces_only_the_given_sizes():
    resized = resize_synthetic_preset("bench", num_frames=24, height=256, width=256)
    bench = SYNTHETIC_PRESETS["bench"]
    sizes = (resized.num_videos, resized.video.num_frames, resized.video.height, resized.video.width)
    assert sizes == (8, 24, 256, 256)
    assert resized.video.num_objects == bench.video.num_objects
    assert resize_synthetic_preset(bench) == bench


def test_resize_preset_rejects_unknown_name():
    with pytest.raises(ValueError, match=r"unknown synthetic preset 'huge'.*'bench'.*'small'"):
        resize_synthetic_preset("huge")


def test_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        generate_synthetic_video(SMALL.video, seed=-1)
