"""A synthetic scene: textured layers in depth order, each with an exact per-frame transform.

Coordinates: pixel (column c, row r) of a frame has its centre at (x=c, y=r); the frame spans
x in [-0.5, W - 0.5], y in [-0.5, H - 0.5]. The same holds for texels of a layer's texture (u, v).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from omnimotion_core.synthetic.choreography import (
    ChoreographyConfig,
    CrossingEvent,
    ExitEvent,
    plan_object_paths,
)
from omnimotion_core.synthetic.config import BLOB_HARMONICS, SyntheticVideoConfig
from omnimotion_core.synthetic.motion import (
    random_camera_path,
    similarity_transforms,
    smooth_wave,
)
from omnimotion_core.synthetic.textures import PHOTO_NAMES, blob_alpha, crop_texture

LayerKind = Literal["background", "object"]

OBJECT_PHOTO_ZOOM = 6.0
"""An object's texture shows up to this many times its own size of the photograph (more detail, less flat)."""

TEXTURE_MARGIN = 3
"""Texels of zero alpha around an object's blob, and of spare background around the camera's view."""


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer of the scene.

    Attributes:
        kind: ``"background"`` (covers the whole frame, alpha 1) or ``"object"``.
        photo: name of the photograph the texture was cut from.
        texture: float32 [h, w, 3] RGB in [0, 1], straight (not premultiplied) colour.
        alpha: float32 [h, w] in [0, 1]; all ones for the background.
        transforms: float64 [T, 3, 3], texture (u, v, 1) -> frame (x, y, 1) pixels at each frame.
    """

    kind: LayerKind
    photo: str
    texture: np.ndarray
    alpha: np.ndarray
    transforms: np.ndarray


@dataclass(frozen=True, eq=False)
class Scene:
    """Layers ordered far to near (index 0 is the background), global brightness and noise.

    Attributes:
        height, width, num_frames: frame size H, W in pixels and T.
        layers: far to near.
        gains: float64 [T], global brightness factor of each frame.
        noise_std: Gaussian pixel noise in uint8 grey levels.
        noise_seed: seed of the noise generator, so a render is reproducible.
        supersample: render factor used for anti-aliasing.
        exits, crossings: the scheduled events; layer numbers index ``layers``.
    """

    height: int
    width: int
    num_frames: int
    layers: tuple[Layer, ...]
    gains: np.ndarray
    noise_std: float
    noise_seed: int
    supersample: int
    exits: tuple[ExitEvent, ...]
    crossings: tuple[CrossingEvent, ...]


def build_scene(config: SyntheticVideoConfig, rng: np.random.Generator) -> Scene:
    """Draw a random scene for ``config``: background under camera motion plus ``num_objects`` objects."""
    frame_size = float(min(config.height, config.width))
    photos = [PHOTO_NAMES[k] for k in rng.permutation(len(PHOTO_NAMES))]
    background = _build_background(config, photos[0], rng)

    objects = [_draw_object_shape(config, frame_size, rng) for _ in range(config.num_objects)]
    choreography = ChoreographyConfig(
        num_frames=config.num_frames,
        height=config.height,
        width=config.width,
        exit_fraction=config.exit_fraction,
        crossing_fraction=config.crossing_fraction,
        occlusion_frames=config.occlusion_frames,
        max_speed_px=config.max_speed * frame_size,
        keyframe_interval=config.keyframe_interval,
    )
    paths, exits, crossings = plan_object_paths(
        choreography,
        radii=np.array([shape.reach for shape in objects]),
        cover_radii=np.array([shape.cover for shape in objects]),
        rng=rng,
    )
    frames = np.arange(config.num_frames, dtype=np.float64)
    layers = [background]
    for index, (shape, path) in enumerate(zip(objects, paths, strict=True)):
        photo = photos[(index + 1) % len(photos)]
        texture = crop_texture(photo, shape.alpha.shape[0], shape.alpha.shape[1], rng, max_zoom=OBJECT_PHOTO_ZOOM)
        pivot = np.full(2, (shape.alpha.shape[0] - 1) / 2.0)
        transforms = similarity_transforms(path(frames), shape.scales, shape.angles, pivot)
        layers.append(Layer(kind="object", photo=photo, texture=texture, alpha=shape.alpha, transforms=transforms))

    gains = 1.0 + smooth_wave(config.num_frames, config.brightness_change, rng)
    return Scene(
        height=config.height,
        width=config.width,
        num_frames=config.num_frames,
        layers=tuple(layers),
        gains=gains,
        noise_std=config.noise_std,
        noise_seed=int(rng.integers(0, 2**63 - 1)),
        supersample=config.supersample,
        exits=tuple(ExitEvent(e.layer + 1, e.first_out, e.last_out) for e in exits),
        crossings=tuple(CrossingEvent(c.far_layer + 1, c.near_layer + 1, c.frame, c.frames) for c in crossings),
    )


def _build_background(config: SyntheticVideoConfig, photo: str, rng: np.random.Generator) -> Layer:
    """Background texture just large enough for the camera's view in every frame."""
    camera = random_camera_path(
        config.num_frames,
        float(min(config.height, config.width)),
        config.camera_pan,
        config.camera_zoom,
        config.camera_rotation_deg,
        rng,
    )
    centre = np.array([(config.width - 1) / 2.0, (config.height - 1) / 2.0])
    transforms = similarity_transforms(
        np.broadcast_to(centre, (config.num_frames, 2)), camera.zoom, camera.roll, np.zeros(2)
    )
    # The camera looks at look_at[t]: shift each frame's transform so texture point look_at maps to the centre.
    transforms[:, :2, 2] -= np.einsum("tij,tj->ti", transforms[:, :2, :2], camera.look_at)
    right, bottom = config.width - 0.5, config.height - 0.5
    corners = np.array([[-0.5, -0.5, 1.0], [right, -0.5, 1.0], [-0.5, bottom, 1.0], [right, bottom, 1.0]])
    seen = np.einsum("tij,kj->tki", np.linalg.inv(transforms), corners)[..., :2].reshape(-1, 2)
    origin = np.floor(seen.min(axis=0)) - TEXTURE_MARGIN
    size = np.ceil(seen.max(axis=0)) + TEXTURE_MARGIN - origin + 1
    shift = np.eye(3)
    shift[:2, 2] = origin
    transforms = transforms @ shift
    texture = crop_texture(photo, int(size[1]), int(size[0]), rng)
    alpha = np.ones(texture.shape[:2], dtype=np.float32)
    return Layer(kind="background", photo=photo, texture=texture, alpha=alpha, transforms=transforms)


