"""Rendering a :class:`~omnimotion_core.synthetic.scene.Scene` to uint8 frames.

Each layer is warped with ``cv2.warpAffine`` (bilinear, exact inverse map of its transform) onto a
grid ``s`` times finer than the frame, composited far to near with premultiplied alpha, and box-averaged
back to the frame size. Fine pixel (xs, ys) has its centre at frame position
((xs - (s - 1) / 2) / s, (ys - (s - 1) / 2) / s), so the average of each s x s block is centred exactly on
frame pixel (x, y) and the pixel-centre convention of the scene holds after anti-aliasing.
"""

from __future__ import annotations

import cv2
import numpy as np

from omnimotion_core.synthetic.scene import Scene


def render_video(scene: Scene, add_noise: bool = True, apply_gain: bool = True) -> np.ndarray:
    """Frames of ``scene`` as uint8 [T, H, W, 3] RGB.

    ``add_noise=False`` skips the Gaussian pixel noise and ``apply_gain=False`` the global brightness
    change, e.g. to compare colours along ground-truth tracks.
    """
    rng = np.random.default_rng(scene.noise_seed)
    frames = np.empty((scene.num_frames, scene.height, scene.width, 3), dtype=np.uint8)
    premultiplied = _premultiply(scene)
    for t in range(scene.num_frames):
        linear = _render_linear(scene, t, premultiplied) * 255.0
        if apply_gain:
            linear *= scene.gains[t]
        if add_noise and scene.noise_std > 0:
            linear += rng.normal(0.0, scene.noise_std, size=linear.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(linear), 0, 255).astype(np.uint8)
    return frames


def render_frame_linear(scene: Scene, t: int) -> np.ndarray:
    """Frame ``t`` as float32 [H, W, 3] in [0, 1], before gain, noise and quantisation."""
    if not 0 <= t < scene.num_frames:
        raise ValueError(f"frame t={t} outside [0, {scene.num_frames - 1}]")
    return _render_linear(scene, t, _premultiply(scene))


def _premultiply(scene: Scene) -> list[np.ndarray]:
    """Per layer float32 [h, w, 4]: (RGB * alpha, alpha) of its texture."""
    return [
        np.ascontiguousarray(np.concatenate([layer.texture * layer.alpha[..., None], layer.alpha[..., None]], axis=2))
        for layer in scene.layers
    ]


def _render_linear(scene: Scene, t: int, premultiplied: list[np.ndarray]) -> np.ndarray:
    s = scene.supersample
    fine_size = (scene.width * s, scene.height * s)
    shift = -(s - 1) / (2.0 * s)
    fine_to_frame = np.array([[1.0 / s, 0.0, shift], [0.0, 1.0 / s, shift], [0.0, 0.0, 1.0]])
    canvas = np.zeros((fine_size[1], fine_size[0], 3), dtype=np.float32)
    for layer, texture in zip(scene.layers, premultiplied, strict=True):
        fine_to_texture = (np.linalg.inv(layer.transforms[t]) @ fine_to_frame)[:2]
        border = cv2.BORDER_REFLECT_101 if layer.kind == "background" else cv2.BORDER_CONSTANT
        warped = cv2.warpAffine(
            texture,
            fine_to_texture,
            fine_size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=border,
            borderValue=(0.0, 0.0, 0.0, 0.0),
        )
        canvas = canvas * (1.0 - warped[..., 3:4]) + warped[..., :3]
    if s == 1:
        return canvas
    return canvas.reshape(scene.height, s, scene.width, s, 3).mean(axis=(1, 3))
