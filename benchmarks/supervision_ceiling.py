"""Supervision ceiling: the same OmniMotion fit on exact correspondences and on the pipeline's own flow set.

    .venv/bin/python benchmarks/supervision_ceiling.py --seeds 0 1 2 --videos 2 --steps 2400 --eval-every 600
    .venv/bin/python benchmarks/supervision_ceiling.py --seeds 0 --videos 1 --frames 8 --size 32 --resolution 64x64 \\
        --steps 4 --eval-every 2 --out /tmp/ceiling        # a smoke run

For each seed the synthetic ``bench`` preset (``--videos`` videos of ``--frames`` frames at ``--size`` px) is
written as a TAP-Vid pickle, and each video is processed at ``--resolution`` as the ``benchmark`` flow does:
ingested (``storage.video_store.ingest``, the one resize rule), all-pairs DIS flow computed, published and
chained by ``tasks.flow.store_flow_set`` (the function the flow's ``compute_flow_set`` task runs), read back
for fitting by ``storage.flow_store.open_pair_source`` as ``fit_model`` does. Supervisions (``--supervision``):

- ``chained``: that stored chained DIS set (what the pipeline fits on; ``--dis-preset`` picks DIS's preset for it
  and for the DIS-C / DIS-D / DIS-MFT rows);
- ``mft``: the set derived from the same direct DIS flows by MFT-style multi-gap chaining
  (``ChainingConfig(rule="mft")``, what ``--chaining mft`` fits on);
- ``exact``: the video's exact correspondences at the processing resolution
  (``omnimotion_core.synthetic.exact_flow_set``: every ordered pair, every pixel, mask = visible in frame j).

Each (seed, video, supervision) is fitted by ``Trainer`` with ``FitConfig(preset=--preset).model_config()``
(``--steps`` overrides the preset's, ``--set surface.match_weight=0`` any field of the model config), on
``--threads`` torch threads. At step 0, every ``--eval-every`` steps
and at the end the TAP-Vid queries (query_first, official frame rule) are tracked with the model
(``omnimotion_core.model.track``) and scored twice from the same tracks: with the model's own occlusion
(``own``) and after the appearance check (``checked``; ``omnimotion_core.appearance.check_appearance`` with
``EvaluationConfig``'s setting, as ``track_with_model`` stores them). Scoring is ``tasks.evaluate.score_tracks``,
the function the ``evaluate_tapvid`` task runs. delta_avg and TC do not depend on
the predicted occlusion, so own and checked agree on them. Evaluation time is not on the fit clock: ``fit_s``
is wall seconds of ``Trainer.fit`` only, ``fit_cpu_s`` the process CPU seconds it took (all threads; robust to
other jobs sharing the cores, which inflate ``fit_s``). DIS-C and DIS-D (``omnimotion_core.trackers``) run on the same
stored frames and are scored the same two ways (``fit_s`` = their tracking seconds). ``OMP_WAIT_POLICY``
defaults to ``PASSIVE`` (see below the imports).

Also measured per video: how many correspondences each set trusts and, for the chained and MFT sets against the exact
one, the share of its trusted correspondences that are hidden in frame j, the share wrong by more than 4 px
(end-point error), and the share of the exactly visible correspondences it trusts (recall).

Writes to ``--out``: ``supervision_ceiling.csv`` (one row per seed, video, method, step), ``..._sets.csv``
(the flow-set figures), ``supervision_ceiling.md`` (means over seeds and videos per (supervision, step), the
DIS rows, AJ ratios to DIS-C in the same occlusion mode) and ``supervision_ceiling.png`` (curves against fit
seconds). Deterministic for given seeds, settings and thread count.
"""

from __future__ import annotations

import os

# Before torch is imported (libgomp reads it when it loads): OpenMP threads that sleep when idle instead of
# spinning. On 2 cores shared with other jobs, spinning made a fast-preset step 5-7x slower at 2 threads (2.0
# vs 0.30-0.44 s measured back to back); set OMP_WAIT_POLICY=ACTIVE in the environment to measure the other way.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import torch

