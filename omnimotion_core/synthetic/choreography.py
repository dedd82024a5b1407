"""Paths of the foreground objects, planned around scheduled exits and crossings.

An exit takes an object fully out of the frame for a number of frames and brings it back through the
same side; a crossing puts two objects' centres on the same spot at one frame, moving relative to each
other so that the nearer one hides the farther one's centre for about a chosen number of frames.
Objects without an exit stay entirely inside the frame in every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from omnimotion_core.synthetic.motion import HermitePath, catmull_rom_velocities

KEYFRAME_GAP = 2
"""Fewest frames between two keyframes of one object."""

EXIT_MARGIN = 2.0
"""Pixels by which an exiting object's outermost point clears the frame edge while it is out."""

CROSSING_HALF_WINDOW = 3
"""Frames either side of a crossing with straight, constant-velocity motion of both objects (the paths
continue that motion beyond, through their next waypoints)."""

EXIT_SPEEDUP = 2.0
"""An object leaves and re-enters the frame at up to this many times the typical top speed."""


@dataclass(frozen=True)
class ExitEvent:
    """Object ``layer`` is entirely outside the frame in frames ``first_out`` to ``last_out`` (inclusive).

    From :func:`plan_object_paths` layers count the objects (0 = farthest object); in a Scene they index
    ``Scene.layers`` (0 = background)."""

    layer: int
    first_out: int
    last_out: int


@dataclass(frozen=True)
class CrossingEvent:
    """Objects ``far_layer`` (behind) and ``near_layer`` have (almost) the same centre at frame ``frame``;
    their relative speed is set so that the near one covers the far one's centre for about ``frames``.
    Layers are numbered as in :class:`ExitEvent`."""

    far_layer: int
    near_layer: int
    frame: int
    frames: int


@dataclass(frozen=True)
class ChoreographyConfig:
    """Inputs of :func:`plan_object_paths` in pixels and frames (derived from SyntheticVideoConfig)."""

    num_frames: int
    height: int
    width: int
    exit_fraction: float
    crossing_fraction: float
    occlusion_frames: tuple[int, int]
    max_speed_px: float
    keyframe_interval: int


@dataclass
class _Keyframes:
    """Keyframes of one object while planning: velocity None means "from the neighbours"."""

    times: list[int] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    velocities: list[np.ndarray | None] = field(default_factory=list)
    busy: list[tuple[int, int]] = field(default_factory=list)
    exit_window: tuple[int, int] | None = None

    def add(self, time: int, position: np.ndarray, velocity: np.ndarray | None) -> None:
        self.times.append(time)
        self.positions.append(np.asarray(position, dtype=np.float64))
        self.velocities.append(None if velocity is None else np.asarray(velocity, dtype=np.float64))

    def is_free(self, start: int, end: int) -> bool:
        return all(end + KEYFRAME_GAP <= lo or start - KEYFRAME_GAP >= hi for lo, hi in self.busy)


def plan_object_paths(
    config: ChoreographyConfig,
    radii: np.ndarray,
    cover_radii: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[HermitePath], list[ExitEvent], list[CrossingEvent]]:
    """Plan the centre path of K objects, ordered far to near.

    Exits are scheduled first (they need the longest free stretch of frames), then crossings; objects
    are tried in random order until the wanted counts are met, and an event that fits nowhere is
    dropped, so short videos may have fewer events than the fractions ask for.

    Args:
        config: frame size, event rates and speeds.
        radii: [K] pixels, the largest distance from an object's centre to any point it ever covers
            (shape, scale and soft edge included): the object is fully inside the frame when its centre
            is at least ``radius + 1`` from every edge.
        cover_radii: [K] pixels, typical distance from an object's centre to its edge (alpha = 0.5).
        rng: source of all randomness.

    Returns:
        One :class:`HermitePath` of (x, y) centre pixels per object, and the scheduled events.
    """
    num_objects = len(radii)
    boxes = [_inside_box(config, float(radius)) for radius in radii]
    plans = [_Keyframes() for _ in range(num_objects)]
    exits: list[ExitEvent] = []
    crossings: list[CrossingEvent] = []

    num_exits = int(round(config.exit_fraction * num_objects))
    for layer in rng.permutation(num_objects).tolist():
        if len(exits) == num_exits:
            break
        event = _schedule_exit(config, layer, float(radii[layer]), boxes[layer], plans[layer], rng)
        if event is not None:
            exits.append(event)

    num_crossings = min(int(round(config.crossing_fraction * num_objects)), max(num_objects - 1, 0))
    for far in rng.permutation(max(num_objects - 1, 0)).tolist():
        if len(crossings) == num_crossings:
            break
        for near in (far + 1 + rng.permutation(num_objects - far - 1)).tolist():
            event = _schedule_crossing(config, far, near, boxes, plans, float(cover_radii[near]), rng)
            if event is not None:
                crossings.append(event)
                break

    paths = [_complete_path(config, boxes[k], plans[k], rng) for k in range(num_objects)]
    return paths, sorted(exits, key=lambda e: e.layer), crossings


