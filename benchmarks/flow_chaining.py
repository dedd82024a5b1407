"""How many correspondences flow chaining adds, and how good they are, measured on ground truth.

    .venv/bin/python benchmarks/flow_chaining.py [--videos 2] [--frames 24] [--size 128]

For each synthetic `bench` video (processed at 256x256 like the benchmark) it computes the all-pairs DIS
flow set, derives the chained set from it, and compares both per frame-gap bucket: the fraction of
pixels trusted, and at the ground-truth tracks visible in both frames, the fraction trusted, the median
end-point error of the trusted ones and the fraction of those wrong by more than 8 px.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from omnimotion_core.flow import (
    ChainingConfig,
    ConsistencyConfig,
    FlowEngineConfig,
    PairSelectionConfig,
    build_flow_engine,
    chain_flow_set,
    compute_flow_set,
)
from omnimotion_core.flow_set import FlowSet
from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage.tapvid import TapVidSample, iter_tapvid, write_tapvid_davis_pickle

GAP_BUCKETS = ((1, 1), (2, 4), (5, 8), (9, 16), (17, 31), (32, 10_000))


def correspondence_quality(flow_set: FlowSet, sample: TapVidSample) -> list[dict[str, float]]:
    """Per gap bucket: pixels trusted, and trusted share / median error / >8 px share at visible true tracks."""
    height, width = flow_set.size
    gaps = np.abs(flow_set.pairs[:, 1] - flow_set.pairs[:, 0])
    rows = []
    for low, high in GAP_BUCKETS:
        selected = np.flatnonzero((gaps >= low) & (gaps <= high))
        if len(selected) == 0:
            continue
        errors, trusted, visible = [], 0, 0
        for row in selected:
            i, j = flow_set.pairs[row]
            both = ~sample.occluded[:, i] & ~sample.occluded[:, j]
            start = np.clip(np.round(sample.target_points[both, i]).astype(int), 0, [width - 1, height - 1])
            kept = flow_set.mask[row, start[:, 1], start[:, 0]]
            landed = start + flow_set.flow[row, start[:, 1], start[:, 0]]
            error = np.linalg.norm(landed - sample.target_points[both, j], axis=-1)
            errors.append(error[kept])
            trusted += int(kept.sum())
            visible += len(kept)
        error = np.concatenate(errors)
        rows.append({
            "gaps": f"{low}-{high}" if high < 10_000 else f">={low}",
            "pixels trusted": float(flow_set.mask[selected].mean()),
            "true tracks trusted": trusted / max(visible, 1),
            "median error px": float(np.median(error)) if len(error) else float("nan"),
            "wrong by >8 px": float(np.mean(error > 8)) if len(error) else float("nan"),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128, help="generated size (processed at 256x256)")
    args = parser.parse_args()
    config = resize_synthetic_preset("bench", num_frames=args.frames, height=args.size, width=args.size,
                                     num_videos=args.videos)
    engine = build_flow_engine(FlowEngineConfig())
    records = []
    with tempfile.TemporaryDirectory() as folder:
        dataset = Path(folder) / "bench.pkl"
        write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(config, seed=0))
        for sample in iter_tapvid(dataset, resolution=(256, 256)):
            started = time.perf_counter()
            direct = compute_flow_set(sample.video, engine, PairSelectionConfig(), ConsistencyConfig())
            flow_seconds = time.perf_counter() - started
            started = time.perf_counter()
            chained = chain_flow_set(direct, sample.video, ChainingConfig())
            chain_seconds = time.perf_counter() - started
            print(f"{sample.name}: {len(direct.pairs)} flows in {flow_seconds:.1f} s, chaining {chain_seconds:.1f} s "
                  f"({chain_seconds / flow_seconds:.2f}x the flow)")
            for kind, flow_set in (("direct", direct), ("chained", chained)):
                records += [{"video": sample.name, "set": kind, **row} for row in correspondence_quality(flow_set, sample)]
    table = pd.DataFrame(records).groupby(["gaps", "set"], sort=False).mean(numeric_only=True).reset_index()
    print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))


if __name__ == "__main__":
    main()
