"""Flow trackers side by side: DIS-C, DIS-D and DIS-MFT (with ablations of its rule), scored and timed.

    .venv/bin/python benchmarks/flow_trackers.py --seeds 0 1 2 --badja ../shared/data/badja
    .venv/bin/python benchmarks/flow_trackers.py --seeds 0 --videos 1 --frames 8 --size 32 --resolution 64x64 \\
        --out /tmp/flow_trackers                     # a smoke run

Datasets: the synthetic ``bench`` preset (``--videos`` videos of ``--frames`` frames at ``--size`` px per seed,
written as a TAP-Vid pickle) and, with ``--badja``, the sequences of a BADJA folder; every video is loaded at
``--resolution`` (``storage.tapvid.load_tapvid_sample`` / ``storage.badja.load_badja_sample``, the resize rule the
pipeline ingests with) and queried query_first. Each tracker runs on the frames with a DIS engine of
``--dis-preset`` and is scored by ``tasks.evaluate.score_tracks`` with its own occlusion (no appearance check:
the issue's bar compares the trackers' own occlusion). Rows:

- ``dis-c``, ``dis-d``, ``dis-mft``: the registered trackers (``omnimotion_core.trackers.build_tracker``);
- ``dis-mft, MFT's rule``: ``MftConfig(consensus_radius=0, max_sigma=None)``, the least uncertain visible candidate
  and the flows' occlusion only, as the MFT paper (with cycle-error uncertainty instead of a trained head);
- ``dis-mft, no consensus`` (``consensus_radius=0``) and ``dis-mft, no max_sigma`` (``max_sigma=None``): one of
  the two changes each.

Cost: each tracker's wall seconds on the video (its flows included), as a ratio to the seconds of the all-pairs
DIS flow set of the same video (``compute_pair_chunk`` over every unordered pair in chunks of 16, flows and
cycle masks, as the pipeline's flow stage computes them, not stored), timed in the same process just before.

Writes ``flow_trackers.csv`` (one row per video and tracker) and ``flow_trackers.md`` (means per dataset and
tracker, AJ ratio to DIS-C, delta_avg difference to DIS-C) to ``--out``, and prints the table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from omnimotion_core.flow import (
    ConsistencyConfig,
    DisConfig,
    FlowEngine,
    FlowEngineConfig,
    MftConfig,
    build_flow_engine,
    compute_pair_chunk,
)
from omnimotion_core.flow.engines import DisPreset
from omnimotion_core.registry import Tracker
from omnimotion_core.synthetic import generate_synthetic_video, resize_synthetic_preset, to_tapvid, video_name
from omnimotion_core.trackers import MftTracker, build_tracker
from storage.badja import list_badja_sequences, load_badja_sample
from storage.tapvid import TapVidSample, load_tapvid_sample, write_tapvid_davis_pickle
from tasks.config import EvaluationConfig
from tasks.evaluate import score_tracks

METRICS = {"AJ": "average_jaccard", "delta_avg": "average_pts_within_thresh", "OA": "occlusion_accuracy",
           "TC": "temporal_coherence", "PCK_T": "pck_t"}
"""Column name -> key of :func:`tasks.evaluate.score_tracks` (fractions; TC in pixels; PCK-T only with masks)."""
ABLATIONS = {
    "dis-mft, MFT's rule": MftConfig(consensus_radius=0, max_sigma=None),
    "dis-mft, no consensus": MftConfig(consensus_radius=0),
    "dis-mft, no max_sigma": MftConfig(max_sigma=None),
}


def trackers(engine: FlowEngine) -> dict[str, Tracker]:
    """Every tracker of the table, on ``engine``."""
    built: dict[str, Tracker] = {name: build_tracker(name, engine) for name in ("dis-c", "dis-d", "dis-mft")}
    built.update({name: MftTracker(engine, config) for name, config in ABLATIONS.items()})
    return built


def all_pairs_seconds(frames: np.ndarray, engine: FlowEngine, chunk_pairs: int = 16) -> float:
    """Wall seconds of every ordered pair's flow and cycle mask of ``frames``, chunk by chunk, nothing kept."""
    num_frames = frames.shape[0]
    unordered = np.array([(i, j) for i in range(num_frames) for j in range(i + 1, num_frames)], dtype=np.int64)
    started = time.perf_counter()
    for start in range(0, len(unordered), chunk_pairs):
        compute_pair_chunk(frames, unordered[start:start + chunk_pairs], engine, ConsistencyConfig())
    return time.perf_counter() - started


def synthetic_samples(seeds: list[int], args: argparse.Namespace, root: Path) -> Iterator[tuple[str, TapVidSample]]:
    """("bench", sample) of every video of every seed."""
    preset = resize_synthetic_preset("bench", num_frames=args.frames, height=args.size, width=args.size,
                                     num_videos=args.videos)
    for seed in seeds:
        dataset = root / f"bench-seed{seed}.pkl"
        videos = {video_name(index): to_tapvid(generate_synthetic_video(preset.video, seed, index))
                  for index in range(args.videos)}
        write_tapvid_davis_pickle(dataset, videos)
        for name in videos:
            yield "bench", load_tapvid_sample(dataset, name, "first", args.resolution)


