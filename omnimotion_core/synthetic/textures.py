"""Textures cut from the real photographs bundled with scikit-image, and soft-edged object shapes.

Textures are float32 RGB in [0, 1], indexed [row, column]; texel (column c, row r) has its centre at
texture coordinates (u=c, v=r), the same convention as frame pixels.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import skimage.data

PHOTO_NAMES: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "brick",
    "grass",
    "gravel",
    "camera",
    "coins",
    "moon",
)
"""Photographs shipped inside the scikit-image wheel (no download); grayscale ones get a colour tint."""

CROP_CANDIDATES = 6
"""Random crops tried per texture; the one with the most gradient energy (least flat) is kept."""


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """Photograph ``name`` of :data:`PHOTO_NAMES` as float32 [h, w, 3] in [0, 1] (grey ones replicated)."""
    if name not in PHOTO_NAMES:
        raise ValueError(f"unknown photo {name!r}; choose one of {PHOTO_NAMES}")
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3])
    image.setflags(write=False)
    return image


def crop_texture(
    name: str, height: int, width: int, rng: np.random.Generator, max_zoom: float = 3.0
) -> np.ndarray:
    """A textured crop of photo ``name`` resized to float32 [height, width, 3] in [0, 1].

    Tries :data:`CROP_CANDIDATES` crops of random position and zoom (each 1 to ``max_zoom`` times
    ``height x width`` photo pixels when the photo is large enough, otherwise upsampled) and keeps the
    least flat one.
    Grayscale photos are multiplied by a random pastel tint so that objects differ in colour.
    """
    photo = load_photo(name)
    photo_h, photo_w = photo.shape[:2]
    largest_zoom = min(photo_h / height, photo_w / width)
    best, best_energy = None, -1.0
    for _ in range(CROP_CANDIDATES):
        zoom = largest_zoom if largest_zoom <= 1.0 else float(rng.uniform(1.0, min(largest_zoom, max_zoom)))
        crop_h = min(photo_h, max(2, int(round(height * zoom))))
        crop_w = min(photo_w, max(2, int(round(width * zoom))))
        top = int(rng.integers(0, photo_h - crop_h + 1))
        left = int(rng.integers(0, photo_w - crop_w + 1))
        crop = photo[top : top + crop_h, left : left + crop_w]
        interpolation = cv2.INTER_AREA if zoom >= 1.0 else cv2.INTER_LINEAR
        texture = cv2.resize(crop, (width, height), interpolation=interpolation)
        energy = _gradient_energy(texture)
        if energy > best_energy:
            best, best_energy = texture, energy
    assert best is not None
    if _is_grey(photo):
        tint = rng.uniform(0.55, 1.0, size=3).astype(np.float32)
        best = best * (tint / tint.max())
    return np.clip(best, 0.0, 1.0).astype(np.float32)


def blob_alpha(
    size: int,
    radius: float,
    aspect: float,
    harmonics: np.ndarray,
    softness: float,
) -> np.ndarray:
    """Soft-edged blob mask float32 [size, size] in [0, 1], centred at ((size-1)/2, (size-1)/2).

    The boundary is r(phi) = radius * (1 + sum_k a_k cos(k phi + b_k)) for k = 2, 3, ... in a frame
    stretched by ``aspect`` (<= 1) along v, i.e. an ellipse when ``harmonics`` is empty. ``harmonics``:
    [K, 2] rows (a_k, b_k). Alpha ramps linearly from 1 to 0 across a band ``softness`` texels wide
    centred on the boundary (radial distance), so alpha = 0.5 exactly on the boundary.
    """
    centre = (size - 1) / 2.0
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    du, dv = u - centre, (v - centre) / aspect
    rho = np.hypot(du, dv)
    phi = np.arctan2(dv, du)
    boundary = np.full_like(rho, radius)
    for k, (amplitude, phase) in enumerate(harmonics, start=2):
        boundary += radius * amplitude * np.cos(k * phi + phase)
    # Radial distance in the stretched frame, scaled back to texels along v.
    distance = (boundary - rho) * np.where(rho > 0, np.hypot(du, dv * aspect) / np.maximum(rho, 1e-9), 1.0)
    return np.clip(0.5 + distance / softness, 0.0, 1.0).astype(np.float32)


def _gradient_energy(texture: np.ndarray) -> float:
    grey = texture.mean(axis=2)
    return float(np.mean(np.abs(np.diff(grey, axis=0))) + np.mean(np.abs(np.diff(grey, axis=1))))


def _is_grey(photo: np.ndarray) -> bool:
    return bool(np.array_equal(photo[..., 0], photo[..., 1]) and np.array_equal(photo[..., 1], photo[..., 2]))
