"""Exact correspondences of a synthetic video as a :class:`FlowSet`: the supervision a perfect flow engine
with a perfect cycle check would hand to model fitting (the ceiling of what better flow can give)."""

from __future__ import annotations

import itertools

import numpy as np

from omnimotion_core.flow.flow_set_builder import count_correspondences
from omnimotion_core.flow.pairs import with_reverse_pairs
from omnimotion_core.flow_set import FlowSet
from omnimotion_core.synthetic.dataset import SyntheticVideo
from omnimotion_core.synthetic.tracks import ground_truth_flow_at, resized_pixel_centres, surface_layer_at


def all_ordered_pairs(num_frames: int) -> np.ndarray:
    """int64 [T (T - 1), 2]: every ordered pair of frames, (i, j) then (j, i) for each i < j (the order of
    :func:`omnimotion_core.flow.select_pairs`)."""
    unordered = np.array(list(itertools.combinations(range(num_frames), 2)), dtype=np.int64).reshape(-1, 2)
    return with_reverse_pairs(unordered)


def exact_flow_set(
    video: SyntheticVideo, size: tuple[int, int] | None = None, pairs: np.ndarray | None = None
) -> FlowSet:
    """The ground-truth correspondences of ``video`` at the resolution its frames are processed at.

    The processed frames are the scene's frames resized to ``size`` by the ingestion rule
    (``cv2.resize``): pixel (x, y) of a processed frame shows the scene at its pixel centre mapped by
    :func:`resized_pixel_centres` (x_s = (x + 0.5) * W / width - 0.5). At every processed pixel of frame i
    the visible surface there is followed exactly to frame j; its displacement is scaled back to processed
    pixels.

    Args:
        video: a synthetic video (its ``scene`` is what is used).
        size: (height, width) of the processed frames; default the scene's own size.
        pairs: int [P, 2] ordered (i, j) pairs; default every ordered pair (:func:`all_ordered_pairs`).

    Returns:
        A :class:`FlowSet` at ``size``: flow float16 [P, H, W, 2] (as a stored set is held in memory for
        fitting), mask True where the point is visible in frame j (inside the processed frame, i.e. between
        its outermost pixel centres, and not covered by a nearer layer), counts summed over the source frame's
        pairs as :func:`count_correspondences` does.
    """
    scene = video.scene
    height, width = size if size is not None else (scene.height, scene.width)
    pairs = all_ordered_pairs(scene.num_frames) if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    xy, scale = resized_pixel_centres(scene, (height, width))
    bounds = (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))
    flow = np.empty((len(pairs), height, width, 2), dtype=np.float16)
    mask = np.empty((len(pairs), height, width), dtype=bool)
    for source in np.unique(pairs[:, 0]):
        layers = surface_layer_at(scene, int(source), xy)
        for row in np.nonzero(pairs[:, 0] == source)[0]:
            displacement, visible = ground_truth_flow_at(scene, int(source), int(pairs[row, 1]), xy, bounds, layers)
            flow[row] = (displacement / np.asarray(scale)).reshape(height, width, 2)
            mask[row] = visible.reshape(height, width)
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=count_correspondences(pairs, mask, scene.num_frames))