def badja_samples(root: Path, resolution: tuple[int, int]) -> Iterator[tuple[str, TapVidSample]]:
    """("badja", sample) of every sequence of a BADJA folder."""
    for name in list_badja_sequences(root):
        yield "badja", load_badja_sample(root, name, "first", resolution)


def run_video(dataset: str, label: str, sample: TapVidSample, engine: FlowEngine, evaluation: EvaluationConfig,
              report: Callable[[str], None]) -> list[dict]:
    """Rows of every tracker on one video."""
    baseline = all_pairs_seconds(sample.video, engine)
    rows = []
    for method, tracker in trackers(engine).items():
        started = time.perf_counter()
        tracks, occluded = tracker(sample.video, sample.query_points)
        seconds = time.perf_counter() - started
        scores = score_tracks(sample, tracks, occluded, evaluation)
        rows.append({"dataset": dataset, "video": label, "method": method, "seconds": seconds,
                     "all_pairs_seconds": baseline, "cost_ratio": seconds / baseline,
                     **{column: scores.get(key, np.nan) for column, key in METRICS.items()}})
        report(f"{dataset} {label}: {method} AJ {100 * rows[-1]['AJ']:.1f} delta_avg {100 * rows[-1]['delta_avg']:.1f} "
               f"OA {100 * rows[-1]['OA']:.1f}; {seconds:.1f} s = {rows[-1]['cost_ratio']:.2f}x all pairs ({baseline:.1f} s)")
    return rows


def format_table(rows: pd.DataFrame) -> str:
    """Markdown of the means per dataset and tracker, with AJ / DIS-C and delta_avg - DIS-C's."""
    lines = []
    for dataset, table in rows.groupby("dataset", sort=False):
        means = table.groupby("method", sort=False)[["AJ", "delta_avg", "OA", "TC", "PCK_T", "cost_ratio"]].mean()
        reference = means.loc["dis-c"]
        videos = table["video"].nunique()
        lines += [f"### {dataset} ({videos} videos; own occlusion)", "",
                  "| tracker | AJ | delta_avg | OA | TC | PCK-T | AJ / DIS-C | delta_avg - DIS-C | cost / all-pairs DIS |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for method, row in means.iterrows():
            cells = [f"{100 * row[column]:.1f}" if np.isfinite(row[column]) else "-" for column in ("AJ", "delta_avg", "OA")]
            cells.append(f"{row['TC']:.2f}" if np.isfinite(row["TC"]) else "-")
            cells.append(f"{100 * row['PCK_T']:.1f}" if np.isfinite(row["PCK_T"]) else "-")
            cells += [f"{row['AJ'] / reference['AJ']:.2f}x", f"{100 * (row['delta_avg'] - reference['delta_avg']):+.1f}",
                      f"{row['cost_ratio']:.2f}x"]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="synthetic dataset seeds (none: skip)")
    parser.add_argument("--videos", type=int, default=2, help="videos per seed")
    parser.add_argument("--frames", type=int, default=24, help="frames per synthetic video")
    parser.add_argument("--size", type=int, default=128, help="synthetic frame size in pixels (square)")
    parser.add_argument("--resolution", type=_size, default=(256, 256), help="HEIGHTxWIDTH at which videos are scored")
    parser.add_argument("--badja", type=Path, help="a BADJA folder (joint_annotations/ + DAVIS/) to score too")
    parser.add_argument("--dis-preset", default=DisConfig().preset, choices=get_args(DisPreset), help="DIS preset")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/flow_trackers"), help="folder of the tables")
    args = parser.parse_args(argv)
    if min(args.videos, args.frames - 1) < 1:
        parser.error("--videos must be >= 1 and --frames >= 2")
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; return the per-video table (also written to ``--out``)."""
    args = parse_args(argv)
    engine = build_flow_engine(FlowEngineConfig(dis=DisConfig(preset=args.dis_preset)))
    evaluation = EvaluationConfig(resolution=args.resolution)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        samples = list(synthetic_samples(args.seeds, args, Path(scratch))) if args.seeds else []
        labels = [f"seed{seed}/{video_name(index)}" for seed in args.seeds for index in range(args.videos)]
        for label, (dataset, sample) in zip(labels, samples, strict=True):
            rows += run_video(dataset, label, sample, engine, evaluation, lambda line: print(line, flush=True))
    if args.badja is not None:
        for dataset, sample in badja_samples(args.badja, args.resolution):
            rows += run_video(dataset, sample.name, sample, engine, evaluation, lambda line: print(line, flush=True))
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "flow_trackers.csv", index=False)
    markdown = format_table(table)
    (args.out / "flow_trackers.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return table


if __name__ == "__main__":
    main()
