"""The OmniMotion paper's ablation table on the synthetic benchmark: full model vs. uniform sampling (no
hard mining) vs. no photometric loss vs. no invertible mapping (two separate MLPs), next to DIS-C.

    .venv/bin/python benchmarks/ablations.py [--videos 2] [--frames 24] [--size 128] [--steps 2400]

Prints the table (AJ, delta_avg, OA, TC at 256x256, official TAP-Vid frame rule) and the fit time per
video. Every method fits on the same stored DIS flow set of each video; runs are resumable (the data
folder is kept under ./data/benchmarks/ablations unless --data-root says otherwise).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from flows.benchmark import benchmark
from flows.config import PipelineConfig
from omnimotion_core.methods import METHODS, ModelMethod
from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import FitConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="fit steps (default: the fast preset's)")
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--data-root", default="data/benchmarks/ablations")
    args = parser.parse_args()
    root = Path(args.data_root).resolve()
    config = resize_synthetic_preset("bench", num_frames=args.frames, height=args.size, width=args.size,
                                     num_videos=args.videos)
    dataset = root / f"bench-{args.videos}v-{args.frames}f-{args.size}px.pkl"
    if not dataset.exists():
        write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(config, seed=0))
    pipeline = PipelineConfig(data_root=root, fit=FitConfig(num_steps=args.steps, cpu_threads=args.cpu_threads))
    started = time.perf_counter()
    result = benchmark(str(dataset), [*METHODS.names(ModelMethod), "dis-c"], pipeline)
    print(result.table_markdown)
    for video, method, message in result.failures:
        print(f"FAILED {video} / {method}: {message}")
    print(f"wall time {time.perf_counter() - started:.0f} s for {len(result.records)} results")


if __name__ == "__main__":
    main()
