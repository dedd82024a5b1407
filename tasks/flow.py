"""Prefect tasks of the flow stage: plan a flow set, compute chunks of pairs, publish the set."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from omnimotion_core.flow import (
    ChainingConfig,
    FlowConfig,
    build_flow_engine,
    compute_pair_chunk,
    consecutive_flows,
    derive_from_frame,
    flow_set_from_tracks,
    flow_set_params,
    select_pairs,
)
from omnimotion_core.flow.engines import FlowEngine, FlowEngineConfig
from omnimotion_core.flow_set import FlowSet
from storage.external_tracks import read_external_tracks
from storage.flow_store import (
    FlowSetWriter,
    flow_set_name,
    list_flow_sets,
    read_flow_set,
    read_flow_set_params,
    write_flow_set,
)
from storage.layout import PARTIAL_MARKER
from storage.raft_weights import read_raft_weights
from storage.video_store import open_video
from tasks.caching import StoreCachePolicy, video_identity

Logger = logging.Logger | logging.LoggerAdapter
"""Where the flow stage reports progress: a Prefect run logger inside a task, any logger outside."""


@dataclass(frozen=True)
class FlowPlan:
    """A flow set being written.

    Attributes:
        video_group: the video's zarr group.
        name: the flow set's name (from its parameters).
        path: the partial group to write chunks into, or the finished set when nothing is left.
        chunks: unordered pairs ``[[i, j], ...]`` (i < j) still to compute, one list per task.
        chaining: how the published direct set is extended with chained correspondences.
    """

    video_group: str
    name: str
    path: str
    chunks: list[list[list[int]]]
    chaining: ChainingConfig


def flow_params(config: FlowConfig) -> dict[str, object]:
    """Parameters that name a flow set: the core's, plus, for an engine that reads weights, the weights file's
    name under ``<engine>_weights`` (e.g. ``raft_weights``)."""
    params: dict[str, object] = dict(flow_set_params(config.engine, config.pairs, config.consistency))
    if config.engine.method.weights_option is not None:
        params[weights_key(config.engine)] = Path(str(config.engine.method.weights_file(config.engine))).name
    return params


def weights_key(config: FlowEngineConfig) -> str:
    """The key under which the weights file of ``config``'s engine names flow sets and predictions."""
    return f"{config.engine}_weights"


def load_flow_engine(config: FlowEngineConfig) -> FlowEngine:
    """Build the engine, reading its weights from their local file when it needs them."""
    method = config.method
    if method.weights_option is None:
        return build_flow_engine(config)
    weights = method.weights_file(config)
    if weights is None:
        raise ValueError(f"{method.title} needs weights: set them with {method.weights_option} "
                         "(a local checkpoint file, e.g. raft_large_C_T_SKHT_V2-ff5fadd5.pth for RAFT)")
    return build_flow_engine(config, read_raft_weights(Path(weights)))


def _plan_flow_set(video_group: str, config: FlowConfig) -> FlowPlan:
    """Open (or resume) the flow set of ``video_group`` for ``config`` and split what is left into chunks."""
    return plan_flows(Path(video_group), config, get_run_logger())


plan_flow_set = task(_plan_flow_set, name="plan_flow_set", cache_policy=NO_CACHE)


def plan_flows(video_group: Path, config: FlowConfig, logger: Logger) -> FlowPlan:
    """:func:`plan_flow_set` without Prefect: open (or resume) the flow set of ``video_group`` for ``config``
    and split what is left into chunks, reporting to ``logger``."""
    group = open_video(video_group)
    params = flow_params(config)
    name = flow_set_name(params)
    pairs = select_pairs(group.num_frames, config.pairs)
    writer = FlowSetWriter.open(video_group, name, pairs, group.num_frames, group.size, params)
    pending = writer.pending_pairs()
    unordered = np.unique(np.sort(pending, axis=1), axis=0)
    chunks = [unordered[k : k + config.chunk_pairs].tolist() for k in range(0, len(unordered), config.chunk_pairs)]
    logger.info(
        "%s: flow set %s, %d of %d flows to compute in %d chunks",
        group.video_id, name, len(pending), len(pairs), len(chunks),
    )
    return FlowPlan(video_group=str(video_group), name=name, path=str(writer.partial_path), chunks=chunks,
                    chaining=config.chaining)


