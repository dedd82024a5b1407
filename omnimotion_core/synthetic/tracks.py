"""Exact ground truth of a scene: point tracks with occlusion, and dense correspondence between frames.

Conventions:
    Positions are (x, y) pixels; pixel (column c, row r) has its centre at (x=c, y=r).
    A position is inside the frame when 0 <= x <= W - 1 and 0 <= y <= H - 1 (between the outermost pixel
    centres, where a frame can be sampled bilinearly), up to 1e-6 px of round-off.
    Alpha of a layer at a frame position is its alpha texture sampled bilinearly (zero outside the
    texture) at the inverse-transformed position; the background has alpha 1 everywhere.
    Soft edges: a layer covers a position when its alpha there is >= :data:`COVER_ALPHA` (0.5, the
    blob's drawn boundary). A point of layer L is occluded at frame t when some nearer layer covers its
    position, or when it is outside the frame. The visible surface at a pixel is the nearest layer that
    covers it. Object points are only sampled where the object's own alpha is >= :data:`SOLID_ALPHA`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnimotion_core.synthetic.scene import Layer, Scene

COVER_ALPHA = 0.5
"""A layer hides what lies behind it where its alpha is at least this."""

SOLID_ALPHA = 0.99
"""Object points are sampled only where the object's alpha is at least this (its solid interior)."""

INSIDE_TOLERANCE = 1e-6
"""Pixels by which a position may pass the outermost pixel centres and still count as inside the frame."""

SAMPLING_ROUNDS = 50
"""Batches of random candidates tried per layer before its missing points go to the background."""

Bounds = tuple[float, float, float, float]
"""(x_min, y_min, x_max, y_max) of a frame in scene pixels: the inside test's limits."""


@dataclass(frozen=True, eq=False)
class GroundTruthTracks:
    """Tracks of N points of a scene.

    Attributes:
        positions: float64 [N, T, 2], (x, y) pixels at every frame (also where occluded or outside).
        occluded: bool [N, T], True where a nearer layer covers the point or it is outside the frame.
        layers: int64 [N], the layer each point lies on (0 = background, larger = nearer).
        texture_uv: float64 [N, 2], (u, v) texel position of each point on its layer.
        query_frames: int64 [N], the frame each point was sampled at, where it is visible.
    """

    positions: np.ndarray
    occluded: np.ndarray
    layers: np.ndarray
    texture_uv: np.ndarray
    query_frames: np.ndarray


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples of float [h, w] ``image`` at float [M, 2] (u, v) texel positions -> [M]; zero outside."""
    height, width = image.shape
    u0, v0 = np.floor(uv[:, 0]), np.floor(uv[:, 1])
    fu, fv = uv[:, 0] - u0, uv[:, 1] - v0
    u0, v0 = u0.astype(np.int64), v0.astype(np.int64)
    result = np.zeros(len(uv), dtype=np.float64)
    for du, dv, weight in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        u, v = u0 + du, v0 + dv
        inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
        result[inside] += weight[inside] * image[v[inside], u[inside]]
    return result


def layer_alpha_at(layer: Layer, t: int, xy: np.ndarray) -> np.ndarray:
    """Alpha [M] of ``layer`` at frame ``t`` at [M, 2] (x, y) frame positions."""
    if layer.kind == "background":
        return np.ones(len(xy))
    return sample_bilinear(layer.alpha, apply_transform(np.linalg.inv(layer.transforms[t]), xy))


def apply_transform(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a [3, 3] affine transform to [M, 2] points -> [M, 2]."""
    return points @ transform[:2, :2].T + transform[:2, 2]


def is_inside_frame(scene: Scene, xy: np.ndarray, bounds: Bounds | None = None) -> np.ndarray:
    """bool [...] for [..., 2] (x, y) positions: 0 <= x <= W - 1 and 0 <= y <= H - 1, up to
    :data:`INSIDE_TOLERANCE` (so that round-off of a transform and its inverse keeps edge pixels inside).

    ``bounds`` = (x_min, y_min, x_max, y_max) replaces the scene's outermost pixel centres (0, 0, W - 1, H - 1),
    e.g. by those of a resized frame mapped into scene coordinates (:func:`resized_pixel_centres`)."""
    x_min, y_min, x_max, y_max = frame_bounds(scene) if bounds is None else bounds
    x, y, eps = xy[..., 0], xy[..., 1], INSIDE_TOLERANCE
    return (x >= x_min - eps) & (x <= x_max + eps) & (y >= y_min - eps) & (y <= y_max + eps)


def frame_bounds(scene: Scene) -> Bounds:
    """(x_min, y_min, x_max, y_max) of the scene's own frame: its outermost pixel centres."""
    return 0.0, 0.0, scene.width - 1.0, scene.height - 1.0


def is_covered_by_nearer(scene: Scene, layers: np.ndarray, t: int, xy: np.ndarray) -> np.ndarray:
    """bool [M]: whether a layer nearer than ``layers`` [M] covers the (x, y) positions [M, 2] at frame t."""
    covered = np.zeros(len(xy), dtype=bool)
    for index in range(1, len(scene.layers)):
        behind = layers < index
        if np.any(behind):
            covered[behind] |= layer_alpha_at(scene.layers[index], t, xy[behind]) >= COVER_ALPHA
    return covered


