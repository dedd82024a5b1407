"""Ground truth of synthetic scenes: pixel convention, occlusion rule, dense flow, exits and crossings."""

from __future__ import annotations

import numpy as np
import pytest

from omnimotion_core.synthetic import (
    Layer,
    Scene,
    SyntheticVideoConfig,
    generate_synthetic_video,
    ground_truth_flow,
    render_frame_linear,
    render_video,
    summarize_tracks,
    surface_layers,
)
from omnimotion_core.synthetic.tracks import (
    allocate_points,
    apply_transform,
    layer_alpha_at,
    pixel_grid,
    sample_bilinear,
    track_points,
)


def _translations(offsets: list[tuple[float, float]], scale: float = 1.0) -> np.ndarray:
    transforms = np.tile(np.eye(3), (len(offsets), 1, 1))
    transforms[:, 0, 0] = transforms[:, 1, 1] = scale
    transforms[:, :2, 2] = offsets
    return transforms


def _hand_scene(layers: list[Layer], num_frames: int, supersample: int = 1, size: int = 32) -> Scene:
    return Scene(
        height=size,
        width=size,
        num_frames=num_frames,
        layers=tuple(layers),
        gains=np.ones(num_frames),
        noise_std=0.0,
        noise_seed=0,
        supersample=supersample,
        exits=(),
        crossings=(),
    )


def _background(transforms: np.ndarray, size: int = 40) -> Layer:
    texture = np.random.default_rng(0).uniform(0.2, 0.8, size=(size, size, 3)).astype(np.float32)
    return Layer("background", "hand", texture, np.ones((size, size), np.float32), transforms)


def _square_object(transforms: np.ndarray) -> Layer:
    """11 x 11 texels, alpha 1 on texels 2..8 (both axes) and 0 elsewhere, so alpha >= 0.5 on [1.5, 8.5]."""
    alpha = np.zeros((11, 11), np.float32)
    alpha[2:9, 2:9] = 1.0
    return Layer("object", "hand", np.ones((11, 11, 3), np.float32), alpha, transforms)


@pytest.mark.parametrize("supersample", [1, 2, 3])
@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_rendered_texel_lands_at_transformed_position(supersample, scale):
    # A single bright texel at (u=10, v=12): its rendered intensity centroid is at the transform of (10, 12),
    # i.e. pixel (c, r) is centred at (x=c, y=r), with and without supersampling.
    texture = np.zeros((40, 40, 3), np.float32)
    texture[12, 10] = 1.0
    transforms = _translations([(3.3, -1.6)], scale=scale)
    layer = Layer("background", "impulse", texture, np.ones((40, 40), np.float32), transforms)
    frame = render_frame_linear(_hand_scene([layer], 1, supersample=supersample), 0)[..., 0].astype(np.float64)
    rows, cols = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    centroid = np.array([(frame * cols).sum(), (frame * rows).sum()]) / frame.sum()
    np.testing.assert_allclose(centroid, apply_transform(transforms[0], np.array([[10.0, 12.0]]))[0], atol=0.02)


def test_occlusion_follows_cover_rule_and_frame_bounds():
    num_frames = 6
    background = _background(_translations([(-t, 0.0) for t in range(num_frames)]))
    square = _square_object(_translations([(4.0 + 2 * t, 10.0) for t in range(num_frames)]))
    scene = _hand_scene([background, square], num_frames)
    # Background texel (12, 15) sits at x = 12 - t; the square covers x in [5.5 + 2t, 12.5 + 2t] at y = 15.
    # Texel (0, 15) is at x = -t: outside the frame from t = 1.
    positions, occluded = track_points(scene, np.array([0, 0, 1]), np.array([[12.0, 15.0], [0.0, 15.0], [5.0, 5.0]]))
    np.testing.assert_allclose(positions[0, :, 0], 12.0 - np.arange(num_frames))
    np.testing.assert_array_equal(occluded[0], [True, True, True, False, False, False])
    np.testing.assert_array_equal(occluded[1], [False, True, True, True, True, True])
    np.testing.assert_array_equal(occluded[2], [False] * num_frames)


