"""Validation of the synthetic benchmark configuration."""

from __future__ import annotations

import pytest

from omnimotion_core.synthetic import SyntheticDatasetConfig, SyntheticVideoConfig


def test_defaults_are_valid():
    config = SyntheticVideoConfig()
    assert (config.num_frames, config.height, config.width, config.num_objects) == (32, 128, 128, 4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_frames": 1}, "num_frames must be >= 2, got 1"),
        ({"height": 16}, "height must be >= 32, got 16"),
        ({"width": 31}, "width must be >= 32, got 31"),
        ({"num_objects": 13}, r"num_objects must be >= 0 and <= 12, got 13"),
        ({"num_objects": 4, "num_points": 4}, "num_points must be >= 5, got 4"),
        ({"exit_fraction": 1.5}, r"exit_fraction must be >= 0.0 and <= 1.0, got 1.5"),
        ({"noise_std": -1.0}, r"noise_std must be >= 0.0"),
        ({"brightness_change": 0.8}, r"brightness_change must be >= 0.0 and <= 0.5, got 0.8"),
        ({"occlusion_frames": (10, 5)}, r"occlusion_frames must satisfy 1 <= min <= max, got \(10, 5\)"),
        ({"object_radius": (0.1, 0.5)}, r"object_radius must satisfy 0.02 <= min <= max <= 0.3"),
        ({"supersample": 0}, r"supersample must be >= 1 and <= 4, got 0"),
        (
            {"height": 32, "width": 48, "object_radius": (0.3, 0.3)},
            r"objects up to 16.1 px in radius do not fit in a 32x48 frame",
        ),
    ],
)
def test_invalid_video_config_raises_with_field_and_value(changes, message):
    with pytest.raises(ValueError, match=message):
        SyntheticVideoConfig(**changes)


def test_non_integer_frame_count_raises_type_error():
    with pytest.raises(TypeError, match="num_frames must be an int, got 12.5"):
        SyntheticVideoConfig(num_frames=12.5)


def test_unknown_field_is_a_type_error():
    with pytest.raises(TypeError):
        SyntheticVideoConfig(num_frame=12)


def test_dataset_needs_at_least_one_video():
    with pytest.raises(ValueError, match="num_videos must be >= 1, got 0"):
        SyntheticDatasetConfig(num_videos=0)