def track_points(scene: Scene, layers: np.ndarray, texture_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions float64 [N, T, 2] (x, y) and occluded bool [N, T] of points (layer [N], (u, v) [N, 2])."""
    positions = np.empty((len(layers), scene.num_frames, 2))
    occluded = np.empty((len(layers), scene.num_frames), dtype=bool)
    for index, layer in enumerate(scene.layers):
        on_layer = layers == index
        for t in range(scene.num_frames):
            positions[on_layer, t] = apply_transform(layer.transforms[t], texture_uv[on_layer])
    for t in range(scene.num_frames):
        at_t = positions[:, t]
        occluded[:, t] = ~is_inside_frame(scene, at_t) | is_covered_by_nearer(scene, layers, t, at_t)
    return positions, occluded


def allocate_points(num_points: int, num_layers: int, background_fraction: float) -> np.ndarray:
    """Points per layer, int64 [L]: ``background_fraction`` of them on layer 0 (at least one, leaving at
    least one per object), the rest split evenly over the objects."""
    num_objects = num_layers - 1
    if num_points < num_layers:
        raise ValueError(f"num_points must be >= the number of layers ({num_layers}), got {num_points}")
    background = min(max(int(round(background_fraction * num_points)), 1), num_points - num_objects)
    counts = np.zeros(num_layers, dtype=np.int64)
    counts[0] = background
    if num_objects:
        share, extra = divmod(num_points - background, num_objects)
        counts[1:] = share
        counts[1 : 1 + extra] += 1
    else:
        counts[0] = num_points
    return counts


def sample_tracks(
    scene: Scene, num_points: int, background_fraction: float, rng: np.random.Generator
) -> GroundTruthTracks:
    """Sample ``num_points`` tracks on every layer (see :func:`allocate_points`), each visible at its
    randomly drawn query frame, and follow them through all frames with their layer's exact transform.

    A point of an object is drawn uniformly over the object's solid interior (texture space) at a
    uniformly drawn frame, and kept if visible there; a background point uniformly over the visible
    background of a uniformly drawn frame. Should an object show too little of itself, its missing
    points are drawn on the background instead.
    """
    counts = allocate_points(num_points, len(scene.layers), background_fraction)
    chosen_layers, chosen_uv, chosen_frames = [], [], []
    missing = 0
    for index in range(len(scene.layers) - 1, -1, -1):
        wanted = int(counts[index]) + (missing if index == 0 else 0)
        uv, frames = _sample_on_layer(scene, index, wanted, rng)
        missing += wanted - len(uv) if index > 0 else 0
        if index == 0 and len(uv) < wanted:
            raise RuntimeError(f"could not sample {wanted} visible background points")
        chosen_layers.append(np.full(len(uv), index, dtype=np.int64))
        chosen_uv.append(uv)
        chosen_frames.append(frames)
    layers = np.concatenate(chosen_layers[::-1])
    texture_uv = np.concatenate(chosen_uv[::-1])
    query_frames = np.concatenate(chosen_frames[::-1])
    positions, occluded = track_points(scene, layers, texture_uv)
    assert not np.any(occluded[np.arange(len(layers)), query_frames]), "a sampled point is hidden at its query frame"
    return GroundTruthTracks(
        positions=positions, occluded=occluded, layers=layers, texture_uv=texture_uv, query_frames=query_frames
    )


def _sample_on_layer(
    scene: Scene, index: int, wanted: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``wanted`` visible points of layer ``index``: (u, v) [M, 2] and their query frames [M]."""
    layer = scene.layers[index]
    batch = max(64, 4 * wanted)
    found_uv, found_frames, found = [], [], 0
    if layer.kind == "object":
        rows, cols = np.nonzero(layer.alpha >= SOLID_ALPHA)
        low, high = np.array([cols.min(), rows.min()]), np.array([cols.max(), rows.max()])
    for _ in range(SAMPLING_ROUNDS):
        if found >= wanted:
            break
        frames = rng.integers(0, scene.num_frames, size=batch)
        if layer.kind == "background":
            xy = rng.uniform([0.0, 0.0], [scene.width - 1.0, scene.height - 1.0], size=(batch, 2))
            uv = _apply_each(np.linalg.inv(layer.transforms)[frames], xy)
            keep = np.ones(batch, dtype=bool)
        else:
            uv = rng.uniform(low, high, size=(batch, 2))
            keep = sample_bilinear(layer.alpha, uv) >= SOLID_ALPHA
            xy = _apply_each(layer.transforms[frames], uv)
            keep &= is_inside_frame(scene, xy)
        for t in np.unique(frames[keep]):
            at_t = keep & (frames == t)
            keep[at_t] = ~is_covered_by_nearer(scene, np.full(int(at_t.sum()), index), int(t), xy[at_t])
        take = np.nonzero(keep)[0][: wanted - found]
        found_uv.append(uv[take])
        found_frames.append(frames[take])
        found += len(take)
    if not found_uv:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_uv), np.concatenate(found_frames).astype(np.int64)