def _compute_flow_chunk(video_group: str, plan_path: str, pairs: list[list[int]], config: FlowConfig) -> int:
    """Compute both directions of ``pairs`` and write them into the partial flow set; return flows written."""
    frames = open_video(Path(video_group)).read_frames()
    chunk = compute_pair_chunk(frames, np.asarray(pairs, dtype=np.int64), load_flow_engine(config.engine), config.consistency)
    FlowSetWriter.attach(Path(plan_path)).write(chunk)
    return len(chunk.pairs)


compute_flow_chunk = task(_compute_flow_chunk, name="compute_flow_chunk", cache_policy=NO_CACHE)


def _publish_flow_set(plan: FlowPlan) -> str:
    """Sum the counts and publish the finished direct flow set, then (with ``plan.chaining`` on) the set
    derived from it by chaining; return the path of the set to fit on (the chained one when chaining)."""
    return str(publish_flows(plan, get_run_logger()))


publish_flow_set = task(
    _publish_flow_set, name="publish_flow_set", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE,
)


def publish_flows(plan: FlowPlan, logger: Logger) -> Path:
    """:func:`publish_flow_set` without Prefect, reporting the chaining to ``logger``."""
    path = Path(plan.path)
    if PARTIAL_MARKER in path.name:  # already renamed into place when this is a retry
        path = FlowSetWriter.attach(path).finish() if path.exists() else path.with_name(plan.name)
    if not plan.chaining.enabled:
        return path
    return chain_stored_flow_set(Path(plan.video_group), path.name, plan.chaining, logger)


def chain_stored_flow_set(
    video_group: Path, direct_name: str, chaining: ChainingConfig, logger: Logger | None = None
) -> Path:
    """Store the flow set derived from the finished direct set ``direct_name`` by chaining (by ``chaining.rule``:
    see ``omnimotion_core.flow.chaining`` and ``omnimotion_core.flow.mft``), named by the direct set's
    parameters plus ``chaining``; return its path.

    Written one source frame at a time from the unchanged direct set, so a killed run resumes at the
    first source frame not yet written and reaches the same result. Progress goes to ``logger`` (default:
    the Prefect run logger, so outside a task or flow run pass one)."""
    logger = get_run_logger() if logger is None else logger
    params = {**read_flow_set_params(video_group, direct_name), "chaining": dataclasses.asdict(chaining)}
    direct = read_flow_set(video_group, direct_name, flow_dtype="float16")
    writer = FlowSetWriter.open(video_group, flow_set_name(params), direct.pairs, direct.num_frames, direct.size, params)
    sources = np.unique(writer.pending_pairs()[:, 0])
    if len(sources) == 0:
        return writer.finish()
    rows = {(int(i), int(j)): row for row, (i, j) in enumerate(direct.pairs)}

    def read(i: int, j: int) -> tuple[np.ndarray, np.ndarray] | None:
        row = rows.get((i, j))
        return None if row is None else (direct.flow[row], direct.mask[row])

    frames = open_video(video_group).read_frames()
    consecutive = None if chaining.rule == "mft" else consecutive_flows(read, direct.num_frames, chaining.max_cycle_error)
    no_counts = np.zeros_like(direct.counts)
    started, trusted, direct_trusted = time.perf_counter(), 0, 0
    for done, source in enumerate(sources, start=1):
        targets, flow, mask = derive_from_frame(int(source), frames, consecutive, read, direct.num_frames, chaining)
        pairs = np.stack([np.full_like(targets, source), targets], axis=1)
        writer.write(FlowSet(pairs=pairs, flow=flow, mask=mask, counts=no_counts))
        trusted += int(mask.sum())
        direct_trusted += sum(int(direct.mask[rows[(int(i), int(j))]].sum()) for i, j in pairs)
        elapsed = time.perf_counter() - started
        logger.info("chaining %s: %d/%d source frames in %.1f s, about %.0f s left; %d trusted correspondences "
                    "(direct flow: %d)", video_group.name, done, len(sources), elapsed,
                    elapsed / done * (len(sources) - done), trusted, direct_trusted)
    return writer.finish()


