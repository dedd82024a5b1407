"""The state behind the track explorer and the answers of its JSON API, independent of HTTP.

An :class:`ExplorerSession` holds one video (frames encoded once as PNG), the methods a click can query
(fitted models, tracked live; stored predictions, picked by nearest track) and what is shown beside them
(pseudo-depth, the flow-consistency mask of each consecutive pair, ground truth, metrics). Every answer is
a JSON-ready dict or PNG bytes; bad input raises :class:`ExplorerError` with an HTTP status and a reason.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import torch

from omnimotion_core.model import MotionModel, pseudo_depth, track
from omnimotion_core.model.rendering import inside_frame
from omnimotion_core.track_picking import nearest_track
from omnimotion_core.visuals import colorize_depth
from storage.prediction_store import Predictions
from storage.tapvid import TapVidSample

MASK_TRUSTED_RGBA = (40, 200, 80, 110)
MASK_UNTRUSTED_RGBA = (230, 40, 40, 150)
"""Colours of the consistency overlay: trusted correspondences green, the others red (semi-transparent)."""
LIVE_DEPTH_PIXELS = 64 * 64
"""Rays of a pseudo-depth map rendered live (a fit without exported depth)."""


class ExplorerError(Exception):
    """Bad input to the explorer: answered with ``status`` (4xx) and ``reason`` as JSON."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class TrackAnswer:
    """The track of one click.

    Attributes:
        tracks: float [T, 2] (x, y) pixels in every frame.
        occluded: bool [T].
        query: (t, y, x) of the queried point: the click (a model), or the picked track's query (stored tracks).
        picked: index of the picked stored track; None for a model.
        distance: pixels between the click and the picked track in the clicked frame; None for a model.
    """

    tracks: np.ndarray
    occluded: np.ndarray
    query: tuple[float, float, float]
    picked: int | None = None
    distance: float | None = None


class TrackSource(Protocol):
    """A method a click can query."""

    key: str
    label: str
    kind: Literal["model", "stored"]

    def track(self, frame: int, x: float, y: float) -> TrackAnswer:
        """The track through pixel (x, y) of frame ``frame``."""
        ...


class ModelTracks:
    """A fitted model, queried live (one click is one query through :func:`omnimotion_core.model.track`)."""

    kind: Literal["model", "stored"] = "model"

    def __init__(self, key: str, label: str, model: MotionModel, num_frames: int, size: tuple[int, int]) -> None:
        self.key, self.label = key, label
        self.model, self.num_frames, self.size = model, num_frames, size
        self._lock = threading.Lock()

    def track(self, frame: int, x: float, y: float) -> TrackAnswer:
        """Track the pixel with the model (serialised: torch runs one query at a time on the model)."""
        device = self.model.steps_trained.device
        query = torch.tensor([[frame, y, x]], dtype=torch.float32, device=device)
        with self._lock:
            tracks, occluded = track(self.model, query, self.num_frames, self.size)
        return TrackAnswer(tracks[0].cpu().numpy(), occluded[0].cpu().numpy(), (float(frame), y, x))

    def depth(self, frame: int) -> np.ndarray:
        """The model's pseudo-depth [H, W] of one frame, rendered on a grid of at most
        :data:`LIVE_DEPTH_PIXELS` rays over the whole frame and resized: a volume model renders every ray with
        K samples, and a full 256x256 map takes seconds on a CPU (an exported fit stores full maps)."""
        height, width = self.size
        scale = min(1.0, math.sqrt(LIVE_DEPTH_PIXELS / (height * width)))
        grid = (max(2, round(height * scale)), max(2, round(width * scale)))
        with self._lock:
            depth = pseudo_depth(self.model, frame, grid).cpu().numpy()
        return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)


