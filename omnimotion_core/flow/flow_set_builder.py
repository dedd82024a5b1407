"""Pairwise flow of a whole video, filtered by cycle consistency, as a :class:`FlowSet`.

Each unordered pair {i, j} costs two flows (i -> j and j -> i), computed in the same engine batch; both
directions are checked against each other and both are kept. :func:`compute_pair_chunk` does this for
any chunk of pairs, so a caller can spread chunks over workers and join them with :func:`merge_flow_sets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from omnimotion_core.flow.consistency import ConsistencyConfig, consistency_mask
from omnimotion_core.flow.engines import FlowEngine, FlowEngineConfig, iter_pair_flows
from omnimotion_core.flow.pairs import (
    PairSelectionConfig,
    select_pairs,
    with_reverse_pairs,
)
from omnimotion_core.flow_set import FlowSet

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(flows_done, flows_total)`` after each engine batch (an even number of flows)."""


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3] RGB, got {frames.dtype} {tuple(frames.shape)}")


def _check_unordered(unordered: np.ndarray, num_frames: int) -> np.ndarray:
    unordered = np.asarray(unordered, dtype=np.int64)
    if unordered.ndim != 2 or unordered.shape[1] != 2:
        raise ValueError(f"pairs must be [K, 2] (i, j) with i < j, got shape {unordered.shape}")
    bad = (unordered[:, 0] >= unordered[:, 1]) | (unordered[:, 0] < 0) | (unordered[:, 1] >= num_frames)
    if np.any(bad):
        raise ValueError(
            f"pairs must be (i, j) with 0 <= i < j < {num_frames}, got {unordered[bad][:3].tolist()}"
        )
    return unordered


def _flow_reverse_pairs(
    frames: np.ndarray,
    pairs: np.ndarray,
    engine: FlowEngine,
    consistency_config: ConsistencyConfig,
    progress: ProgressCallback | None,
) -> FlowSet:
    """Flows and masks of ordered pairs listed as (i, j), (j, i), ... (each pair next to its reverse)."""
    num_frames, height, width = frames.shape[:3]
    flow = np.empty((len(pairs), height, width, 2), dtype=np.float32)
    mask = np.empty((len(pairs), height, width), dtype=bool)
    for batch in iter_pair_flows(engine, frames, pairs):
        flow[batch.rows] = batch.flow
        for row in range(batch.rows.start, batch.rows.stop, 2):
            k = row - batch.rows.start
            flow_ij, flow_ji = batch.flow[k], batch.flow[k + 1]
            frame_i, frame_j = batch.frames_i[k], batch.frames_j[k]
            gap = abs(int(pairs[row, 1]) - int(pairs[row, 0]))
            mask[row] = consistency_mask(flow_ij, flow_ji, gap, consistency_config, frames_ij=(frame_i, frame_j))
            mask[row + 1] = consistency_mask(flow_ji, flow_ij, gap, consistency_config, frames_ij=(frame_j, frame_i))
        if progress is not None:
            progress(batch.rows.stop, len(pairs))
    return FlowSet(pairs=pairs, flow=flow, mask=mask, counts=count_correspondences(pairs, mask, num_frames))


def count_correspondences(pairs: np.ndarray, mask: np.ndarray, num_frames: int) -> np.ndarray:
    """Number of trusted correspondences of each pixel over its pairs.

    Args:
        pairs: int [P, 2] ordered (i, j) frame indices.
        mask: bool [P, H, W] trusted correspondences of each pair.
        num_frames: T.

    Returns:
        int32 [T, H, W], ``counts[t] = sum of mask[p] over the pairs p with pairs[p, 0] == t``.
    """
    counts = np.zeros((num_frames, *mask.shape[1:]), dtype=np.int32)
    for row, (i, _) in enumerate(np.asarray(pairs)):
        counts[i] += mask[row]
    return counts