@dataclass(frozen=True)
class _ObjectShape:
    alpha: np.ndarray
    scales: np.ndarray
    angles: np.ndarray
    reach: float
    cover: float


def _draw_object_shape(config: SyntheticVideoConfig, frame_size: float, rng: np.random.Generator) -> _ObjectShape:
    """Blob mask, scale and rotation over time of one object. In frame pixels: ``reach``, the largest
    distance from the centre to a point with alpha > 0; ``cover``, the typical distance to the edge."""
    radius = rng.uniform(*config.object_radius) * frame_size
    aspect = rng.uniform(0.6, 1.0)
    is_ellipse = rng.random() < 0.4
    harmonics = np.zeros((0, 2))
    if not is_ellipse:
        amplitudes = rng.uniform(0.0, 1.0, size=3) * np.array(BLOB_HARMONICS)
        harmonics = np.stack([amplitudes, rng.uniform(0, 2 * np.pi, size=3)], axis=1)
    softness = rng.uniform(*config.edge_softness)
    outer = radius * (1.0 + np.abs(harmonics[:, 0]).sum()) + softness / 2.0
    size = 2 * int(np.ceil(outer)) + 2 * TEXTURE_MARGIN + 1
    alpha = blob_alpha(size, radius, aspect, harmonics, softness)

    log_scale = np.log1p(config.scale_change)
    scales = np.exp(smooth_wave(config.num_frames, log_scale * rng.uniform(0.3, 1.0), rng))
    frames = np.arange(config.num_frames)
    spin = np.deg2rad(config.max_rotation_deg) * rng.uniform(-1.0, 1.0)
    angles = rng.uniform(0, 2 * np.pi) + spin * frames + smooth_wave(config.num_frames, 0.3, rng)
    return _ObjectShape(
        alpha=alpha,
        scales=scales,
        angles=angles,
        reach=float(outer * scales.max()),
        cover=float(radius * np.sqrt(aspect) * scales.mean()),
    )