def _apply_each(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply transform m [M, 3, 3] to point m [M, 2] -> [M, 2]."""
    return np.einsum("mij,mj->mi", transforms[:, :2, :2], points) + transforms[:, :2, 2]


def surface_layers(scene: Scene, t: int) -> np.ndarray:
    """int64 [H, W]: index of the visible layer at each pixel of frame t (nearest layer covering it)."""
    return surface_layer_at(scene, t, pixel_grid(scene)).reshape(scene.height, scene.width)


def surface_layer_at(scene: Scene, t: int, xy: np.ndarray) -> np.ndarray:
    """int64 [M]: index of the visible layer at [M, 2] (x, y) positions of frame t (nearest layer covering it)."""
    surface = np.zeros(len(xy), dtype=np.int64)
    for index in range(1, len(scene.layers)):
        surface[layer_alpha_at(scene.layers[index], t, xy) >= COVER_ALPHA] = index
    return surface


def pixel_grid(scene: Scene) -> np.ndarray:
    """float64 [H * W, 2], (x, y) of every pixel centre in row-major order."""
    y, x = np.mgrid[0 : scene.height, 0 : scene.width].astype(np.float64)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def resized_pixel_centres(scene: Scene, size: tuple[int, int]) -> tuple[np.ndarray, tuple[float, float]]:
    """Where the pixel centres of the scene's frames resized to ``size`` = (height, width) lie in scene
    coordinates, under the pixel-area convention of OpenCV's ``cv2.resize`` (``INTER_LINEAR`` and
    ``INTER_AREA``, the resize rule of ingestion, ``storage.frames.resize_frame``): pixel x of the
    resized frame covers scene pixels [x * s, (x + 1) * s) edge to edge, s = W / width, so its centre is at
    x_s = (x + 0.5) * s - 0.5 (likewise for y).

    Returns:
        xy: float64 [height * width, 2], (x, y) scene positions of the resized pixel centres, row-major.
        scale: (s_x, s_y), scene pixels per resized pixel: a displacement of d scene pixels is d / s
            resized pixels.
    """
    height, width = size
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (height, width), got {size}")
    scale = (scene.width / width, scene.height / height)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    xy = np.stack([(x.ravel() + 0.5) * scale[0] - 0.5, (y.ravel() + 0.5) * scale[1] - 0.5], axis=1)
    return xy, scale


def ground_truth_flow_at(
    scene: Scene, i: int, j: int, xy: np.ndarray, bounds: Bounds | None = None, layers: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact correspondence from frame i to frame j of points at arbitrary (x, y) positions of frame i.

    Args:
        scene: the scene.
        i, j: frame indices.
        xy: float [M, 2], (x, y) scene positions in frame i (any real values, not only pixel centres).
        bounds: (x_min, y_min, x_max, y_max) of frame j in scene coordinates for the inside test
            (default: the scene's outermost pixel centres, see :func:`is_inside_frame`).
        layers: int [M], the layer each point lies on; default the visible surface of frame i there
            (:func:`surface_layer_at`).

    Returns:
        flow: float64 [M, 2], (dx, dy) scene pixels: the point at ``xy`` of frame i is at ``xy + flow`` in
            frame j (exact, also where it is hidden or outside in frame j).
        visible: bool [M], True where that point is inside ``bounds`` in frame j and not covered by a
            nearer layer there.
    """
    for name, frame in (("i", i), ("j", j)):
        if not 0 <= frame < scene.num_frames:
            raise ValueError(f"frame {name}={frame} outside [0, {scene.num_frames - 1}]")
    xy_i = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    surface = surface_layer_at(scene, i, xy_i) if layers is None else np.asarray(layers, dtype=np.int64)
    xy_j = np.empty_like(xy_i)
    for index, layer in enumerate(scene.layers):
        on_layer = surface == index
        i_to_j = layer.transforms[j] @ np.linalg.inv(layer.transforms[i])
        xy_j[on_layer] = apply_transform(i_to_j, xy_i[on_layer])
    visible = is_inside_frame(scene, xy_j, bounds) & ~is_covered_by_nearer(scene, surface, j, xy_j)
    return xy_j - xy_i, visible


def ground_truth_flow(scene: Scene, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense correspondence from frame i to frame j of the visible surface at every pixel of frame i
    (:func:`ground_truth_flow_at` at every pixel centre).

    Returns:
        flow: float32 [H, W, 2], (dx, dy) pixels: the surface point at pixel (x, y) of frame i is at
            (x + dx, y + dy) in frame j (exact, also where it is hidden or outside in frame j).
        visible: bool [H, W], True where that point is inside frame j and not covered by a nearer layer there.
    """
    flow, visible = ground_truth_flow_at(scene, i, j, pixel_grid(scene))
    return flow.astype(np.float32).reshape(scene.height, scene.width, 2), visible.reshape(scene.height, scene.width)