def _inside_box(config: ChoreographyConfig, radius: float) -> np.ndarray:
    """[2, 2] rows (min, max) of x and y for a centre keeping the whole object inside the frame."""
    box = np.array([[radius + 1.0, config.width - 2.0 - radius], [radius + 1.0, config.height - 2.0 - radius]])
    if np.any(box[:, 0] > box[:, 1]):
        raise ValueError(
            f"an object of radius {radius:.1f} px does not fit in a {config.height}x{config.width} frame; "
            "lower object_radius or scale_change"
        )
    return box


def _draw_duration(config: ChoreographyConfig, longest: int, rng: np.random.Generator) -> int | None:
    low, high = config.occlusion_frames
    if longest < low:
        return None
    return int(rng.integers(low, min(high, longest) + 1))


def _schedule_exit(
    config: ChoreographyConfig,
    layer: int,
    radius: float,
    box: np.ndarray,
    plan: _Keyframes,
    rng: np.random.Generator,
) -> ExitEvent | None:
    travel = 2.0 * radius + 1.0 + EXIT_MARGIN
    ramp = max(KEYFRAME_GAP, math.ceil(travel / (EXIT_SPEEDUP * config.max_speed_px)))
    duration = _draw_duration(config, config.num_frames - 1 - 2 * ramp, rng)
    if duration is None:
        return None
    for _ in range(20):
        first_out = int(rng.integers(ramp, config.num_frames - ramp - duration + 1))
        last_out = first_out + duration - 1
        if plan.is_free(first_out - ramp, last_out + ramp):
            break
        duration = max(config.occlusion_frames[0], duration - 1)
    else:
        return None
    side = int(rng.integers(4))
    axis, outward = side // 2, (-1.0, 1.0)[side % 2]
    other = 1 - axis
    frame_extent = (config.width, config.height)[axis] - 1.0
    out_coordinate = -(radius + EXIT_MARGIN) if outward < 0 else frame_extent + radius + EXIT_MARGIN
    in_coordinate = box[axis, 0] if outward < 0 else box[axis, 1]
    tangent = np.sort(rng.uniform(box[other, 0], box[other, 1], size=2))[:: int(rng.choice([-1, 1]))]

    def point(normal: float, along: float) -> np.ndarray:
        position = np.empty(2)
        position[axis], position[other] = normal, along
        return position

    tangent_speed = (tangent[1] - tangent[0]) / max(duration - 1 + 2 * ramp, 1)
    normal_speed = 0.5 * travel / ramp
    plan.add(first_out - ramp, point(in_coordinate, tangent[0]), None)
    if duration == 1:
        plan.add(first_out, point(out_coordinate, tangent.mean()), point(0.0, tangent_speed))
    else:
        leaving = point(outward * normal_speed, tangent_speed)
        returning = point(-outward * normal_speed, tangent_speed)
        plan.add(first_out, point(out_coordinate, tangent[0] + tangent_speed * ramp), leaving)
        plan.add(last_out, point(out_coordinate, tangent[1] - tangent_speed * ramp), returning)
    plan.add(last_out + ramp, point(in_coordinate, tangent[1]), None)
    plan.busy.append((first_out - ramp, last_out + ramp))
    plan.exit_window = (first_out - ramp, last_out + ramp)
    return ExitEvent(layer=layer, first_out=first_out, last_out=last_out)