from omnimotion_core.appearance import check_appearance
from omnimotion_core.flow import ChainingConfig, DisConfig, FlowConfig, FlowEngineConfig, build_flow_engine
from omnimotion_core.flow.engines import DisPreset
from omnimotion_core.flow_set import FlowSet, PairSource
from omnimotion_core.model import PRESETS, OmniMotionConfig, Trainer, track
from omnimotion_core.model.config_dict import config_from_dict
from omnimotion_core.synthetic import (
    SyntheticVideo,
    exact_flow_set,
    generate_synthetic_video,
    resize_synthetic_preset,
    to_tapvid,
    video_name,
)
from omnimotion_core.trackers import build_tracker
from storage.flow_store import open_pair_source
from storage.layout import video_id_from_name
from storage.tapvid import TapVidSample, load_tapvid_sample, write_tapvid_davis_pickle
from storage.video_sources import open_video_source
from storage.video_store import IngestConfig, ingest, open_video
from tasks.config import EvaluationConfig, FitConfig
from tasks.evaluate import score_tracks
from tasks.flow import store_flow_set

SUPERVISIONS = ("exact", "chained", "mft")
BASELINES = ("dis-c", "dis-d", "dis-mft")
MODES = ("own", "checked")
METRICS = {"AJ": "average_jaccard", "delta_avg": "average_pts_within_thresh", "OA": "occlusion_accuracy",
           "TC": "temporal_coherence"}
"""Column name -> key of :func:`tasks.evaluate.score_tracks` (fractions; TC in pixels at the processing resolution)."""

LOG = logging.getLogger("supervision_ceiling")


def override(config: OmniMotionConfig, assignments: list[str]) -> OmniMotionConfig:
    """``config`` with each ``dotted.path=value`` set (value read as JSON, else as a string).

    Raises:
        ValueError: an assignment without ``=``, or a path the config tree does not have (named).
    """
    tree = dataclasses.asdict(config)
    for assignment in assignments:
        path, separator, text = assignment.partition("=")
        if not separator:
            raise ValueError(f"--set expects PATH=VALUE, got {assignment!r}")
        *parents, leaf = path.split(".")
        node = tree
        for name in parents:
            if not isinstance(node.get(name), dict):
                raise ValueError(f"--set {path}: {name!r} is not a section of the model config")
            node = node[name]
        if leaf not in node:
            raise ValueError(f"--set {path}: the model config has no field {leaf!r} there")
        try:
            node[leaf] = json.loads(text)
        except json.JSONDecodeError:
            node[leaf] = text
    return config_from_dict(tree)


