"""Smooth motion: cubic Hermite paths through keyframes, similarity transforms and the camera path.

Every transform is float64 [T, 3, 3] in homogeneous coordinates and maps a layer's texture coordinates
(u, v) to frame pixels (x, y), pixel (column c, row r) having its centre at (x=c, y=r).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HermitePath:
    """A C1 path through keyframes: float64 times [K] (strictly increasing), positions [K, 2] (x, y)
    pixels, velocities [K, 2] pixels per frame. Before the first and after the last keyframe it
    continues in a straight line at the end velocity."""

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray

    def __post_init__(self) -> None:
        if self.times.ndim != 1 or self.positions.shape != (len(self.times), 2):
            raise ValueError(f"times [K] and positions [K, 2] disagree: {self.times.shape}, {self.positions.shape}")
        if self.velocities.shape != self.positions.shape:
            raise ValueError(f"velocities must be {self.positions.shape}, got {self.velocities.shape}")
        if len(self.times) == 0 or np.any(np.diff(self.times) <= 0):
            raise ValueError(f"times must be non-empty and strictly increasing, got {self.times}")

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """Positions [len(t), 2] (x, y) at times ``t`` [M] (frames, any real value)."""
        t = np.asarray(t, dtype=np.float64)
        times, positions, velocities = self.times, self.positions, self.velocities
        out = np.empty((len(t), 2))
        before, after = t <= times[0], t >= times[-1]
        out[before] = positions[0] + velocities[0] * (t[before, None] - times[0])
        out[after] = positions[-1] + velocities[-1] * (t[after, None] - times[-1])
        inside = ~(before | after)
        segment = np.clip(np.searchsorted(times, t[inside], side="right") - 1, 0, len(times) - 2)
        duration = times[segment + 1] - times[segment]
        s = ((t[inside] - times[segment]) / duration)[:, None]
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        out[inside] = (
            h00 * positions[segment]
            + h10 * duration[:, None] * velocities[segment]
            + h01 * positions[segment + 1]
            + h11 * duration[:, None] * velocities[segment + 1]
        )
        return out


def catmull_rom_velocities(times: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Velocities [K, 2] at keyframes from their neighbours (central differences; one-sided at the ends)."""
    if len(times) == 1:
        return np.zeros_like(positions)
    velocities = np.empty_like(positions)
    velocities[1:-1] = (positions[2:] - positions[:-2]) / (times[2:] - times[:-2])[:, None]
    velocities[0] = (positions[1] - positions[0]) / (times[1] - times[0])
    velocities[-1] = (positions[-1] - positions[-2]) / (times[-1] - times[-2])
    return velocities


def similarity_transforms(
    centre_xy: np.ndarray, scale: np.ndarray, angle: np.ndarray, pivot_uv: np.ndarray
) -> np.ndarray:
    """Transforms [T, 3, 3] with x = centre_xy[t] + scale[t] * R(angle[t]) (u - pivot_uv).

    centre_xy: [T, 2] frame pixels; scale: [T] frame pixels per texel; angle: [T] radians
    (counter-clockwise on screen is negative because y points down); pivot_uv: [2] texels.
    """
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    transforms = np.zeros((len(scale), 3, 3))
    transforms[:, 0, 0], transforms[:, 0, 1] = cos, -sin
    transforms[:, 1, 0], transforms[:, 1, 1] = sin, cos
    linear = transforms[:, :2, :2]
    transforms[:, :2, 2] = centre_xy - np.einsum("tij,j->ti", linear, pivot_uv)
    transforms[:, 2, 2] = 1.0
    return transforms


def smooth_wave(num_frames: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A random smooth curve [T] in [-amplitude, amplitude]: a sinusoid of 0.3 to 1 periods over the video."""
    u = np.arange(num_frames) / max(num_frames - 1, 1)
    periods, phase = rng.uniform(0.3, 1.0), rng.uniform(0.0, 2 * np.pi)
    return amplitude * np.sin(2 * np.pi * periods * u + phase)


@dataclass(frozen=True)
class CameraPath:
    """Camera motion as seen on the background: per frame, the background texture point at the frame
    centre ``look_at`` [T, 2] (u, v) texels (before any texture offset), ``zoom`` [T] frame pixels per
    texel and ``roll`` [T] radians."""

    look_at: np.ndarray
    zoom: np.ndarray
    roll: np.ndarray


def random_camera_path(
    num_frames: int, frame_size: float, pan: float, zoom: float, roll_deg: float, rng: np.random.Generator
) -> CameraPath:
    """Smooth pan along a curve (total ``pan * frame_size`` pixels), zoom drifting by up to ``1 + zoom``
    in or out, and a roll wobble of up to ``roll_deg`` degrees."""
    u = np.arange(num_frames) / max(num_frames - 1, 1)
    heading = rng.uniform(0.0, 2 * np.pi)
    along = np.array([np.cos(heading), np.sin(heading)])
    across = np.array([-along[1], along[0]])
    acceleration = rng.uniform(-0.5, 0.5)
    progress = (1 - acceleration) * u + acceleration * u**2
    bend = rng.uniform(-0.35, 0.35) * np.sin(np.pi * u)
    distance = pan * frame_size
    look_at = distance * (progress[:, None] * along + bend[:, None] * across)
    zoom_direction = rng.uniform(-1.0, 1.0)
    zoom_curve = np.exp(np.log1p(zoom) * zoom_direction * (3 * u**2 - 2 * u**3))
    roll = np.deg2rad(roll_deg) * rng.uniform(-1.0, 1.0) * np.sin(np.pi * u * rng.uniform(0.5, 1.0))
    return CameraPath(look_at=look_at, zoom=zoom_curve, roll=roll)