def _schedule_crossing(
    config: ChoreographyConfig,
    far: int,
    near: int,
    boxes: list[np.ndarray],
    plans: list[_Keyframes],
    near_cover_radius: float,
    rng: np.random.Generator,
) -> CrossingEvent | None:
    """Both objects move in straight lines at constant velocity through a window around the crossing
    frame, their relative speed 2 * near_cover_radius / duration, so the near one covers the far one's
    centre for about ``duration`` frames (longer or shorter as the near object's edge is farther or
    nearer than its typical radius along the direction of motion)."""
    duration = _draw_duration(config, config.num_frames - 2, rng)
    if duration is None:
        return None
    last = config.num_frames - 1
    half = min(duration // 2 + 1, CROSSING_HALF_WINDOW)
    for _ in range(10):
        frame = int(rng.integers(min(half, last), max(last - half, half) + 1))
        times = sorted({max(frame - half, 0), frame, min(frame + half, last)})
        if all(plans[layer].is_free(times[0], times[-1]) for layer in (far, near)):
            break
    else:
        return None
    direction = _random_direction(rng)
    relative_speed = 2.0 * near_cover_radius / duration
    share = rng.uniform(0.3, 0.7)
    common = _random_direction(rng) * rng.uniform(0.0, 0.5) * config.max_speed_px
    far_velocity = common - share * relative_speed * direction
    near_velocity = common + (1.0 - share) * relative_speed * direction
    offset = rng.uniform(-0.1, 0.1, size=2) * near_cover_radius
    reach_far = np.abs(far_velocity) * half
    reach_near = np.abs(near_velocity) * half + np.abs(offset)
    low = np.maximum(boxes[far][:, 0] + reach_far, boxes[near][:, 0] + reach_near)
    high = np.minimum(boxes[far][:, 1] - reach_far, boxes[near][:, 1] - reach_near)
    if np.any(low > high):
        return None
    centre = rng.uniform(low, high)
    for time in times:
        plans[far].add(time, centre + far_velocity * (time - frame), far_velocity)
        plans[near].add(time, centre + offset + near_velocity * (time - frame), near_velocity)
    for layer in (far, near):
        plans[layer].busy.append((times[0], times[-1]))
    return CrossingEvent(far_layer=far, near_layer=near, frame=frame, frames=duration)


def _complete_path(
    config: ChoreographyConfig, box: np.ndarray, plan: _Keyframes, rng: np.random.Generator
) -> HermitePath:
    """Add waypoints between the events, set free velocities and keep the object inside when it must."""
    last = config.num_frames - 1
    count = max(2, int(round(last / config.keyframe_interval)) + 1)
    fixed_times = list(plan.times)
    waypoints = sorted(
        {
            int(t)
            for t in np.round(np.linspace(0, last, count))
            if plan.is_free(int(t), int(t)) and all(abs(int(t) - f) >= KEYFRAME_GAP for f in fixed_times)
        }
    )
    for time in waypoints:
        plan.add(time, _place_waypoint(config, box, plan, time, rng), None)

    order = np.argsort(plan.times)
    times = np.asarray(plan.times, dtype=np.float64)[order]
    positions = np.stack(plan.positions)[order]
    free = np.array([plan.velocities[k] is None for k in order])
    velocities = catmull_rom_velocities(times, positions)
    speed = np.maximum(np.hypot(velocities[:, 0], velocities[:, 1]), 1e-12)
    velocities *= np.minimum(1.0, config.max_speed_px / speed)[:, None]
    for row, k in enumerate(order):
        if not free[row]:
            velocities[row] = plan.velocities[k]
    return _keep_inside(config, box, plan.exit_window, times, positions, velocities, free)


def _place_waypoint(
    config: ChoreographyConfig, box: np.ndarray, plan: _Keyframes, time: int, rng: np.random.Generator
) -> np.ndarray:
    """A waypoint reachable from the keyframes before and after it: continuing the motion of a
    neighbouring keyframe that has a set velocity, otherwise a random step (at most the top speed)."""
    guesses, weights = [], []
    earlier = [k for k, t in enumerate(plan.times) if t < time]
    later = [k for k, t in enumerate(plan.times) if t > time]
    for neighbours, sign in ((earlier, 1.0), (later, -1.0)):
        if not neighbours:
            continue
        nearest = max if sign > 0 else min
        k = nearest(neighbours, key=lambda i: plan.times[i])
        gap = abs(time - plan.times[k])
        velocity = plan.velocities[k]
        reach = config.max_speed_px * gap
        if velocity is None:
            guesses.append(plan.positions[k] + _random_direction(rng) * rng.uniform(0.3, 1.0) * reach)
        else:
            drift = sign * velocity * gap
            guesses.append(plan.positions[k] + drift + _random_direction(rng) * rng.uniform(0.0, 0.5) * reach)
        weights.append(1.0 / gap)
    if not guesses:
        return rng.uniform(box[:, 0], box[:, 1])
    return np.clip(np.average(guesses, axis=0, weights=weights), box[:, 0], box[:, 1])


def _keep_inside(
    config: ChoreographyConfig,
    box: np.ndarray,
    exit_window: tuple[int, int] | None,
    times: np.ndarray,
    positions: np.ndarray,
    velocities: np.ndarray,
    free: np.ndarray,
) -> HermitePath:
    """Shrink velocities until every frame outside the exit window has the centre inside ``box``: first
    the free ones (waypoints), then also those of crossings; never those of exit keyframes. With zero
    velocities a segment is a blend of its two end positions, which then all lie in the box."""
    frames = np.arange(config.num_frames, dtype=np.float64)
    if exit_window is not None:
        frames = frames[(frames <= exit_window[0]) | (frames >= exit_window[1])]
    inside = np.all((positions >= box[:, 0]) & (positions <= box[:, 1]), axis=1)
    for adjustable in (free & inside, inside):
        for attempt in range(21):
            path = HermitePath(times=times, positions=positions, velocities=velocities)
            centres = path(frames)
            if np.all((centres >= box[:, 0] - 1e-9) & (centres <= box[:, 1] + 1e-9)):
                return path
            factor = 0.7 if attempt < 19 else 0.0
            velocities = np.where(adjustable[:, None], velocities * factor, velocities)
    raise AssertionError("object path still leaves its box with zero velocities")


def _random_direction(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, 2 * np.pi)
    return np.array([np.cos(angle), np.sin(angle)])
