"""Synthetic videos with ground truth, and datasets of them in TAP-Vid-DAVIS layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnimotion_core.synthetic.config import (
    SyntheticDatasetConfig,
    SyntheticVideoConfig,
)
from omnimotion_core.synthetic.render import render_video
from omnimotion_core.synthetic.scene import Scene, build_scene
from omnimotion_core.synthetic.tracks import GroundTruthTracks, sample_tracks


@dataclass(frozen=True, eq=False)
class SyntheticVideo:
    """A rendered synthetic video with its scene (for :func:`ground_truth_flow`) and ground-truth tracks.

    Attributes:
        scene: the layers and transforms the video was rendered from.
        video: uint8 [T, H, W, 3] RGB frames, with noise and brightness change.
        tracks: ground-truth tracks in pixels, see :class:`GroundTruthTracks`.
    """

    scene: Scene
    video: np.ndarray
    tracks: GroundTruthTracks


def video_name(index: int) -> str:
    """Name of video ``index`` of a synthetic dataset: ``synth_000``, ``synth_001``, ..."""
    return f"synth_{index:03d}"


def generate_synthetic_video(config: SyntheticVideoConfig, seed: int, index: int = 0) -> SyntheticVideo:
    """Video ``index`` of the synthetic dataset with ``seed``: byte-identical for the same (config, seed,
    index), a different scene for another index (independent of how many videos the dataset has)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative int, got {index!r}")
    rng = np.random.default_rng([int(seed), int(index)])
    scene = build_scene(config, rng)
    tracks = sample_tracks(scene, config.num_points, config.background_point_fraction, rng)
    return SyntheticVideo(scene=scene, video=render_video(scene), tracks=tracks)


def to_tapvid(video: SyntheticVideo) -> dict[str, np.ndarray]:
    """TAP-Vid-DAVIS entry of a video: ``video`` uint8 [T, H, W, 3]; ``points`` float32 [N, T, 2]
    normalised (x / W, y / H), so tapnet's ``points * (W, H)`` gives back pixels with pixel (c, r)
    centred at (c, r); ``occluded`` bool [N, T]."""
    size = np.array([video.scene.width, video.scene.height], dtype=np.float64)
    return {
        "video": video.video,
        "points": (video.tracks.positions / size).astype(np.float32),
        "occluded": video.tracks.occluded.copy(),
    }


def generate_tapvid_dataset(config: SyntheticDatasetConfig, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """``config.num_videos`` synthetic videos as a TAP-Vid-DAVIS dict {name: :func:`to_tapvid` entry}."""
    return {
        video_name(index): to_tapvid(generate_synthetic_video(config.video, seed, index))
        for index in range(config.num_videos)
    }
