"""Multi-gap flow chaining with occlusion and uncertainty (MFT: Neoral, Serych, Matas, WACV 2024).

Every point is followed from its source frame s one target frame t at a time. For each gap Δ of
:attr:`MftConfig.gaps` (and the direct pair (s, t)) there is one candidate: the point's stored result in
frame t - Δ (t + Δ going back in time) moved on by the flow t - Δ -> t sampled there. A candidate is
occluded when its stored part is, when the new flow fails the forward-backward check at the point, or
when it lands outside the frame; its uncertainty adds the parts' in quadrature,
sqrt(σ_stored² + σ_new²). Per point the candidate with the smallest uncertainty among the visible ones is
kept (the smallest overall, marked occluded, when none is visible). A point hidden for a few frames is
thus found again through a gap that jumps over the occlusion.

Two changes to MFT's rule, measured on the synthetic bench (benchmarks/RESULTS.md, "MFT-style tracking"):
the kept candidate is the least uncertain of the largest group of visible candidates that agree (lie
within :attr:`MftConfig.consensus_radius` pixels of one of them), since with DIS a wrong
long-gap flow is often cycle-consistent while wrong flows rarely agree with each other; and a point whose
uncertainty exceeds :attr:`MftConfig.max_sigma` is reported occluded (not visible with any confidence),
which TAP-Vid's Average Jaccard rewards over a visible guess that is likely wrong.

MFT's occlusion and uncertainty come from a head trained on RAFT; here both come from the flows alone:
σ_new = :attr:`MftConfig.flow_sigma` + the round-trip error of the new flow at the point (pixels). (An
appearance term, the colour distance between the point in frame s and the candidate, was measured and left
out: benchmarks/RESULTS.md, "MFT-style tracking".)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from omnimotion_core.flow.sampling import sample_points

FlowReader = Callable[[int, int], "np.ndarray | None"]
"""``read(a, b)`` -> float [H, W, 2] flow from frame a to frame b, or None when it is not at hand (a candidate
whose flow or reverse flow is missing is skipped; the flows between neighbouring frames must be there)."""


@dataclass(frozen=True)
class MftConfig:
    """Which gaps are chained and how candidates are weighed.

    Attributes:
        gaps: frame gaps Δ whose flows extend a stored result (MFT: 1, 2, 4, 8, 16, 32); the direct flow
            from the source frame is always a candidate too.
        max_cycle_error: a new flow whose round trip at the point is this many pixels or more calls the
            candidate occluded (the 3 px of ``ConsistencyConfig``).
        flow_sigma: uncertainty in pixels every flow adds, consistent or not: a chain of n flows carries at
            least ``flow_sigma * sqrt(n)``, so fewer, longer steps win when they are as consistent.
        consensus_radius: candidates closer than this many pixels agree; of the visible candidate with the
            most agreeing visible candidates and those that agree with it, the least uncertain is kept. 0
            keeps MFT's rule (the least uncertain visible candidate).
        max_sigma: a kept candidate whose uncertainty exceeds this many pixels is reported occluded (the
            chain itself goes on from it as visible). None reports only the occlusion of the flows.
    """

    gaps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    max_cycle_error: float = 3.0
    flow_sigma: float = 1.0
    consensus_radius: float = 2.0
    max_sigma: float | None = 3.0

    def __post_init__(self) -> None:
        if not self.gaps or any(int(gap) != gap or gap < 1 for gap in self.gaps) or 1 not in self.gaps:
            raise ValueError(f"gaps must be positive integers including 1, got {self.gaps}")
        if not self.max_cycle_error > 0:
            raise ValueError(f"max_cycle_error must be > 0 pixels, got {self.max_cycle_error}")
        if not self.flow_sigma > 0:
            raise ValueError(f"flow_sigma must be > 0 pixels, got {self.flow_sigma}")
        if not self.consensus_radius >= 0:
            raise ValueError(f"consensus_radius must be >= 0 pixels, got {self.consensus_radius}")
        if self.max_sigma is not None and not self.max_sigma > 0:
            raise ValueError(f"max_sigma must be None or > 0 pixels, got {self.max_sigma}")


@dataclass(frozen=True)
class MftTracks:
    """Points followed from one source frame to every frame.

    Attributes:
        positions: float32 [T, N, 2] (x, y) pixels; row ``source`` holds the points themselves.
        occluded: bool [T, N] (False in the source frame).
        sigma: float32 [T, N], the kept candidate's uncertainty in pixels (0 in the source frame).
    """

    positions: np.ndarray
    occluded: np.ndarray
    sigma: np.ndarray


def candidate_sources(source: int, target: int, gaps: tuple[int, ...]) -> list[int]:
    """The frames a candidate for ``target`` extends: ``target - Δ`` for each gap (towards ``source``) that
    does not pass ``source``, and ``source`` itself (the direct flow), without repeats."""
    direction = 1 if target > source else -1
    frames = [target - direction * gap for gap in sorted(gaps) if direction * (target - direction * gap - source) >= 0]
    return list(dict.fromkeys([*frames, source]))


def needed_pairs(sources: np.ndarray, num_frames: int, gaps: tuple[int, ...]) -> np.ndarray:
    """int [P, 2] every ordered pair whose flow following points from ``sources`` reads, each with its
    reverse right after it (the cycle check reads both): sorted, without repeats."""
    unordered = set()
    for source in np.unique(np.asarray(sources, dtype=np.int64)):
        for target in range(num_frames):
            if target != source:
                unordered.update((min(a, target), max(a, target)) for a in candidate_sources(int(source), target, gaps))
    ordered = [pair for a, b in sorted(unordered) for pair in ((a, b), (b, a))]
    return np.array(ordered, dtype=np.int64).reshape(-1, 2)


def _new_step(read: FlowReader, start: int, target: int, points: np.ndarray, max_cycle_error: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Points of frame ``start`` moved to ``target``: (positions [N, 2], occluded [N], round-trip error [N]);
    None when the flow or its reverse is not at hand."""
    flow_ab, flow_ba = read(start, target), read(target, start)
    if flow_ab is None or flow_ba is None:
        return None
    height, width = flow_ab.shape[:2]
    step = sample_points(flow_ab, points[:, 0], points[:, 1]).astype(np.float64)
    moved = points + step
    back = sample_points(flow_ba, moved[:, 0], moved[:, 1])
    error = np.hypot(step[:, 0] + back[:, 0], step[:, 1] + back[:, 1])
    inside = (moved[:, 0] >= 0) & (moved[:, 0] <= width - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= height - 1)
    return moved, ~inside | (error >= max_cycle_error), error