def compute_pair_chunk(
    frames: np.ndarray,
    pairs: np.ndarray,
    engine: FlowEngine,
    consistency_config: ConsistencyConfig,
) -> FlowSet:
    """Flows of a chunk of unordered pairs, both directions, as a partial :class:`FlowSet`.

    Args:
        frames: uint8 [T, H, W, 3] RGB (anything indexable by frame, e.g. a zarr array).
        pairs: int [K, 2] unordered (i, j) frame indices with i < j.
        engine: flow engine (see :func:`build_flow_engine`); flows go through it in batches.
        consistency_config: which correspondences to trust.

    Returns:
        FlowSet with pairs [2K, 2] in the order (i, j), (j, i) per input row, float32 flow [2K, H, W, 2],
        mask [2K, H, W] and counts [T, H, W] over these pairs only (sum chunks with :func:`merge_flow_sets`).
    """
    _check_frames(frames)
    unordered = _check_unordered(pairs, frames.shape[0])
    return _flow_reverse_pairs(frames, with_reverse_pairs(unordered), engine, consistency_config, None)


def merge_flow_sets(parts: Sequence[FlowSet]) -> FlowSet:
    """Join flow sets of disjoint pairs of one video: pairs, flow and mask are concatenated, counts summed."""
    if not parts:
        raise ValueError("merge_flow_sets needs at least one flow set, got none")
    shapes = {(part.num_frames, part.size) for part in parts}
    if len(shapes) != 1:
        raise ValueError(f"flow sets to merge must share (T, (H, W)), got {sorted(shapes)}")
    pairs = np.concatenate([part.pairs for part in parts])
    if len(np.unique(pairs, axis=0)) != len(pairs):
        raise ValueError("flow sets to merge hold some pair twice")
    return FlowSet(
        pairs=pairs,
        flow=np.concatenate([part.flow for part in parts]),
        mask=np.concatenate([part.mask for part in parts]),
        counts=np.sum([part.counts for part in parts], axis=0, dtype=np.int32),
    )


def compute_flow_set(
    frames: np.ndarray,
    engine: FlowEngine,
    pair_config: PairSelectionConfig,
    consistency_config: ConsistencyConfig,
    progress: ProgressCallback | None = None,
) -> FlowSet:
    """Pairwise flow of a whole video, in one process and in memory.

    Args:
        frames: uint8 [T, H, W, 3] RGB.
        engine: flow engine (see :func:`build_flow_engine`); flows go through it in batches.
        pair_config: which pairs (see :func:`select_pairs`, whose order the result keeps).
        consistency_config: which correspondences to trust.
        progress: optional ``progress(flows_done, flows_total)``, called after each engine batch.

    Returns:
        FlowSet with float32 flow [P, H, W, 2] (P = T (T - 1) for all pairs: 48 frames at 256x256 are
        1.2 GB of float32 flow).

    Raises:
        ValueError: frames not uint8 [T, H, W, 3], fewer than 2 frames, or an engine returned NaN/inf.
    """
    _check_frames(frames)
    pairs = select_pairs(frames.shape[0], pair_config)
    return _flow_reverse_pairs(frames, pairs, engine, consistency_config, progress)


def flow_set_params(
    engine_config: FlowEngineConfig,
    pair_config: PairSelectionConfig,
    consistency_config: ConsistencyConfig,
) -> dict[str, dict[str, object]]:
    """The parameters that determine a flow set, as a JSON-ready dict (stored with it, hashed for its name).

    Only the chosen engine's parameters are included (its registry entry's ``params``), under ``engine``
    with ``engine`` naming it. For RAFT these are ``variant`` and ``num_iterations``: ``device`` and
    ``batch_size`` change only the speed, and the weights are a file this function does not open, so the
    caller records which weights were used (e.g. the checkpoint's file name) next to these parameters.
    """
    return {
        "engine": {"engine": engine_config.engine, **engine_config.method.params(engine_config)},
        "pairs": dataclasses.asdict(pair_config),
        "consistency": dataclasses.asdict(consistency_config),
    }