def test_flow_of_hand_scene_is_each_layers_motion():
    num_frames = 4
    background = _background(_translations([(-1.0 * t, 0.5 * t) for t in range(num_frames)]))
    square = _square_object(_translations([(4.0 + 2 * t, 10.0) for t in range(num_frames)]))
    scene = _hand_scene([background, square], num_frames)
    flow, visible = ground_truth_flow(scene, 0, 3)
    assert flow.dtype == np.float32 and flow.shape == (32, 32, 2) and visible.shape == (32, 32)
    np.testing.assert_allclose(flow[15, 9], [6.0, 0.0])  # on the square (x in [5.5, 12.5] at t = 0)
    np.testing.assert_allclose(flow[25, 20], [-3.0, 1.5])  # background
    assert visible[15, 9] and visible[25, 20]
    assert not visible[15, 16]  # background at (16, 15) moves to (13, 16.5), under the square (x, y in [11.5, 18.5])
    assert not visible[5, 1]  # background at x = 1 moves to x = -2, outside the frame


@pytest.fixture(scope="module")
def random_video():
    config = SyntheticVideoConfig(num_frames=16, height=64, width=64, num_objects=3, num_points=160)
    return generate_synthetic_video(config, seed=5)


def test_sampled_points_cover_every_layer_and_are_visible_at_their_query_frame(random_video):
    tracks = random_video.tracks
    counts = np.bincount(tracks.layers, minlength=4)
    np.testing.assert_array_equal(counts, allocate_points(160, 4, 0.4))
    np.testing.assert_array_equal(counts, [64, 32, 32, 32])
    assert not tracks.occluded[np.arange(160), tracks.query_frames].any()


def test_tracks_agree_with_rendered_colours(random_video):
    # Noise-free, constant-brightness render: a point's colour at its query frame and at any frame where
    # it is visible away from edges (no alpha of a nearer layer, not on the frame border) agree.
    scene, tracks = random_video.scene, random_video.tracks
    frames = render_video(scene, add_noise=False, apply_gain=False).astype(np.float64)
    num_points, num_frames = tracks.occluded.shape
    colours = np.empty((num_points, num_frames, 3))
    clear = np.empty((num_points, num_frames), dtype=bool)
    for t in range(num_frames):
        xy = tracks.positions[:, t]
        colours[:, t] = np.stack([sample_bilinear(frames[t][..., c], xy) for c in range(3)], axis=-1)
        nearer_alpha = np.zeros(num_points)
        for k in range(1, len(scene.layers)):
            behind = tracks.layers < k
            nearer_alpha[behind] = np.maximum(nearer_alpha[behind], layer_alpha_at(scene.layers[k], t, xy[behind]))
        away_from_border = np.all((xy >= 1) & (xy <= [scene.width - 2, scene.height - 2]), axis=1)
        clear[:, t] = away_from_border & (nearer_alpha < 1e-3)
    query = tracks.query_frames
    reference = colours[np.arange(num_points), query]
    compared = clear & clear[np.arange(num_points), query][:, None] & (np.arange(num_frames) != query[:, None])
    errors = np.abs(colours - reference[:, None]).mean(axis=-1)[compared]
    shuffled = np.abs(np.roll(colours, 37, axis=0) - reference[:, None]).mean(axis=-1)[compared]
    assert compared.sum() > 500
    assert np.median(errors) < 2.0  # grey levels
    assert np.percentile(errors, 90) < 8.0
    assert np.median(shuffled) > 20.0


@pytest.mark.parametrize(("i", "j"), [(0, 9), (12, 3)])
def test_flow_matches_tracks_started_at_every_pixel(random_video, i, j):
    scene = random_video.scene
    flow, visible = ground_truth_flow(scene, i, j)
    xy_i = pixel_grid(scene)
    surface = surface_layers(scene, i).ravel()
    texture_uv = np.empty_like(xy_i)
    for index, layer in enumerate(scene.layers):
        on_layer = surface == index
        texture_uv[on_layer] = apply_transform(np.linalg.inv(layer.transforms[i]), xy_i[on_layer])
    positions, occluded = track_points(scene, surface, texture_uv)
    assert not occluded[:, i].any()
    np.testing.assert_allclose(positions[:, j], xy_i + flow.reshape(-1, 2), atol=1e-3)
    np.testing.assert_array_equal(occluded[:, j], ~visible.ravel())
    assert 0.3 < visible.mean() < 0.99


def test_flow_rejects_frame_outside_video(random_video):
    with pytest.raises(ValueError, match=r"frame j=16 outside \[0, 15\]"):
        ground_truth_flow(random_video.scene, 0, 16)


def test_noise_and_brightness_follow_config(random_video):
    scene = random_video.scene
    clean = render_video(scene, add_noise=False).astype(np.float64)
    noise = random_video.video.astype(np.float64) - clean
    unclipped = (clean > 10) & (clean < 245)
    assert abs(noise[unclipped].std() - scene.noise_std) < 0.15 * scene.noise_std
    assert np.all(np.abs(scene.gains - 1.0) <= 0.15 + 1e-9)
    assert np.ptp(scene.gains) > 0.02