def _choose(moved: np.ndarray, hidden: np.ndarray, spread: np.ndarray, consensus_radius: float) -> np.ndarray:
    """int [N], the kept candidate of each point among K: moved [K, N, 2], hidden bool [K, N], spread [K, N]."""
    if consensus_radius > 0:
        x, y = moved[..., 0].astype(np.float32), moved[..., 1].astype(np.float32)
        visible = ~hidden
        votes = visible.astype(np.int64)  # [K, N]: visible candidates within the radius of each visible candidate
        for a in range(len(moved)):
            for b in range(a + 1, len(moved)):
                close = (np.square(x[a] - x[b]) + np.square(y[a] - y[b]) < consensus_radius**2) & visible[a] & visible[b]
                votes[a] += close
                votes[b] += close
        most_agreed = np.argmax(np.where(hidden, -1, votes), axis=0)
        rows = np.arange(moved.shape[1])
        in_cluster = (np.square(x[most_agreed, rows] - x) + np.square(y[most_agreed, rows] - y) < consensus_radius**2) & visible
        best = np.argmin(np.where(in_cluster, spread, np.inf), axis=0)
    else:
        best = np.argmin(np.where(hidden, np.inf, spread), axis=0)
    all_hidden = hidden.all(axis=0)
    best[all_hidden] = np.argmin(spread[:, all_hidden], axis=0)
    return best


def follow_points(points: np.ndarray, source: int, num_frames: int, read: FlowReader, config: MftConfig) -> MftTracks:
    """Follow points of frame ``source`` to every frame of the video (forward, then backward in time).

    Args:
        points: float [N, 2] (x, y) pixels in frame ``source``.
        source: their frame.
        num_frames: T.
        read: the flows (see :data:`FlowReader`), e.g. :func:`needed_pairs` of ``[source]``.
        config: gaps, uncertainty and selection rule.

    Returns:
        :class:`MftTracks`; ``occluded`` is what is reported (the flows' occlusion, and with
        ``config.max_sigma`` the points more uncertain than that).

    Raises:
        ValueError: a flow between neighbouring frames is missing.
    """
    points = np.asarray(points, dtype=np.float64)
    num_points = len(points)
    positions = np.zeros((num_frames, num_points, 2), dtype=np.float64)
    hidden_by_flow = np.zeros((num_frames, num_points), dtype=bool)
    sigma = np.zeros((num_frames, num_points), dtype=np.float64)
    positions[source] = points
    rows = np.arange(num_points)
    for direction in (1, -1):
        for target in range(source + direction, num_frames if direction == 1 else -1, direction):
            moved, hidden, spread = [], [], []
            for start in candidate_sources(source, target, config.gaps):
                step = _new_step(read, start, target, positions[start], config.max_cycle_error)
                if step is None:
                    if abs(target - start) == 1:
                        raise ValueError(f"the flows between frames {start} and {target} are missing")
                    continue
                moved.append(step[0])
                hidden.append(hidden_by_flow[start] | step[1])
                spread.append(np.sqrt(sigma[start] ** 2 + (config.flow_sigma + step[2]) ** 2))
            best = _choose(np.stack(moved), np.stack(hidden), np.stack(spread), config.consensus_radius)
            positions[target] = np.stack(moved)[best, rows]
            hidden_by_flow[target] = np.stack(hidden)[best, rows]
            sigma[target] = np.stack(spread)[best, rows]
    occluded = hidden_by_flow if config.max_sigma is None else hidden_by_flow | (sigma > config.max_sigma)
    return MftTracks(positions.astype(np.float32), occluded, sigma.astype(np.float32))


def mft_from_frame(source: int, num_frames: int, size: tuple[int, int], read: FlowReader, config: MftConfig) -> MftTracks:
    """Every pixel of frame ``source`` followed to every frame: :func:`follow_points` on the pixel grid.

    Returns:
        :class:`MftTracks` with N = H * W points in row-major order (pixel (x, y) is point y * W + x).
    """
    height, width = size
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float64)
    return follow_points(points, source, num_frames, read, config)
