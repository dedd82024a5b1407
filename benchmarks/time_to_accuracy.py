"""Time to accuracy of an OmniMotion fit: AJ / delta_avg / OA / TC against fit wall time and steps.

    .venv/bin/python benchmarks/time_to_accuracy.py --videos 2 --frames 24 --size 128 --steps 2400 --eval-every 400
    .venv/bin/python benchmarks/time_to_accuracy.py --dataset tapvid_davis.pkl --videos 1 --device cuda

Without ``--dataset`` the synthetic ``bench`` preset is generated (``--videos``, ``--frames``, ``--size``,
``--seed``). Each video goes through the pipeline's own functions, as the ``benchmark`` flow runs them:
ingested at the evaluation resolution, its flow set stored and chained by ``tasks.flow.store_flow_set``
(default flow settings), fitted by the trainer that ``tasks.fit.build_trainer`` builds on the stored chained
set; every ``--eval-every`` steps the TAP-Vid queries are tracked by ``tasks.fit.predict_with_model`` (which
applies the appearance check) and scored by ``tasks.evaluate.score_tracks`` (official frame rule, TC in
pixels at the evaluation resolution). Evaluation time is not on the fit clock. The chained-flow baseline
(DIS-C) runs through ``tasks.track.build_pipeline_tracker`` and ``tasks.track.predict_tracks`` on the same
frames, with the same check.

Prints the table of the mean over videos at each evaluation, then throughput (iterations/s, ray samples/s),
peak memory (CPU RSS; CUDA max allocated) and the model FLOP utilisation: the FLOP/s achieved by the fit
(FLOPs of one step counted with FlopCounterMode, times iterations/s) divided by the FLOP/s of a plain
square matmul of the same dtype measured on the same device in the same process. Writes
``time_to_accuracy.csv`` (one row per video and evaluation, plus the means) and ``time_to_accuracy.png``.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from omnimotion_core.flow import FlowConfig
from omnimotion_core.flow_set import PairSource
from omnimotion_core.model import OmniMotionConfig, Trainer
from omnimotion_core.synthetic import generate_tapvid_dataset, resize_synthetic_preset
from storage.layout import video_id_from_name
from storage.tapvid import (
    TapVidSample,
    list_tapvid_videos,
    load_tapvid_sample,
    write_tapvid_davis_pickle,
)
from storage.video_sources import open_video_source
from storage.video_store import IngestConfig, ingest, open_video
from tasks.config import EvaluationConfig, FitConfig
from tasks.evaluate import score_tracks
from tasks.fit import load_fit_inputs, predict_with_model, resolve_device
from tasks.flow import store_flow_set
from tasks.track import build_pipeline_tracker, predict_tracks

METRICS = {"AJ": "average_jaccard", "delta_avg": "average_pts_within_thresh", "OA": "occlusion_accuracy",
           "TC": "temporal_coherence"}
"""Column name -> key of :func:`summarize_video_metrics`; AJ, delta_avg and OA are printed in percent."""


def _size(text: str) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` -> (height, width)."""
    height, _, width = text.partition("x")
    return int(height), int(width)


def evaluate_model(trainer: Trainer, frames: np.ndarray, sample: TapVidSample, evaluation: EvaluationConfig) -> dict:
    """Track the sample's queries with the trainer's model as ``track_with_model`` does and score them as
    ``evaluate_tapvid`` does."""
    tracks, occluded = predict_with_model(trainer.model, frames, sample.query_points, evaluation)
    return score(sample, tracks, occluded, evaluation)


