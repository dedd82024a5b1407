"""Deterministic synthetic videos with exact ground-truth tracks, occlusion and dense flow (offline benchmark).

A scene is a photographed background under a smooth camera pan/zoom/roll plus soft-edged objects cut
from other photographs, each moving along its own curved path with rotation and scaling, in a fixed
depth order; scheduled exits and crossings make points leave the frame and pass behind nearer objects.
Pixel (column c, row r) has its centre at (x=c, y=r) everywhere: tracks, flow and rendering.
:func:`exact_flow_set` holds a video's exact correspondences as a ``FlowSet`` at the resolution its frames are
processed at (the supervision ceiling of flow).
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
from omnimotion_core.synthetic.exact_flow import all_ordered_pairs, exact_flow_set
from omnimotion_core.synthetic.render import render_frame_linear, render_video
from omnimotion_core.synthetic.scene import Layer, Scene, build_scene
from omnimotion_core.synthetic.statistics import TrackStatistics, summarize_tracks
from omnimotion_core.synthetic.tracks import (
    GroundTruthTracks,
    ground_truth_flow,
    ground_truth_flow_at,
    resized_pixel_centres,
    sample_tracks,
    surface_layer_at,
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
    "all_ordered_pairs",
    "build_scene",
    "generate_synthetic_video",
    "exact_flow_set",
    "generate_tapvid_dataset",
    "ground_truth_flow",
    "ground_truth_flow_at",
    "render_frame_linear",
    "render_video",
    "resize_synthetic_preset",
    "resized_pixel_centres",
    "sample_tracks",
    "summarize_tracks",
    "surface_layer_at",
    "surface_layers",
    "to_tapvid",
    "video_name",
]
