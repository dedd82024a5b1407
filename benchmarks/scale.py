"""How memory and time grow with frames and resolution: flow-set memory, fit memory and step time (flow set
in memory vs streamed from zarr), and the query time of dense tracks of all pixels.

    .venv/bin/python benchmarks/scale.py [--frames 24 48 96] [--sizes 64 128 256] [--steps 5]

For every (frames, size) cell: a synthetic ``bench`` video, its all-pairs DIS flow set written to zarr
chunk by chunk (never whole in memory), then one fresh child process per mode (``memory``: the set read
whole, flow float16 as stored; ``streamed``: a ZarrPairSource with the default budget's cache) that builds
the ``fast``-preset trainer on one CPU thread and reports the open time, the fit step time (after warm-up
steps), the time of sampling batches alone, and the child's peak RSS. The dense-query figure tracks
``--query-points`` pixels of frame 0 through all frames with an untrained ``fast`` model (the cost does
not depend on the weights) and extrapolates linearly to all H x W pixels: it is labelled as extrapolated.
Flow-set bytes are exact, from the shapes. Times are process CPU seconds (less inflated by shared
cores than wall time). Ratios are against the first cell (24 frames, 64 px by default), measured in the
same run; each row prints when measured.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import zarr

from omnimotion_core.flow import (
    ConsistencyConfig,
    FlowEngineConfig,
    PairSelectionConfig,
    build_flow_engine,
    compute_pair_chunk,
    flow_set_params,
    select_pairs,
)
from omnimotion_core.flow_set import flow_set_nbytes
from omnimotion_core.model import PRESETS, OmniMotion, Trainer, track
from omnimotion_core.synthetic import generate_synthetic_video, resize_synthetic_preset
from storage.flow_store import (
    STORED_FLOW_ITEMSIZE,
    STREAM_CACHE_FRACTION,
    FlowSetWriter,
    ZarrPairSource,
    flow_set_memory,
    flow_set_name,
    read_flow_set,
)
from tasks.config import FitConfig

GIB = 2**30
MIB = 2**20
CHUNK_PAIRS = 64
"""Unordered pairs computed and written at a time."""
SAMPLE_BATCHES = 50
"""Batches drawn to time sampling alone."""


@dataclass(frozen=True)
class Cell:
    """Measurements of one (frames, size) cell; times in seconds, memory in bytes."""

    frames: int
    size: int
    pairs: int
    memory_bytes: int
    auto_pairs: int
    auto_memory_bytes: int
    flow_seconds: float
    disk_bytes: int
    modes: dict[str, dict[str, float]]
    query_seconds: float
    dense_query_seconds: float


def _peak_rss() -> int:
    """Peak resident memory of this process so far, bytes (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_fit(store: Path, mode: str, steps: int, query_points: int) -> dict[str, float]:
    """In this (fresh) process: open the flow set in ``mode``, time fit steps and sampling, track queries."""
    torch.set_num_threads(1)
    video_group, name = store.parent.parent, store.name
    video = np.load(video_group / "frames.npy").astype(np.float32) / 255.0
    config = PRESETS["fast-volume"]
    baseline_rss = _peak_rss()
    started = time.process_time()
    if mode == "memory":
        source = read_flow_set(video_group, name, flow_dtype="float16")
    elif mode == "streamed":
        source = ZarrPairSource(store, FitConfig().flow_memory_budget_mib * MIB // STREAM_CACHE_FRACTION)
    else:
        raise ValueError(f"mode must be 'memory' or 'streamed', got {mode!r}")
    open_seconds = time.process_time() - started
    trainer = Trainer(config, source, video)
    warmup = 2
    trainer.fit(warmup)
    started = time.process_time()
    trainer.fit(steps)
    step_seconds = (time.process_time() - started) / steps
    started = time.process_time()
    for step in range(SAMPLE_BATCHES):
        trainer.sampler.sample(warmup + steps + step)
    sample_seconds = (time.process_time() - started) / SAMPLE_BATCHES
    result = {
        "open_s": open_seconds, "step_s": step_seconds, "sample_s": sample_seconds,
        "peak_rss": float(_peak_rss()), "baseline_rss": float(baseline_rss),
    }
    if isinstance(source, ZarrPairSource):
        result["hit_rate"] = source.cache_hits / max(1, source.cache_hits + source.disk_reads)
    if query_points:
        num_frames, height, width = video.shape[:3]
        model = OmniMotion(config, num_frames, torch.Generator().manual_seed(0)).eval()
        grid = np.random.default_rng(0).integers(0, [height, width], size=(query_points, 2))
        queries = torch.from_numpy(np.concatenate([np.zeros((query_points, 1)), grid], axis=1)).float()
        started = time.process_time()
        track(model, queries, num_frames, (height, width))
        result["query_s"] = time.process_time() - started
    return result


def write_flow_store(root: Path, frames: int, size: int) -> tuple[Path, float]:
    """Synthetic bench video + its all-pairs DIS flow set, written chunk by chunk; (set path, seconds)."""
    video_config = resize_synthetic_preset("bench", num_frames=frames, height=size, width=size).video
    video = generate_synthetic_video(video_config, seed=0).video
    video_group = root / f"scale-{frames}f-{size}px.zarr"
    zarr.open_group(str(video_group), mode="w", zarr_format=3)
    np.save(video_group / "frames.npy", video)
    engine_config, pair_config, consistency = FlowEngineConfig(), PairSelectionConfig(mode="all"), ConsistencyConfig()
    params = flow_set_params(engine_config, pair_config, consistency)
    engine = build_flow_engine(engine_config)
    started = time.process_time()
    pairs = select_pairs(frames, pair_config)
    writer = FlowSetWriter.open(video_group, flow_set_name(params), pairs, frames, (size, size), params)
    unordered = pairs[::2]
    for start in range(0, len(unordered), CHUNK_PAIRS):
        writer.write(compute_pair_chunk(video, unordered[start : start + CHUNK_PAIRS], engine, consistency))
    path = writer.finish()
    return path, time.process_time() - started


def run_child(store: Path, mode: str, steps: int, query_points: int) -> dict[str, float]:
    """:func:`measure_fit` in a fresh Python process, so that its peak RSS is its own."""
    command = [sys.executable, __file__, "--child", str(store), mode, str(steps), str(query_points)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure_cell(root: Path, frames: int, size: int, steps: int, query_points: int) -> Cell:
    """Every figure of one (frames, size) cell."""
    store, flow_seconds = write_flow_store(root, frames, size)
    memory_bytes = flow_set_memory(store.parent.parent, store.name)
    auto_pairs = len(select_pairs(frames, PairSelectionConfig()))
    modes = {
        "memory": run_child(store, "memory", steps, query_points),
        "streamed": run_child(store, "streamed", steps, 0),
    }
    query_seconds = modes["memory"]["query_s"]
    disk_bytes = sum(path.stat().st_size for path in store.rglob("*") if path.is_file())
    return Cell(
        frames=frames, size=size, pairs=frames * (frames - 1), memory_bytes=memory_bytes, auto_pairs=auto_pairs,
        auto_memory_bytes=flow_set_nbytes(auto_pairs, frames, (size, size), STORED_FLOW_ITEMSIZE),
        flow_seconds=flow_seconds, disk_bytes=disk_bytes, modes=modes, query_seconds=query_seconds,
        dense_query_seconds=query_seconds * size * size / query_points,
    )


TABLE_HEADER = (
    "| frames | px | pairs (all) | flow set in memory, f16 | default fit | flow set DIS + write, CPU | on disk | "
    "open, CPU: memory / streamed | fit step, CPU: memory / streamed | batch, CPU: memory / streamed | "
    "fit peak RSS: memory / streamed | dense query of all H x W px of a frame, CPU (extrapolated) |\n"
    "|---:|---:|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|"
)


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.1f}x"


def format_row(cell: Cell, base: Cell) -> str:
    """One markdown row, each scaling figure with its ratio to ``base`` (the first cell of the run)."""
    memory, streamed, base_memory = cell.modes["memory"], cell.modes["streamed"], base.modes["memory"]
    default = "in memory" if cell.memory_bytes <= FitConfig().flow_memory_budget_mib * MIB else "streamed"
    return (
        f"| {cell.frames} | {cell.size} | {cell.pairs:,} | {cell.memory_bytes / GIB:.3f} GiB "
        f"({_ratio(cell.memory_bytes, base.memory_bytes)}) | {default} | {cell.flow_seconds:.1f} s "
        f"({_ratio(cell.flow_seconds, base.flow_seconds)}) | {cell.disk_bytes / MIB:.0f} MiB | "
        f"{memory['open_s']:.2f} / {streamed['open_s']:.2f} s | "
        f"{1000 * memory['step_s']:.0f} / {1000 * streamed['step_s']:.0f} ms "
        f"({_ratio(memory['step_s'], base_memory['step_s'])} / {_ratio(streamed['step_s'], base_memory['step_s'])}) | "
        f"{1000 * memory['sample_s']:.1f} / {1000 * streamed['sample_s']:.1f} ms "
        f"(hits {100 * streamed['hit_rate']:.0f} %) | "
        f"{memory['peak_rss'] / MIB:.0f} / {streamed['peak_rss'] / MIB:.0f} MiB "
        f"({_ratio(memory['peak_rss'], base_memory['peak_rss'])} / "
        f"{_ratio(streamed['peak_rss'], base_memory['peak_rss'])}) | "
        f"{cell.dense_query_seconds:.0f} s ({_ratio(cell.dense_query_seconds, base.dense_query_seconds)}) |"
    )


def format_notes(cells: list[Cell], query_points: int) -> str:
    """What the table's columns hold and the measured parts of the extrapolated query times."""
    budget = FitConfig().flow_memory_budget_mib * MIB
    windowed = ", ".join(
        f"{c.frames} f {c.size} px {c.auto_pairs:,} pairs {c.auto_memory_bytes / GIB:.3f} GiB"
        for c in cells if c.auto_pairs != c.pairs
    )
    measured = ", ".join(f"{c.frames} f {c.size} px {c.query_seconds:.2f} s" for c in cells)
    pairs_note = (
        "Default pair selection (`auto`: all pairs up to 64 frames, else windowed), flow set in memory: "
        f"{windowed or 'all pairs in every cell'}."
    )
    memory_note = (
        f"Default budget {budget // MIB} MiB (FitConfig.flow_memory_budget_mib); streamed cache "
        f"{budget // STREAM_CACHE_FRACTION // MIB} MiB. CPU = process CPU time (one torch thread), which shared "
        "cores inflate less than wall time. Fit peak RSS includes torch, the fast model, the video (float32) and "
        "the flow set; before opening the flow set the first child peaked at "
        f"{cells[0].modes['memory']['baseline_rss'] / MIB:.0f} MiB."
    )
    query_note = (
        f"Dense query: {query_points} random pixels of frame 0 tracked through all frames (measured: {measured}), "
        f"then x (H * W / {query_points})."
    )
    return f"\n{pairs_note}\n{memory_note}\n{query_note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs="+", default=[24, 48, 96], help="frame counts of the grid")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256], help="square sizes (px) of the grid")
    parser.add_argument("--steps", type=int, default=5, help="timed fit steps per mode (after 2 warm-up steps)")
    parser.add_argument("--query-points", type=int, default=64, help="query pixels timed per cell")
    parser.add_argument("--child", nargs=4, metavar=("STORE", "MODE", "STEPS", "QUERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store, mode, steps, queries = args.child
        print(json.dumps(measure_fit(Path(store), mode, int(steps), int(queries))))
        return
    cells: list[Cell] = []
    print(TABLE_HEADER, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for frames in args.frames:
            for size in args.sizes:
                cells.append(measure_cell(Path(folder), frames, size, args.steps, args.query_points))
                print(format_row(cells[-1], cells[0]), flush=True)
                for path in Path(folder).iterdir():
                    shutil.rmtree(path)
    print(format_notes(cells, args.query_points))


if __name__ == "__main__":
    main()