def score(sample: TapVidSample, tracks: np.ndarray, occluded: np.ndarray, evaluation: EvaluationConfig) -> dict:
    """The table's columns (AJ, delta_avg, OA, TC) of :func:`tasks.evaluate.score_tracks`."""
    summary = score_tracks(sample, tracks, occluded, evaluation)
    return {column: summary[key] for column, key in METRICS.items()}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def busy_clock(device: torch.device) -> Callable[[], float]:
    """The clock that compute is timed with: this process's CPU time on CPU (robust to other jobs sharing the
    cores), wall time on CUDA (call after a synchronize)."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def matmul_flops_per_second(device: torch.device, dtype: torch.dtype, n: int = 1024, seconds: float = 2.0) -> float:
    """FLOP/s of a plain [n, n] @ [n, n] matmul of ``dtype`` on ``device`` (2 n^3 per product, best of runs,
    timed with :func:`busy_clock`)."""
    clock = busy_clock(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _synchronize(device)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = clock()
        for _ in range(5):
            a @ b
        _synchronize(device)
        best = min(best, (clock() - started) / 5)
    return 2.0 * n**3 / best


def flops_per_step(config: OmniMotionConfig, flow_set: PairSource, video: np.ndarray, device: torch.device) -> int:
    """FLOPs of one fit step (forward, backward; FlopCounterMode counts matmuls), on a throw-away Trainer."""
    probe = Trainer(config, flow_set, video, device=device)
    with FlopCounterMode(display=False) as counter:
        probe.fit(num_steps=1)
    return int(counter.get_total_flops())


def peak_memory_text(device: torch.device) -> str:
    """Peak CPU RSS of the process so far (the flow set's computation included), and CUDA max allocated (of
    the fit) when on CUDA."""
    text = f"peak CPU RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    if device.type == "cuda":
        text += f", CUDA max allocated {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
    return text


def run_video(
    dataset: Path, name: str, root: Path, config: OmniMotionConfig, evaluation: EvaluationConfig, eval_every: int,
    device: torch.device, threads: int,
) -> tuple[list[dict], dict]:
    """Flow, DIS-C and the fit of one video; returns the evaluation rows and the video's throughput figures."""
    torch.set_num_threads(threads)
    sample = load_tapvid_sample(dataset, name, evaluation.query_mode, evaluation.resolution)
    video_id = video_id_from_name(f"{dataset.stem}-{name}")
    group_path = ingest(open_video_source(dataset, name), root, video_id, IngestConfig(size=evaluation.resolution))
    frames = open_video(group_path).read_frames()
    logger = logging.getLogger(f"time_to_accuracy.{name}")
    started = time.perf_counter()
    flow_set = store_flow_set(group_path, FlowConfig(), logger)
    flow_seconds = time.perf_counter() - started
    started = time.perf_counter()
    chained = predict_tracks(build_pipeline_tracker("dis-c", FlowConfig()), frames, sample.query_points, evaluation)
    rows = [{"video": name, "method": "dis-c", "step": 0, "fit_s": time.perf_counter() - started,
             **score(sample, *chained, evaluation)}]
    flows, video = load_fit_inputs(group_path, str(flow_set), FitConfig(), logger)
    print(f"{name}: flow set {len(flows.pairs)} pairs in {flow_seconds:.1f} s; DIS-C AJ {100 * rows[0]['AJ']:.1f}",
          flush=True)
    step_flops = flops_per_step(config, flows, video, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(config, flows, video, device=device)
    fit_seconds = busy_seconds = 0.0
    clock = busy_clock(device)
    while True:
        started = time.perf_counter()
        figures = evaluate_model(trainer, frames, sample, evaluation)
        rows.append({"video": name, "method": "omnimotion", "step": trainer.step, "fit_s": fit_seconds,
                     "eval_s": time.perf_counter() - started, **figures})
        print(f"{name}: step {trainer.step:5d}  fit {fit_seconds:7.1f} s  AJ {100 * figures['AJ']:.1f}  "
              f"delta {100 * figures['delta_avg']:.1f}  OA {100 * figures['OA']:.1f}  TC {figures['TC']:.2f}", flush=True)
        remaining = config.trainer.num_steps - trainer.step
        if remaining <= 0:
            break
        _synchronize(device)
        started, busy_started = time.perf_counter(), clock()
        trainer.fit(num_steps=min(eval_every, remaining))
        _synchronize(device)
        fit_seconds += time.perf_counter() - started
        busy_seconds += clock() - busy_started
    dtype = torch.bfloat16 if config.trainer.autocast and device.type == "cuda" else torch.float32
    speed = {
        "video": name, "steps": trainer.step, "fit_s": fit_seconds, "busy_s": busy_seconds, "flow_s": flow_seconds,
        "step_flops": step_flops, "matmul_flops_per_s": matmul_flops_per_second(device, dtype),
        "memory": peak_memory_text(device),
    }
    return rows, speed


def mean_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over videos of each (method, step)."""
    columns = ["fit_s", *METRICS]
    return rows.groupby(["method", "step"], as_index=False)[columns].mean()


def plot(means: pd.DataFrame, path: Path, title: str) -> None:
    """AJ / delta_avg / OA / TC against fit seconds (top) and steps (bottom); DIS-C as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = means[means["method"] == "omnimotion"]
    chained = means[means["method"] == "dis-c"].iloc[0]
    figure, axes = plt.subplots(2, len(METRICS), figsize=(4 * len(METRICS), 6.5), squeeze=False)
    for column, metric in enumerate(METRICS):
        scale = 1.0 if metric == "TC" else 100.0
        for row, x in enumerate(("fit_s", "step")):
            axis = axes[row, column]
            axis.plot(model[x], scale * model[metric], "o-", label="OmniMotion")
            axis.axhline(scale * chained[metric], color="grey", linestyle="--", label="DIS-C")
            axis.set_xlabel("fit wall time (s)" if x == "fit_s" else "steps")
            axis.set_ylabel(metric + ("" if metric == "TC" else " (%)"))
            axis.grid(alpha=0.3)
    axes[0, 0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def format_table(means: pd.DataFrame) -> str:
    """Markdown table of the means: method, step, fit seconds and the four metrics."""
    lines = ["| method | step | fit s (DIS-C: tracking s) | AJ | delta_avg | OA | TC |",
             "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in means.sort_values(["method", "step"], ascending=[True, True]).itertuples():
        lines.append(f"| {row.method} | {row.step} | {row.fit_s:.1f} | {100 * row.AJ:.1f} | {100 * row.delta_avg:.1f} "
                     f"| {100 * row.OA:.1f} | {row.TC:.2f} |")
    return "\n".join(lines)


def format_speed(speeds: list[dict], config: OmniMotionConfig) -> str:
    """Throughput, memory and FLOP utilisation lines, one per video.

    Iterations/s are given on the wall clock (what the table's fit times are) and on the busy clock (CPU time
    of the process on CPU), which is what the FLOP utilisation uses, as does the matmul it is divided by.
    """
    rays = config.sampling.num_pairs * config.sampling.pixels_per_pair
    samples = rays * config.rendering.num_samples
    lines = []
    for speed in speeds:
        rate, busy_rate = speed["steps"] / speed["fit_s"], speed["steps"] / speed["busy_s"]
        achieved = speed["step_flops"] * busy_rate
        lines.append(
            f"{speed['video']}: {rate:.2f} it/s wall ({busy_rate:.2f} it/s on the busy clock), "
            f"{rate * samples:,.0f} ray samples/s wall ({busy_rate * samples:,.0f} busy; {rays} rays x "
            f"{config.rendering.num_samples} samples per step); {speed['step_flops'] / 1e9:.3f} GFLOP per step -> "
            f"{achieved / 1e9:.2f} GFLOP/s vs plain matmul {speed['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s: "
            f"MFU {100 * achieved / speed['matmul_flops_per_s']:.1f} %; flow set {speed['flow_s']:.1f} s; "
            f"{speed['memory']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, help="a TAP-Vid pickle (default: generate the synthetic bench preset)")
    parser.add_argument("--videos", type=int, default=2, help="videos to use (the first N of the dataset)")
    parser.add_argument("--frames", type=int, default=24, help="frames per synthetic video")
    parser.add_argument("--size", type=int, default=128, help="synthetic frame size in pixels")
    parser.add_argument("--seed", type=int, default=0, help="synthetic dataset seed")
    parser.add_argument("--resolution", type=_size, default=(256, 256),
                        help="HEIGHTxWIDTH at which videos are processed and scored (the benchmark flow's default)")
    parser.add_argument("--preset", default="fast", help="model preset (fast, fast-volume, balanced, paper)")
    parser.add_argument("--steps", type=int, help="fit steps (default: the preset's)")
    parser.add_argument("--eval-every", type=int, default=400, help="steps between evaluations")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per video")
    parser.add_argument("--jobs", type=int, default=1, help="videos processed at once, each in its own process")
    parser.add_argument("--work-dir", type=Path, help="data root for the stores (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/time_to_accuracy"), help="CSV and PNG folder")
    args = parser.parse_args()
    if min(args.eval_every, args.videos, args.jobs, args.threads) < 1:
        parser.error("--eval-every, --videos, --jobs and --threads must be >= 1")
    device = torch.device(resolve_device(args.device))
    config = FitConfig(preset=args.preset, num_steps=args.steps).model_config()
    evaluation = EvaluationConfig(resolution=args.resolution)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = (args.work_dir or Path(scratch)).resolve()
        dataset = args.dataset
        if dataset is None:
            synthetic = resize_synthetic_preset("bench", num_frames=args.frames, height=args.size, width=args.size,
                                                num_videos=args.videos)
            dataset = root / f"bench-{args.videos}v-{args.frames}f-{args.size}px-seed{args.seed}.pkl"
            if not dataset.exists():
                write_tapvid_davis_pickle(dataset, generate_tapvid_dataset(synthetic, seed=args.seed))
        names = list_tapvid_videos(dataset)[: args.videos]
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_video, [dataset] * len(names), names, [root] * len(names),
                                    [config] * len(names), [evaluation] * len(names), [args.eval_every] * len(names),
                                    [device] * len(names), [args.threads] * len(names)))
        rows = [row for video_rows, _ in results for row in video_rows]
        speeds = [speed for _, speed in results]
    per_video = pd.DataFrame(rows)
    means = mean_table(per_video)
    pd.concat([per_video, means.assign(video="mean")]).to_csv(args.out / "time_to_accuracy.csv", index=False)
    title = (f"{dataset.name}: {len(speeds)} videos at {args.resolution[0]}x{args.resolution[1]}, preset "
             f"{args.preset}, {device.type}, {args.jobs} at once x {args.threads} thread(s)")
    plot(means, args.out / "time_to_accuracy.png", title)
    print(f"\n{title}; mean over videos (official TAP-Vid frame rule, TC in pixels)\n{format_table(means)}\n")
    print(format_speed(speeds, config))
    print(f"wrote {args.out / 'time_to_accuracy.csv'} and {args.out / 'time_to_accuracy.png'}")


if __name__ == "__main__":
    main()