def _object_texels_inside(scene: Scene, layer_index: int) -> np.ndarray:
    """bool [T]: every texel with alpha > 0 of the layer lies inside the frame."""
    layer = scene.layers[layer_index]
    rows, cols = np.nonzero(layer.alpha > 0)
    uv = np.stack([cols, rows], axis=1).astype(np.float64)
    inside = []
    for t in range(scene.num_frames):
        xy = apply_transform(layer.transforms[t], uv)
        inside.append(bool(np.all((xy >= 0) & (xy <= [scene.width - 1, scene.height - 1]))))
    return np.array(inside)


def _object_texels_outside(scene: Scene, layer_index: int) -> np.ndarray:
    """bool [T]: every texel with alpha > 0 of the layer lies outside the frame."""
    layer = scene.layers[layer_index]
    rows, cols = np.nonzero(layer.alpha > 0)
    uv = np.stack([cols, rows], axis=1).astype(np.float64)
    outside = []
    for t in range(scene.num_frames):
        xy = apply_transform(layer.transforms[t], uv)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= scene.width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= scene.height - 1)
        outside.append(not inside.any())
    return np.array(outside)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exiting_objects_leave_the_frame_completely_and_come_back(seed):
    config = SyntheticVideoConfig(
        num_frames=24, height=64, width=64, num_objects=2, num_points=64, exit_fraction=1.0, crossing_fraction=0.0
    )
    video = generate_synthetic_video(config, seed=seed)
    scene, tracks = video.scene, video.tracks
    assert [event.layer for event in scene.exits] == [1, 2]
    for event in scene.exits:
        assert 5 <= event.last_out - event.first_out + 1 <= 20
        out = _object_texels_outside(scene, event.layer)
        assert out[event.first_out : event.last_out + 1].all()
        inside = _object_texels_inside(scene, event.layer)
        assert inside[: event.first_out].any() and inside[event.last_out + 1 :].any()
        on_layer = tracks.layers == event.layer
        assert tracks.occluded[on_layer, event.first_out : event.last_out + 1].all()
    stats = summarize_tracks(tracks.positions, tracks.occluded, config.height, config.width)
    assert stats.points_returning > 0.2


def test_objects_without_exit_stay_entirely_inside_the_frame():
    config = SyntheticVideoConfig(num_frames=24, height=64, width=64, num_objects=4, num_points=64, exit_fraction=0.0)
    for seed in range(3):
        scene = generate_synthetic_video(config, seed=seed).scene
        assert scene.exits == ()
        for layer_index in range(1, len(scene.layers)):
            assert _object_texels_inside(scene, layer_index).all(), (seed, layer_index)


def test_crossings_hide_the_far_object_for_several_frames():
    config = SyntheticVideoConfig(
        num_frames=24, height=64, width=64, num_objects=3, num_points=96, exit_fraction=0.0, crossing_fraction=1.0
    )
    runs = []
    for seed in range(3):
        video = generate_synthetic_video(config, seed=seed)
        scene = video.scene
        assert len(scene.crossings) == 2
        for event in scene.crossings:
            assert event.far_layer < event.near_layer
            far = scene.layers[event.far_layer]
            centre = np.full((1, 2), (far.alpha.shape[0] - 1) / 2.0)
            _, occluded = track_points(scene, np.array([event.far_layer]), centre)
            hidden = occluded[0]
            assert hidden[event.frame]
            start, end = event.frame, event.frame
            while start > 0 and hidden[start - 1]:
                start -= 1
            while end < scene.num_frames - 1 and hidden[end + 1]:
                end += 1
            runs.append(end - start + 1)
        stats = summarize_tracks(video.tracks.positions, video.tracks.occluded, config.height, config.width)
        assert stats.points_hidden_5_to_20 > 0.05
    assert 5 <= np.median(runs) <= 20


def test_events_raise_the_occlusion_rate():
    quiet = SyntheticVideoConfig(
        num_frames=24, height=64, width=64, num_objects=3, num_points=96, exit_fraction=0.0, crossing_fraction=0.0
    )
    busy = SyntheticVideoConfig(
        num_frames=24, height=64, width=64, num_objects=3, num_points=96, exit_fraction=1.0, crossing_fraction=1.0
    )
    rates = {}
    for name, config in (("quiet", quiet), ("busy", busy)):
        rates[name] = np.mean(
            [generate_synthetic_video(config, seed=seed).tracks.occluded.mean() for seed in range(3)]
        )
    assert rates["busy"] > rates["quiet"] + 0.05