class StoredTracks:
    """A method's stored predictions: a click picks the stored track passing nearest to it in that frame."""

    kind: Literal["model", "stored"] = "stored"

    def __init__(self, key: str, label: str, predictions: Predictions) -> None:
        self.key, self.label, self.predictions = key, label, predictions

    def track(self, frame: int, x: float, y: float) -> TrackAnswer:
        """The nearest stored track (visible in ``frame`` where any is)."""
        index, distance = nearest_track(self.predictions.tracks, self.predictions.occluded, frame, (x, y))
        t, qy, qx = (float(value) for value in self.predictions.query_points[index])
        return TrackAnswer(self.predictions.tracks[index], self.predictions.occluded[index], (t, qy, qx), index,
                           distance)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 [H, W, 3] or RGBA [H, W, 4] image."""
    code = cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), code))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for an image of shape {image.shape}")
    return buffer.tobytes()


def mask_overlay(mask: np.ndarray) -> np.ndarray:
    """RGBA uint8 [H, W, 4] overlay of a consistency mask bool [H, W] (trusted green, untrusted red)."""
    return np.where(mask[..., None], np.array(MASK_TRUSTED_RGBA, np.uint8), np.array(MASK_UNTRUSTED_RGBA, np.uint8))


@dataclass(frozen=True)
class ExplorerContent:
    """What a session shows, as loaded from a target.

    Attributes:
        title: the video's name.
        frames: uint8 [T, H, W, 3] RGB.
        fps: frames per second of playback.
        sources: the methods a click can query, the default first.
        depth: float [T, H, W] exported pseudo-depth; None: computed on demand by the first model (if any).
        read_mask: bool [H, W] consistency mask of the pair (i, j), or None when the flow set lacks it; None
            when there is no flow set.
        ground_truth: the video's ground truth; None when there is none.
        metrics: one row per scored method (method, AJ, delta_avg, OA in percent, TC in pixels).
        runs: rows of the run table or the MLflow run this video came from.
        origin: where it was loaded from (shown on the page).
    """

    title: str
    frames: np.ndarray
    fps: float
    sources: Sequence[TrackSource]
    depth: np.ndarray | None
    read_mask: Callable[[int, int], np.ndarray | None] | None
    ground_truth: TapVidSample | None
    metrics: list[dict[str, object]]
    runs: list[dict[str, object]]
    origin: str


class ExplorerSession:
    """Answers of the explorer's API for one video (thread-safe: PNGs are cached under a lock)."""

    def __init__(self, content: ExplorerContent) -> None:
        if not content.sources:
            raise ValueError("an explorer session needs at least one method to query")
        self.content = content
        self.num_frames, self.height, self.width = (int(n) for n in content.frames.shape[:3])
        self.sources = {source.key: source for source in content.sources}
        self._frame_png = [encode_png(frame) for frame in content.frames]
        self._cache: dict[tuple[str, int], bytes] = {}
        self._cache_lock = threading.Lock()

    def meta(self) -> dict[str, object]:
        """What the page needs first: the video's shape, methods, overlays available, metrics."""
        content = self.content
        return {
            "title": content.title, "origin": content.origin, "num_frames": self.num_frames,
            "height": self.height, "width": self.width, "fps": content.fps,
            "methods": [{"key": s.key, "label": s.label, "kind": s.kind} for s in content.sources],
            "has_depth": self._depth_model() is not None or content.depth is not None,
            "has_mask": content.read_mask is not None and self.num_frames > 1,
            "has_ground_truth": content.ground_truth is not None,
            "metrics": content.metrics, "runs": content.runs,
        }

    def check_frame(self, frame: int) -> int:
        """``frame`` when it lies in [0, T), else a 400 naming the range."""
        if not 0 <= frame < self.num_frames:
            raise ExplorerError(400, f"frame {frame} is out of range: the video has frames 0..{self.num_frames - 1}")
        return frame

    def frame_png(self, frame: int) -> bytes:
        """The frame as PNG."""
        return self._frame_png[self.check_frame(frame)]

    def track(self, method: str | None, frame: int, x: float, y: float) -> dict[str, object]:
        """The track of pixel (x, y) of ``frame`` by ``method`` (default: the first), with the ground truth's
        track of the same query when the method's query points are the ground truth's."""
        source = self._source(method)
        self.check_frame(frame)
        if not (math.isfinite(x) and math.isfinite(y)) or not bool(inside_frame(torch.tensor([x, y]),
                                                                                (self.height, self.width))):
            raise ExplorerError(400, f"pixel (x={x}, y={y}) is outside the frame: x must lie in "
                                f"[-0.5, {self.width - 0.5}] and y in [-0.5, {self.height - 0.5}]")
        answer = source.track(frame, x, y)
        result: dict[str, object] = {
            "method": source.key, "frame": frame, "x": x, "y": y,
            "query": {"t": answer.query[0], "y": answer.query[1], "x": answer.query[2]},
            "points": _points(answer.tracks, answer.occluded),
        }
        if answer.picked is not None:
            result.update(picked=answer.picked, distance=answer.distance)
            truth = self.content.ground_truth
            if truth is not None and _same_queries(source, truth):
                result["ground_truth"] = _points(truth.target_points[answer.picked], truth.occluded[answer.picked])
        return result

    def ground_truth(self) -> dict[str, object]:
        """Every ground-truth track: query points (t, y, x) and points per frame."""
        truth = self.content.ground_truth
        if truth is None:
            raise ExplorerError(404, "this video has no ground truth")
        return {"query_points": truth.query_points.tolist(),
                "tracks": [_points(truth.target_points[n], truth.occluded[n]) for n in range(len(truth.query_points))]}

    def depth_png(self, frame: int) -> bytes:
        """The pseudo-depth of ``frame`` colour-mapped (blue near, red far) as PNG."""
        self.check_frame(frame)
        return self._cached("depth", frame, lambda: encode_png(colorize_depth(self._depth(frame))))

    def mask_png(self, frame: int) -> bytes:
        """The consistency mask of the pair (frame, frame + 1) (the last frame: (T - 1, T - 2)) as an RGBA PNG."""
        self.check_frame(frame)
        if self.content.read_mask is None or self.num_frames < 2:
            raise ExplorerError(404, "no flow set to take a consistency mask from")
        other = frame + 1 if frame + 1 < self.num_frames else frame - 1
        read_mask = self.content.read_mask

        def render() -> bytes:
            mask = read_mask(frame, other)
            if mask is None:
                raise ExplorerError(404, f"the flow set has no pair ({frame}, {other})")
            return encode_png(mask_overlay(mask))

        return self._cached("mask", frame, render)

    def _source(self, method: str | None) -> TrackSource:
        if method is None or method == "":
            return next(iter(self.sources.values()))
        if method not in self.sources:
            raise ExplorerError(400, f"unknown method {method!r}; methods: {', '.join(self.sources)}")
        return self.sources[method]

    def _depth_model(self) -> ModelTracks | None:
        return next((s for s in self.content.sources if isinstance(s, ModelTracks)), None)

    def _depth(self, frame: int) -> np.ndarray:
        if self.content.depth is not None:
            return self.content.depth[frame]
        model = self._depth_model()
        if model is None:
            raise ExplorerError(404, "no pseudo-depth: no fitted model and none exported")
        return model.depth(frame)

    def _cached(self, kind: str, frame: int, render: Callable[[], bytes]) -> bytes:
        with self._cache_lock:
            found = self._cache.get((kind, frame))
        if found is None:
            found = render()
            with self._cache_lock:
                self._cache[(kind, frame)] = found
        return found


def _points(tracks: np.ndarray, occluded: np.ndarray) -> list[dict[str, object]]:
    """[{t, x, y, occluded}] of one track (x, y as stored: float32 values read back exactly)."""
    return [{"t": t, "x": float(tracks[t, 0]), "y": float(tracks[t, 1]), "occluded": bool(occluded[t])}
            for t in range(len(tracks))]


def _same_queries(source: TrackSource, truth: TapVidSample) -> bool:
    return isinstance(source, StoredTracks) and np.array_equal(source.predictions.query_points, truth.query_points)