def _size(text: str) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` -> (height, width)."""
    height, _, width = text.partition("x")
    return int(height), int(width)


def score(sample: TapVidSample, frames: np.ndarray, tracks: np.ndarray, occluded: np.ndarray,
          evaluation: EvaluationConfig) -> dict[str, float]:
    """``<metric>_own`` and ``<metric>_checked`` of predicted tracks [N, T, 2] (x, y) px and occlusion [N, T]:
    scored as predicted, and after the appearance check on ``frames`` (the stored frames)."""
    checked = check_appearance(frames, sample.query_points, tracks, occluded, evaluation.appearance_check)
    figures = {}
    for mode, flags in zip(MODES, (occluded, checked), strict=True):
        summary = score_tracks(sample, tracks, flags, evaluation)
        figures.update({f"{column}_{mode}": summary[key] for column, key in METRICS.items()})
    return figures


def set_figures(flow_set: PairSource, exact: FlowSet) -> dict[str, float]:
    """Trusted correspondences of ``flow_set`` and their quality against ``exact`` (same pairs and size):
    ``trusted`` (count), ``trusted_share`` (of all pixels of all pairs), ``hidden_share`` (trusted but hidden in
    frame j), ``wrong_4px_share`` (trusted with end-point error > 4 px), ``recall`` (exactly visible and trusted
    / exactly visible)."""
    rows = {tuple(map(int, pair)): row for row, pair in enumerate(exact.pairs)}
    height, width = exact.size
    ys, xs = np.mgrid[0:height, 0:width]
    ys, xs = ys.ravel()[None], xs.ravel()[None]
    trusted = hidden = wrong = visible = found = 0
    for row, (i, j) in enumerate(flow_set.pairs):
        mask = flow_set.read_masks(np.array([row]))[0].ravel()
        exact_row = rows[(int(i), int(j))]
        truth = exact.mask[exact_row].ravel()
        error = np.linalg.norm(flow_set.read_flow(np.array([row]), ys, xs)[0]
                               - exact.read_flow(np.array([exact_row]), ys, xs)[0], axis=-1)
        trusted += int(mask.sum())
        hidden += int((mask & ~truth).sum())
        wrong += int((mask & (error > 4.0)).sum())
        visible += int(truth.sum())
        found += int((mask & truth).sum())
    total = len(flow_set.pairs) * height * width
    return {"trusted": trusted, "trusted_share": trusted / total, "hidden_share": hidden / max(trusted, 1),
            "wrong_4px_share": wrong / max(trusted, 1), "recall": found / max(visible, 1)}


@dataclass
class Clock:
    """Fit steps and seconds done so far, for the ETA of the remaining fits."""

    total_steps: int
    steps: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def eta_text(self) -> str:
        if self.steps == 0:
            return "ETA unknown"
        left = (self.total_steps - self.steps) * self.seconds / self.steps
        return f"{(time.perf_counter() - self.started) / 60:.1f} min elapsed, fits ETA {left / 60:.1f} min"


def fit_curve(config: OmniMotionConfig, flow_set: PairSource, frames: np.ndarray, sample: TapVidSample,
              evaluation: EvaluationConfig, eval_every: int, label: str, clock: Clock) -> list[dict]:
    """Fit ``config`` on ``flow_set`` and score it at step 0, every ``eval_every`` steps and at the end."""
    trainer = Trainer(config, flow_set, frames.astype(np.float32) / 255.0, device="cpu")
    queries = torch.from_numpy(sample.query_points)
    total = config.trainer.num_steps
    rows, fit_seconds, fit_cpu_seconds = [], 0.0, 0.0
    while True:
        started = time.perf_counter()
        tracks, occluded = track(trainer.model, queries, trainer.model.num_frames, trainer.size)
        figures = score(sample, frames, tracks.cpu().numpy(), occluded.cpu().numpy(), evaluation)
        rows.append({"step": trainer.step, "fit_s": fit_seconds, "fit_cpu_s": fit_cpu_seconds,
                     "eval_s": time.perf_counter() - started, **figures})
        print(f"{label}: step {trainer.step}/{total}  fit {fit_seconds:.0f} s  AJ own {100 * figures['AJ_own']:.1f} "
              f"checked {100 * figures['AJ_checked']:.1f}  delta {100 * figures['delta_avg_own']:.1f}  OA own "
              f"{100 * figures['OA_own']:.1f} checked {100 * figures['OA_checked']:.1f}  TC {figures['TC_own']:.2f}"
              f"  | {clock.eta_text()}", flush=True)
        remaining = total - trainer.step
        if remaining <= 0:
            return rows
        steps = min(eval_every, remaining)
        started, cpu_started = time.perf_counter(), time.process_time()
        trainer.fit(num_steps=steps)
        elapsed = time.perf_counter() - started
        fit_seconds += elapsed
        fit_cpu_seconds += time.process_time() - cpu_started
        clock.steps += steps
        clock.seconds += elapsed


def run_video(dataset: Path, synthetic: SyntheticVideo, name: str, root: Path, seed: int, args: argparse.Namespace,
              config: OmniMotionConfig, clock: Clock, label: str) -> tuple[list[dict], list[dict]]:
    """Baselines, flow sets and every supervision's fit of one video: (score rows, flow-set rows)."""
    evaluation = EvaluationConfig(resolution=args.resolution)
    sample = load_tapvid_sample(dataset, name, evaluation.query_mode, evaluation.resolution)
    group = ingest(open_video_source(dataset, name), root, video_id_from_name(f"{dataset.stem}-{name}"),
                   IngestConfig(size=evaluation.resolution))
    frames = open_video(group).read_frames()
    key = {"seed": seed, "video": name}
    rows = []
    flow_config = FlowConfig(engine=FlowEngineConfig(dis=DisConfig(preset=args.dis_preset)))
    for method in BASELINES:
        started = time.perf_counter()
        tracks, occluded = build_tracker(method, build_flow_engine(flow_config.engine))(frames, sample.query_points)
        seconds = time.perf_counter() - started
        rows.append({**key, "method": method, "supervision": "", "step": 0, "fit_s": seconds, "fit_cpu_s": 0.0, "eval_s": 0.0,
                     **score(sample, frames, tracks, occluded, evaluation)})
        print(f"{label}: {method} AJ own {100 * rows[-1]['AJ_own']:.1f} checked {100 * rows[-1]['AJ_checked']:.1f}",
              flush=True)
    started = time.perf_counter()
    exact = exact_flow_set(synthetic, evaluation.resolution)
    sets = {"exact": exact}
    set_rows = [{**key, "supervision": "exact", "seconds": time.perf_counter() - started, **set_figures(exact, exact)}]
    for supervision, rule in (("chained", "consecutive"), ("mft", "mft")):
        if supervision not in args.supervision:
            continue
        started = time.perf_counter()
        path = store_flow_set(group, dataclasses.replace(flow_config, chaining=ChainingConfig(rule=rule)), LOG)
        sets[supervision] = open_pair_source(group, path.name, FitConfig().flow_memory_budget_mib * 2**20)
        set_rows.append({**key, "supervision": supervision, "seconds": time.perf_counter() - started,
                         **set_figures(sets[supervision], exact)})
    for figures in set_rows:
        print(f"{label}: {figures['supervision']} set: {figures['trusted']} trusted ({100 * figures['trusted_share']:.1f} %"
              f" of pixels), hidden {100 * figures['hidden_share']:.2f} %, > 4 px {100 * figures['wrong_4px_share']:.2f} %,"
              f" recall {100 * figures['recall']:.1f} %; {figures['seconds']:.1f} s", flush=True)
    for supervision in args.supervision:
        curve = fit_curve(config, sets[supervision], frames, sample, evaluation, args.eval_every,
                          f"{label} {supervision}", clock)
        rows += [{**key, "method": "omnimotion", "supervision": supervision, **row} for row in curve]
    return rows, set_rows


def write_dataset(root: Path, seed: int, args: argparse.Namespace) -> tuple[Path, list[SyntheticVideo]]:
    """The seed's synthetic videos, and the TAP-Vid pickle of them (as ``generate_tapvid_dataset`` writes it)."""
    preset = resize_synthetic_preset("bench", num_frames=args.frames, height=args.size, width=args.size,
                                     num_videos=args.videos)
    videos = [generate_synthetic_video(preset.video, seed, index) for index in range(args.videos)]
    dataset = root / f"bench-seed{seed}-{args.videos}v-{args.frames}f-{args.size}px.pkl"
    write_tapvid_davis_pickle(dataset, {video_name(index): to_tapvid(video) for index, video in enumerate(videos)})
    return dataset, videos


FIGURE_COLUMNS = ["fit_s", "fit_cpu_s", "AJ_own", "AJ_checked", "delta_avg_own", "OA_own", "OA_checked", "TC_own"]


def mean_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and videos of each (method, supervision, step), with the number of videos."""
    grouped = rows.groupby(["method", "supervision", "step"], as_index=False)
    return grouped[FIGURE_COLUMNS].mean().merge(grouped.size().rename(columns={"size": "videos"}))


def format_table(means: pd.DataFrame) -> str:
    """Markdown of the means: DIS rows, then each supervision's steps; AJ ratios to DIS-C in the same mode."""
    chained = means[means["method"] == "dis-c"]
    reference = chained.iloc[0] if len(chained) else None
    lines = ["| method | supervision | step | fit s | fit CPU s | AJ own | AJ checked | delta_avg | OA own | OA checked | TC | "
             "AJ own / DIS-C | AJ checked / DIS-C | videos |",
             "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    order = {"dis-c": 0, "dis-d": 1, "omnimotion": 2}
    ordered = means.assign(order=means["method"].map(order)).sort_values(["order", "supervision", "step"])
    for row in ordered.itertuples():
        ratios = ("", "")
        if reference is not None:
            ratios = (f"{row.AJ_own / reference.AJ_own:.2f}", f"{row.AJ_checked / reference.AJ_checked:.2f}")
        lines.append(
            f"| {row.method} | {row.supervision or '-'} | {row.step} | {row.fit_s:.1f} | {row.fit_cpu_s:.1f} | "
            f"{100 * row.AJ_own:.1f} | "
            f"{100 * row.AJ_checked:.1f} | {100 * row.delta_avg_own:.1f} | {100 * row.OA_own:.1f} | "
            f"{100 * row.OA_checked:.1f} | {row.TC_own:.2f} | {ratios[0]} | {ratios[1]} | {row.videos} |"
        )
    return "\n".join(lines)


def format_sets(sets: pd.DataFrame) -> str:
    """Markdown of the flow-set figures, mean over seeds and videos per supervision."""
    means = sets.groupby("supervision", as_index=False)[
        ["trusted", "trusted_share", "hidden_share", "wrong_4px_share", "recall", "seconds"]].mean()
    lines = ["| flow set | trusted correspondences | share of pixels | hidden in frame j | EPE > 4 px | recall | "
             "seconds |", "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in means.itertuples():
        lines.append(f"| {row.supervision} | {row.trusted:,.0f} | {100 * row.trusted_share:.1f} % | "
                     f"{100 * row.hidden_share:.2f} % | {100 * row.wrong_4px_share:.2f} % | {100 * row.recall:.1f} % | "
                     f"{row.seconds:.1f} |")
    return "\n".join(lines)


PLOTTED = (("AJ_own", "AJ, own occlusion (%)"), ("AJ_checked", "AJ, appearance check (%)"),
           ("delta_avg_own", "delta_avg (%)"), ("OA_own", "OA, own occlusion (%)"),
           ("OA_checked", "OA, appearance check (%)"), ("TC_own", "TC (px)"))


def plot(means: pd.DataFrame, path: Path, title: str) -> None:
    """Each metric against fit seconds: one curve per supervision, DIS-C and DIS-D as horizontal lines (the TC
    panel is scaled to the curves and DIS-C)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 3, figsize=(14, 7.5), squeeze=False)
    for axis, (column, label) in zip(axes.ravel(), PLOTTED, strict=True):
        scale = 1.0 if column == "TC_own" else 100.0
        model = means[means["method"] == "omnimotion"]
        for supervision, curve in model.groupby("supervision"):
            axis.plot(curve["fit_s"], scale * curve[column], "o-", label=f"OmniMotion, {supervision}")
        for method, style in (("dis-c", "--"), ("dis-d", ":")):
            baseline = means[means["method"] == method]
            if len(baseline):
                axis.axhline(scale * baseline[column].iloc[0], color="grey", linestyle=style, label=method.upper())
        if column == "TC_own":  # DIS-D's TC (about 10 px) would flatten the curves
            shown = [model[column].max(), *means.loc[means["method"] == "dis-c", column]]
            axis.set_ylim(0.0, 1.2 * max(shown))
        axis.set_xlabel("fit wall time (s)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="synthetic dataset seeds")
    parser.add_argument("--videos", type=int, default=2, help="videos per seed")
    parser.add_argument("--frames", type=int, default=24, help="frames per synthetic video")
    parser.add_argument("--size", type=int, default=128, help="synthetic frame size in pixels (square)")
    parser.add_argument("--resolution", type=_size, default=(256, 256),
                        help="HEIGHTxWIDTH at which videos are processed and scored (the benchmark flow's default)")
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="model preset")
    parser.add_argument("--steps", type=int, help="fit steps (default: the preset's)")
    parser.add_argument("--eval-every", type=int, default=600, help="steps between evaluations")
    parser.add_argument("--dis-preset", default=DisConfig().preset, choices=get_args(DisPreset),
                        help="DIS preset of the chained flow set and of the DIS-C / DIS-D rows")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="override a field of the preset's model config, e.g. surface.match_weight=0 (repeatable)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--supervision", nargs="+", choices=SUPERVISIONS, default=list(SUPERVISIONS),
                        help="flow sets to fit on")
    parser.add_argument("--work-dir", type=Path, help="data root for the stores (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/supervision_ceiling"),
                        help="folder of the CSV, markdown and PNG")
    args = parser.parse_args(argv)
    if min(args.eval_every, args.videos, args.threads, args.frames - 1) < 1:
        parser.error("--eval-every, --videos and --threads must be >= 1 and --frames >= 2")
    args.supervision = list(dict.fromkeys(args.supervision))
    return args


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmark; return the per-row table (also written to ``--out``)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False
    config = override(FitConfig(preset=args.preset, num_steps=args.steps).model_config(), args.set)
    total_steps = len(args.seeds) * args.videos * len(args.supervision) * config.trainer.num_steps
    clock = Clock(total_steps=total_steps)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, set_rows = [], []
    with tempfile.TemporaryDirectory() as scratch:
        root = (args.work_dir or Path(scratch)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        count = len(args.seeds) * args.videos
        for seed_number, seed in enumerate(args.seeds):
            dataset, videos = write_dataset(root, seed, args)
            for index, synthetic in enumerate(videos):
                label = f"[{seed_number * args.videos + index + 1}/{count} seed {seed} {video_name(index)}]"
                video_rows, video_sets = run_video(dataset, synthetic, video_name(index), root, seed, args, config,
                                                   clock, label)
                rows += video_rows
                set_rows += video_sets
    per_row = pd.DataFrame(rows)
    sets = pd.DataFrame(set_rows)
    means = mean_table(per_row)
    per_row.to_csv(args.out / "supervision_ceiling.csv", index=False)
    sets.to_csv(args.out / "supervision_ceiling_sets.csv", index=False)
    title = (f"bench {args.frames} frames at {args.size} px, processed at {args.resolution[0]}x{args.resolution[1]}; "
             f"seeds {' '.join(map(str, args.seeds))} x {args.videos} videos; preset {args.preset}, "
             f"{config.trainer.num_steps} steps, {args.threads} thread(s), DIS {args.dis_preset}"
             + "".join(f", {assignment}" for assignment in args.set))
    text = (f"{title}; mean over videos (query_first, official frame rule; TC in px; ratios = mean AJ / DIS-C mean "
            f"AJ in the same occlusion mode)\n\n{format_table(means)}\n\n{format_sets(sets)}\n")
    (args.out / "supervision_ceiling.md").write_text(text, encoding="utf-8")
    plot(means, args.out / "supervision_ceiling.png", title)
    print(f"\n{text}\nwrote {args.out / 'supervision_ceiling.csv'}, .md, _sets.csv and .png", flush=True)
    return per_row


if __name__ == "__main__":
    main()
