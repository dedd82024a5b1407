"""Flow baselines on the synthetic `bench` preset: DIS-C / DIS-D table, and all-pairs flow time.

    .venv/bin/python benchmarks/flow_baselines.py [--frames 32] [--size 128] [--flow-frames 48]

Prints the seed-style table (AJ, delta_avg, OA, TC at 256x256, official TAP-Vid frame rule) for the
zero-motion, DIS-C and DIS-D trackers on the 8 bench videos, then times the all-pairs flow set of one
48-frame video at 256x256 (DIS fast, one process), as a ratio to the bare DIS calls of the same pairs
measured in the same process.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from omnimotion_core.flow import (
    ConsistencyConfig,
    FlowEngineConfig,
    PairSelectionConfig,
    build_flow_engine,
    compute_flow_set,
    select_pairs,
)
from omnimotion_core.synthetic import (
    generate_synthetic_video,
    generate_tapvid_dataset,
    resize_synthetic_preset,
)
from storage.frames import resize_frame
from storage.tapvid import write_tapvid_davis_pickle


def run_table(frames: int, size: int, root: Path) -> str:
    config = resize_synthetic_preset("bench", num_frames=frames, height=size, width=size)
    dataset = root / f"bench-{frames}f-{size}px.pkl"
    write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(config, seed=0))
    started = time.perf_counter()
    result = benchmark(str(dataset), ["zero_motion", "dis-c", "dis-d"], PipelineConfig(data_root=root / "data"))
    seconds = time.perf_counter() - started
    return f"{result.table_markdown}\nbenchmark flow wall time: {seconds:.1f} s ({len(result.records)} results)"


def time_all_pairs(flow_frames: int) -> str:
    video_config = resize_synthetic_preset("bench", num_frames=flow_frames).video
    video = generate_synthetic_video(video_config, seed=0).video
    frames = np.stack([resize_frame(frame, (256, 256)) for frame in video])
    engine = build_flow_engine(FlowEngineConfig())
    pairs = select_pairs(flow_frames, PairSelectionConfig(mode="all"))
    started = time.perf_counter()
    for i, j in pairs:
        engine.compute(frames[i : i + 1], frames[j : j + 1])
    bare = time.perf_counter() - started
    started = time.perf_counter()
    flow_set = compute_flow_set(frames, engine, PairSelectionConfig(mode="all"), ConsistencyConfig())
    full = time.perf_counter() - started
    return (
        f"all-pairs flow set, {flow_frames} frames at 256x256, DIS fast: {len(pairs)} flows in {full:.1f} s "
        f"({1000 * full / len(pairs):.1f} ms per flow incl. cycle check); bare DIS calls {bare:.1f} s; "
        f"ratio {full / bare:.2f}x; trusted fraction {flow_set.mask.mean():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=32, help="frames per bench video")
    parser.add_argument("--size", type=int, default=128, help="bench video size in pixels")
    parser.add_argument("--flow-frames", type=int, default=48, help="frames of the timed all-pairs video")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(run_table(args.frames, args.size, Path(folder)))
    print(time_all_pairs(args.flow_frames))


if __name__ == "__main__":
    main()