def derived_flow_set(video_group: Path, chaining: ChainingConfig, direct_name: str | None = None,
                     logger: Logger | None = None) -> Path:
    """The flow set derived by ``chaining`` from the direct set ``direct_name`` of ``video_group`` (default: its
    only direct set), derived now if it is not stored yet (see :func:`chain_stored_flow_set`); its path.

    Raises:
        ValueError: ``chaining`` is off, ``direct_name`` is not a direct set, or none or several are there.
    """
    if not chaining.enabled:
        raise ValueError("chaining is off: fit on the direct flow set instead")
    direct = [name for name in list_flow_sets(video_group) if "chaining" not in read_flow_set_params(video_group, name)]
    if direct_name is None and len(direct) != 1:
        raise ValueError(f"{video_group}: {len(direct)} direct flow sets ({', '.join(direct) or 'none'}); "
                         + ("compute one with: omnimotion flow " + str(video_group) if not direct else
                            "choose one with --flow-set"))
    name = direct_name or direct[0]
    if name not in direct:
        raise ValueError(f"{video_group}: {name!r} is not a direct flow set to chain; direct sets: {', '.join(direct)}")
    return chain_stored_flow_set(video_group, name, chaining, logger or logging.getLogger("omnimotion.flow"))


def _import_external_tracks(video_group: str, tracks_file: str, video_name: str | None = None) -> str:
    """Store another tracker's point tracks (npz / TAP-Vid-style pickle) as the sparse flow set of
    ``video_group`` (every pair of frames in which a track is visible in both); return its path.

    The set is named after the track file's content, so another file gives another set."""
    group = open_video(Path(video_group))
    external = read_external_tracks(Path(tracks_file), video_name=video_name, size=group.size)
    if external.tracks.shape[1] != group.num_frames:
        raise ValueError(
            f"{tracks_file}: tracks cover {external.tracks.shape[1]} frames, {video_group} has {group.num_frames}"
        )
    digest = hashlib.sha256(Path(tracks_file).read_bytes()).hexdigest()[:16]
    params = {"engine": {"engine": "external", "tracks_file": Path(tracks_file).name, "tracks_sha256": digest,
                         "video_name": video_name}}
    flow_set = flow_set_from_tracks(external.tracks, external.occluded, group.size)
    path = write_flow_set(Path(video_group), flow_set_name(params), flow_set, params)
    get_run_logger().info(
        "%s: %d tracks -> %d correspondences over %d pairs", group.video_id, len(external.tracks),
        int(flow_set.mask.sum()), len(flow_set.pairs),
    )
    return str(path)


import_external_tracks = task(_import_external_tracks, name="import_external_tracks", cache_policy=NO_CACHE)


def flow_set_identity(inputs: dict[str, Any]) -> dict[str, object]:
    """Cache identity of :func:`compute_flow_set_task`: the video's content, the direct set's name (a hash
    of its parameters) and the chaining settings (which name the chained set)."""
    config: FlowConfig = inputs["config"]
    return {"video": video_identity(inputs["video_group"]), "flow_set": flow_set_name(flow_params(config)),
            "chaining": dataclasses.asdict(config.chaining)}


def _compute_flow_set_task(video_group: str, config: FlowConfig) -> str:
    """The whole flow set of one video in one task (for flows that fan out over videos instead of
    pairs); resumable like the fanned-out stage, since it runs the same steps one chunk at a time."""
    return str(store_flow_set(Path(video_group), config, get_run_logger()))


compute_flow_set_task = task(
    _compute_flow_set_task, name="compute_flow_set", cache_policy=StoreCachePolicy(identity=flow_set_identity),
)


def store_flow_set(video_group: Path, config: FlowConfig, logger: Logger) -> Path:
    """:func:`compute_flow_set_task` without Prefect (what the ``benchmark`` flow runs per video): plan the
    direct set, compute its chunks, publish it and (with ``config.chaining`` on) derive the chained set;
    return the path of the set a fit uses. Resumable, reporting to ``logger``."""
    plan = plan_flows(video_group, config, logger)
    for done, chunk in enumerate(plan.chunks, start=1):
        _compute_flow_chunk(str(video_group), plan.path, chunk, config)
        logger.info("flows: %d/%d chunks", done, len(plan.chunks))
    return publish_flows(plan, logger)
