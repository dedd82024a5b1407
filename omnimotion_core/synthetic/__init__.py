"""Deterministic synthetic videos with exact ground-truth tracks, occlusion and dense flow (offline benchmark).

A scene is a photographed background under a smooth camera pan/zoom/roll plus soft-edged objects cut
from other photographs, each moving along its own curved path with rotation and scaling, in a fixed
depth order; scheduled exits and crossings make points leave the frame and pass behind nearer objects.
Pixel (column c, row r) has its centre at (x=c, y=r) everywhere: tracks, flow and rendering.
"""

from omnimotion_core.synthetic.config import (
    SYNTHETIC_PRESETS,
    SyntheticDatasetConfig,
    SyntheticVideoConfig,
    resize_synthetic_preset,
)
from omnimotion_core.synthetic.dataset import (
    SyntheticVideo,
    generate_synthetic_video,
    generate_tapvid_dataset,
    to_tapvid,
    video_name,
)
from omnimotion_core.synthetic.render import render_frame_linear, render_video
from omnimotion_core.synthetic.scene import Layer, Scene, build_scene
from omnimotion_core.synthetic.statistics import TrackStatistics, summarize_tracks
from omnimotion_core.synthetic.tracks import (
    GroundTruthTracks,
    ground_truth_flow,
    sample_tracks,
    surface_layers,
)

__all__ = [
    "SYNTHETIC_PRESETS",
    "GroundTruthTracks",
    "Layer",
    "Scene",
    "SyntheticDatasetConfig",
    "SyntheticVideo",
    "SyntheticVideoConfig",
    "TrackStatistics",
    "build_scene",
    "generate_synthetic_video",
    "generate_tapvid_dataset",
    "ground_truth_flow",
    "render_frame_linear",
    "render_video",
    "resize_synthetic_preset",
    "sample_tracks",
    "summarize_tracks",
    "surface_layers",
    "to_tapvid",
    "video_name",
]
