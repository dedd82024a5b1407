"""Configuration of the synthetic benchmark: one video, a dataset of videos, and named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

MIN_FRAME_SIZE = 32
"""Smallest height or width in pixels: below it the objects have no room to move, cross and exit."""

MAX_OBJECTS = 12
"""Most foreground objects per video (one distinct photograph each, plus one for the background)."""

BLOB_HARMONICS = (0.12, 0.084, 0.06)
"""Largest relative amplitudes of the 2nd, 3rd and 4th harmonics of a blob's boundary radius."""


@dataclass(frozen=True)
class SyntheticVideoConfig:
    """One synthetic video: a photographed background under camera motion and textured objects over it.

    Sizes are in pixels, speeds in pixels per frame unless a field says "fraction"; fractions of the
    frame size are relative to ``min(height, width)``.
    """

    num_frames: int = 32
    """T, frames per video (>= 2)."""
    height: int = 128
    """H in pixels (>= 32)."""
    width: int = 128
    """W in pixels (>= 32)."""
    num_objects: int = 4
    """Foreground objects (0 to 12), each a photograph cut by a soft-edged ellipse or blob, in a random depth order."""
    num_points: int = 256
    """N, ground-truth tracks per video, spread over every layer (at least one per layer, so >= num_objects + 1)."""
    background_point_fraction: float = 0.4
    """Share of the tracks sampled on the background; the rest is split evenly over the objects."""
    exit_fraction: float = 0.5
    """Share of the objects (rounded) that leave the frame completely once and come back. The other
    objects stay entirely inside the frame in every frame."""
    crossing_fraction: float = 0.5
    """Share of the objects (rounded; never the nearest one) scheduled to pass right behind a nearer object."""
    occlusion_frames: tuple[int, int] = (5, 20)
    """(min, max) frames an exit lasts or a crossing hides the centre of the farther object; clipped to what
    ``num_frames`` allows (an exit needs a few frames to leave and come back, so short videos may have none)."""
    object_radius: tuple[float, float] = (0.12, 0.2)
    """(min, max) object radius as a fraction of the frame size."""
    max_speed: float = 0.06
    """Typical top speed of an object as a fraction of the frame size per frame (crossings and exits may
    exceed it to fit their schedule)."""
    keyframe_interval: int = 8
    """Frames between the random waypoints of an object's curved path."""
    max_rotation_deg: float = 3.0
    """Largest steady rotation of an object in degrees per frame (plus a smooth wobble)."""
    scale_change: float = 0.2
    """Largest relative change of an object's size over the video (0.2: between 1/1.2 and 1.2 times)."""
    camera_pan: float = 0.3
    """Total camera pan over the video as a fraction of the frame size (along a curved path)."""
    camera_zoom: float = 0.2
    """Largest relative camera zoom change over the video (0.2: up to 1.2 times in or out)."""
    camera_rotation_deg: float = 4.0
    """Largest camera roll in degrees."""
    edge_softness: tuple[float, float] = (1.0, 3.0)
    """(min, max) width in texture pixels of the alpha ramp at an object's edge."""
    noise_std: float = 2.0
    """Standard deviation of the i.i.d. Gaussian pixel noise, in uint8 grey levels."""
    brightness_change: float = 0.15
    """Largest relative change of the global brightness over the video (a smooth gain in [1 - b, 1 + b])."""
    supersample: int = 2
    """Frames are rendered at this factor and box-averaged down (anti-aliasing); 1 switches it off."""

    def __post_init__(self) -> None:
        _check_int("num_frames", self.num_frames, minimum=2)
        _check_int("height", self.height, minimum=MIN_FRAME_SIZE)
        _check_int("width", self.width, minimum=MIN_FRAME_SIZE)
        _check_int("num_objects", self.num_objects, minimum=0, maximum=MAX_OBJECTS)
        _check_int("num_points", self.num_points, minimum=self.num_objects + 1)
        _check_int("keyframe_interval", self.keyframe_interval, minimum=2)
        _check_int("supersample", self.supersample, minimum=1, maximum=4)
        for name in ("background_point_fraction", "exit_fraction", "crossing_fraction"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("scale_change", "camera_pan", "camera_zoom", "max_rotation_deg", "camera_rotation_deg"):
            _check_range(name, getattr(self, name), 0.0, None)
        _check_range("brightness_change", self.brightness_change, 0.0, 0.5)
        _check_range("noise_std", self.noise_std, 0.0, 50.0)
        _check_range("max_speed", self.max_speed, 1e-3, 0.5)
        _check_pair("occlusion_frames", self.occlusion_frames, 1, None, integer=True)
        _check_pair("object_radius", self.object_radius, 0.02, 0.3, integer=False)
        _check_pair("edge_softness", self.edge_softness, 0.5, 10.0, integer=False)
        size = min(self.height, self.width)
        reach = self.object_radius[1] * size * (1 + sum(BLOB_HARMONICS)) * (1 + self.scale_change)
        reach += self.edge_softness[1] / 2
        if 2 * reach + 3 > size:
            raise ValueError(
                f"objects up to {reach:.1f} px in radius do not fit in a {self.height}x{self.width} frame; "
                "lower object_radius, scale_change or edge_softness, or enlarge the frame"
            )


@dataclass(frozen=True)
class SyntheticDatasetConfig:
    """A set of synthetic videos sharing one video configuration; video k's scene comes from (seed, k)."""

    num_videos: int = 8
    """Videos in the dataset (>= 1), named ``synth_000``, ``synth_001``, ..."""
    video: SyntheticVideoConfig = field(default_factory=SyntheticVideoConfig)
    """Configuration of every video."""

    def __post_init__(self) -> None:
        _check_int("num_videos", self.num_videos, minimum=1)
        if not isinstance(self.video, SyntheticVideoConfig):
            raise TypeError(
                f"SyntheticDatasetConfig.video must be a SyntheticVideoConfig, got {type(self.video).__name__}"
            )


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")


def _check_range(name: str, value: float, minimum: float, maximum: float | None) -> None:
    if not minimum <= value or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")


def _check_pair(name: str, value: tuple, minimum: float, maximum: float | None, integer: bool) -> None:
    if len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
    if integer and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{name} must hold two ints, got {value!r}")
    low, high = value
    if low < minimum or low > high or (maximum is not None and high > maximum):
        upper = "" if maximum is None else f" <= {maximum}"
        raise ValueError(f"{name} must satisfy {minimum} <= min <= max{upper}, got {value!r}")


SYNTHETIC_PRESETS: dict[str, SyntheticDatasetConfig] = {
    "small": SyntheticDatasetConfig(
        num_videos=2,
        video=SyntheticVideoConfig(num_frames=12, height=64, width=64, num_objects=3, num_points=64),
    ),
    "bench": SyntheticDatasetConfig(num_videos=8, video=SyntheticVideoConfig()),
}
"""Named dataset configurations: ``"small"`` for tests (2 videos, 12 frames, 64x64) and ``"bench"``
(8 videos, 32 frames, 128x128, 256 tracks each)."""


def resize_synthetic_preset(
    preset: str | SyntheticDatasetConfig,
    *,
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    num_videos: int | None = None,
) -> SyntheticDatasetConfig:
    """A preset (by name or instance) with some of its sizes replaced; ``None`` keeps the preset's value.

    Example: ``resize_synthetic_preset("bench", num_frames=24, height=256, width=256)``.
    """
    if isinstance(preset, str):
        if preset not in SYNTHETIC_PRESETS:
            raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(SYNTHETIC_PRESETS)}")
        preset = SYNTHETIC_PRESETS[preset]
    video_changes = {
        name: value
        for name, value in (("num_frames", num_frames), ("height", height), ("width", width))
        if value is not None
    }
    return dataclasses.replace(
        preset,
        num_videos=preset.num_videos if num_videos is None else num_videos,
        video=dataclasses.replace(preset.video, **video_changes),
    )
