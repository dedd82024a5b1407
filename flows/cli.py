"""The ``omnimotion`` command line: the one place that reads argv and the environment."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from omnimotion_core.appearance import AppearanceCheckConfig
from omnimotion_core.flow import FlowConfig
from omnimotion_core.flow.chaining import ChainingConfig, ChainingRule
from omnimotion_core.flow.engines import DisConfig, DisPreset
from omnimotion_core.flow.pairs import PairMode
from omnimotion_core.flow.raft import RaftVariant
from omnimotion_core.methods import METHODS, FlowEngineMethod, format_methods, run_methods
from omnimotion_core.metrics import FrameRule, QueryMode
from omnimotion_core.model import PRESETS
from omnimotion_core.synthetic.config import SYNTHETIC_PRESETS
from storage.errors import StorageError
from tasks.config import DenseExportConfig, EvaluationConfig, FitConfig, FitDevice

if TYPE_CHECKING:
    from flows.process_video import FitResult

DATA_ROOT_ENV = "OMNIMOTION_DATA_ROOT"
DEMO_METHODS = ("zero_motion", "dis-c", "dis-d", "omnimotion")
UI_PORT = 5000
UI_URL = f"http://127.0.0.1:{UI_PORT}"
"""Where ``omnimotion ui`` serves MLflow's UI by default."""


def _data_root(value: str | None) -> Path:
    if value:
        return Path(value).resolve()
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).resolve()
    from storage.layout import default_data_root

    return default_data_root()


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x256, got {text!r}") from None
    return height, width


def _quiet_services() -> None:
    """Keep third-party telemetry and chatter off; no setting the user made is overridden."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _cmd_synth(args: argparse.Namespace) -> int:
    from omnimotion_core.synthetic import (
        generate_tapvid_dataset,
        resize_synthetic_preset,
    )
    from storage.tapvid import write_tapvid_davis_pickle

    height, width = args.size if args.size else (None, None)
    config = resize_synthetic_preset(
        args.preset, num_frames=args.frames, height=height, width=width, num_videos=args.videos
    )
    started = time.perf_counter()
    videos = generate_tapvid_dataset(config, seed=args.seed)
    write_tapvid_davis_pickle(Path(args.out), videos)
    print(f"wrote {len(videos)} videos ({args.preset} preset, seed {args.seed}) to {args.out} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from storage.layout import video_id_from_name
    from storage.video_sources import open_video_source
    from storage.video_store import IngestConfig, ingest, open_video

    source_path = Path(args.source)
    name = args.name or args.tapvid_video or source_path.stem
    config = IngestConfig(size=args.size, max_side=args.max_side, stride=args.stride, max_frames=args.max_frames)
    path = ingest(open_video_source(source_path, args.tapvid_video), _data_root(args.data_root),
                  video_id_from_name(name), config)
    group = open_video(path)
    print(f"{path}: {group.num_frames} frames of {group.size[1]}x{group.size[0]}")
    return 0


def _evaluation_config(args: argparse.Namespace) -> EvaluationConfig:
    """The query, scoring and appearance-check settings given on the command line."""
    check = AppearanceCheckConfig(enabled=not args.no_appearance_check, radius=args.appearance_radius,
                                  threshold=args.appearance_threshold)
    return EvaluationConfig(query_mode=args.query_mode, frame_rule=args.frame_rule, resolution=args.size,
                            appearance_check=check)


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from flows.benchmark import benchmark
    from flows.config import PipelineConfig
    from flows.runners import make_task_runner, resolve_runner_config
    from omnimotion_core.flow import FlowEngineConfig, RaftEngineConfig
    from tasks.tracking import experiment_of_run, ui_page

    config = PipelineConfig(
        data_root=_data_root(args.data_root),
        evaluation=_evaluation_config(args),
        flow=FlowConfig(engine=FlowEngineConfig(raft=RaftEngineConfig(
            weights=str(Path(args.raft_weights).resolve()) if args.raft_weights else None,
            device=args.device,
        )), chaining=ChainingConfig(rule=args.chaining)),
        fit=_fit_config(args),
        max_frames=args.max_frames,
    )
    runner = make_task_runner(resolve_runner_config(args.dask_address, args.workers))
    result = benchmark.with_options(task_runner=runner)(
        dataset=str(Path(args.dataset).resolve()), methods=list(args.methods), config=config, videos=args.videos
    )
    print(result.table_markdown)
    for video, method, message in result.failures:
        print(f"FAILED {video} / {method}: {message}", file=sys.stderr)
    if result.csv_path is not None:
        print(f"\nresults: {result.csv_path}\n         {result.markdown_path}")
    if result.runs_path is not None:
        print(f"runs:    {result.runs_path}")
    page = ui_page(UI_URL, experiment_of_run(result.tracking_uri, result.mlflow_run_id))
    print(f"MLflow:  run {result.mlflow_run_id} in {result.tracking_uri}\n"
          f"         browse it with: omnimotion ui --data-root {config.data_root}, then open {page}")
    return 1 if result.failures else 0


def _flow_config(args: argparse.Namespace) -> FlowConfig:
    """The flow settings given on the command line."""
    from omnimotion_core.flow import (
        FlowEngineConfig,
        PairSelectionConfig,
        RaftEngineConfig,
    )

    return FlowConfig(
        engine=FlowEngineConfig(
            engine=args.engine,
            dis=DisConfig(preset=args.dis_preset),
            raft=RaftEngineConfig(
                variant=args.raft_variant,
                weights=str(Path(args.raft_weights).resolve()) if args.raft_weights else None,
                device=args.device,
            ),
        ),
        pairs=PairSelectionConfig(mode=args.pairs),
        chaining=ChainingConfig(enabled=not args.no_chaining, rule=args.chaining),
        chunk_pairs=args.chunk_pairs,
    )


def _fit_config(args: argparse.Namespace) -> FitConfig:
    """The fitting settings given on the command line; a progress bar when stderr is a terminal."""
    resources = None
    if args.fit_resources:
        name, _, amount = args.fit_resources.partition("=")
        resources = {name: float(amount or 1)}
    return FitConfig(preset=args.preset, num_steps=args.steps, seed=args.seed, device=args.fit_device,
                     cpu_threads=args.cpu_threads, dask_resources=resources, progress_bar=sys.stderr.isatty())


def _dense_config(args: argparse.Namespace) -> DenseExportConfig:
    """Which pixels are tracked densely after a fit, as given on the command line."""
    return DenseExportConfig(query_frame=args.dense_frame, stride=args.dense_stride)


def _cmd_process(args: argparse.Namespace) -> int:
    from flows.config import PipelineConfig
    from flows.process_video import compute_flows, process_video
    from flows.runners import make_task_runner, resolve_runner_config
    from tasks.flow import import_external_tracks

    runner = make_task_runner(resolve_runner_config(args.dask_address, args.workers))
    source = Path(args.source).resolve()
    if (source / "zarr.json").is_file():
        if args.external_tracks:
            flow_set = import_external_tracks(str(source), str(Path(args.external_tracks).resolve()), args.external_video)
        else:
            flow_set = compute_flows.with_options(task_runner=runner)(str(source), _flow_config(args))
        print(f"flow set: {flow_set}")
        return 0
    config = PipelineConfig(
        data_root=_data_root(args.data_root),
        evaluation=EvaluationConfig(resolution=args.size),
        flow=_flow_config(args),
        fit=_fit_config(args),
        dense=_dense_config(args),
        max_frames=args.max_frames,
    )
    result = process_video.with_options(task_runner=runner)(
        source=str(source), config=config, tapvid_name=args.tapvid_video,
        external_tracks=str(Path(args.external_tracks).resolve()) if args.external_tracks else None,
        external_video=args.external_video, fit=not args.no_fit,
    )
    print(f"video group: {result.video_group}\nflow set:    {result.flow_set}")
    if result.fit is not None:
        _print_fit(result.fit, result.video_group)
    return 0


def _print_fit(result: FitResult, video_group: str) -> None:
    """Where a fit's outputs are: the fit folder, its dense tracks, pictures and MLflow run."""
    labels = {"-tracks.mp4": "overlay:    ", "-depth.png": "depth:      ", "-loss.png": "loss curve: "}
    print(f"fit:         {result.fit_dir} (checkpoints/, depth, dense/)\n"
          f"dense:       {result.dense}; --dense-stride 1 tracks every pixel")
    for path in result.pictures:
        print(" ".join(label for suffix, label in labels.items() if path.endswith(suffix)), path)
    from storage.layout import data_root_of
    from tasks.tracking import ui_page

    page = ui_page(UI_URL, result.mlflow_experiment_id, result.mlflow_run_id)
    print(f"MLflow:      run {result.mlflow_run_id} in {result.tracking_uri}\n"
          f"             browse it: omnimotion ui --data-root {data_root_of(Path(video_group))}, then open {page}\n"
          f"explore:     omnimotion view {video_group}")


def _cmd_fit(args: argparse.Namespace) -> int:
    from flows.config import PipelineConfig
    from flows.process_video import fit_video
    from flows.runners import make_task_runner, resolve_runner_config
    from storage.flow_store import fittable_flow_sets, flow_set_path
    from storage.layout import data_root_of
    from storage.video_store import open_video
    from tasks.flow import derived_flow_set

    group = open_video(Path(args.video_group).resolve())
    if args.chaining is not None:
        flow_set = derived_flow_set(group.path, ChainingConfig(rule=args.chaining), args.flow_set)
    else:
        names = fittable_flow_sets(group.path)
        if args.flow_set is None and len(names) != 1:
            raise ValueError(
                f"{group.path}: {len(names)} flow sets to fit on ({', '.join(names) or 'none'}); "
                + ("compute one with: omnimotion flow " + str(group.path) if not names else
                   "choose one with --flow-set or --chaining")
            )
        flow_set = flow_set_path(group.path, args.flow_set or names[0])
    runner = make_task_runner(resolve_runner_config(args.dask_address, args.workers))
    config = PipelineConfig(data_root=data_root_of(group.path), fit=_fit_config(args), dense=_dense_config(args))
    result = fit_video.with_options(task_runner=runner)(str(group.path), str(flow_set), config)
    _print_fit(result, str(group.path))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from flows.config import PipelineConfig
    from flows.evaluate import evaluate

    config = PipelineConfig(data_root=_data_root(args.data_root), evaluation=_evaluation_config(args))
    print(evaluate(str(Path(args.dataset).resolve()), config))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    data_root = _data_root(args.data_root)
    name = f"synthetic-demo-{args.videos}v-{args.frames}f-{args.size}px-seed{args.seed}"
    dataset = data_root / "datasets" / f"{name}.pkl"
    if not dataset.exists():
        _cmd_synth(argparse.Namespace(preset="bench", frames=args.frames, size=(args.size, args.size),
                                      videos=args.videos, seed=args.seed, out=str(dataset)))
    steps = args.steps or PRESETS["fast"].trainer.num_steps
    print(f"Methods: {', '.join(DEMO_METHODS)}; omnimotion fits the fast preset for {steps} steps "
          "(benchmarks/RESULTS.md has the figures on more videos).")
    return _cmd_benchmark(argparse.Namespace(
        data_root=str(data_root), dataset=str(dataset), methods=list(DEMO_METHODS),
        query_mode="first", frame_rule="tapvid", size=EvaluationConfig().resolution, videos=None, max_frames=None,
        dask_address=None, workers=None, chaining=ChainingConfig().rule,
        raft_weights=None, device="cpu", preset="fast", steps=args.steps, seed=None, fit_device="auto",
        cpu_threads=1, fit_resources=None, no_appearance_check=False,
        appearance_radius=AppearanceCheckConfig().radius, appearance_threshold=AppearanceCheckConfig().threshold,
    ))


def _cmd_methods(args: argparse.Namespace) -> int:
    print(format_methods())
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from flows.processes import run_until_signalled
    from storage.layout import mlflow_tracking_uri
    from tasks.tracking import UI_MODEL_TRAINING

    data_root = _data_root(args.data_root)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or mlflow_tracking_uri(data_root)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port)]
    print(f"MLflow UI for {uri} on http://{args.host}:{args.port}/#/experiments?{UI_MODEL_TRAINING} (the runs; "
          "Ctrl-C or SIGTERM stops it and its workers)", flush=True)
    return run_until_signalled(command)


def _cmd_view(args: argparse.Namespace) -> int:
    from flows.explorer.app import run_view
    from flows.explorer.loading import LoadConfig
    from flows.explorer.server import ServerConfig
    from storage.layout import mlflow_tracking_uri

    data_root = _data_root(args.data_root)
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or mlflow_tracking_uri(data_root)
    return run_view(Path(args.target).resolve() if args.target else None, args.video, args.mlflow_run, uri,
                    data_root, LoadConfig(device=args.device), ServerConfig(host=args.host, port=args.port))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``omnimotion`` (subcommands synth, ingest, process, flow, fit, benchmark, eval, demo,
    methods, ui, view)."""
    parser = argparse.ArgumentParser(prog="omnimotion", description=__doc__)
    parser.set_defaults(uses_prefect=False)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_root(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--data-root", help=f"data folder (default: ${DATA_ROOT_ENV} or ./data)")
        return sub

    def with_chaining_option(sub: argparse.ArgumentParser, default: str | None = ChainingConfig().rule) -> None:
        sub.add_argument("--chaining", default=default, choices=get_args(ChainingRule),
                         help="how the fit's long-gap correspondences are derived from the direct flows: consecutive "
                         "(chain neighbouring frames, re-anchor on trusted direct flow) or mft (multi-gap chaining, "
                         f"as the <engine>-mft trackers); default {default}")

    def with_fit_options(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--preset", default="fast", choices=tuple(sorted(PRESETS)), help="model preset")
        sub.add_argument("--steps", type=int, help="fitting steps (default: the preset's)")
        sub.add_argument("--seed", type=int, help="fitting seed (default: the preset's)")
        sub.add_argument("--fit-device", default="auto", choices=get_args(FitDevice))
        sub.add_argument("--cpu-threads", type=int, help="torch threads per fit on CPU")
        sub.add_argument("--fit-resources", help="Dask resource a fit needs on a cluster, e.g. GPU=1")
        return sub

    def with_dense_options(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        dense = DenseExportConfig()
        sub.add_argument("--dense-stride", type=int, default=dense.stride, metavar="N",
                         help=f"after the fit, track every N-th pixel of every N-th row of the query frame (default "
                         f"{dense.stride}: a 32x32 grid of a 128x128 video); 1 tracks every pixel")
        sub.add_argument("--dense-frame", type=int, default=dense.query_frame, metavar="T",
                         help=f"the query frame of the dense tracks (default {dense.query_frame})")
        return sub

    synth = commands.add_parser("synth", help="generate a synthetic TAP-Vid-DAVIS-format pickle")
    synth.add_argument("out", help="output .pkl path")
    synth.add_argument("--preset", default="bench", choices=tuple(SYNTHETIC_PRESETS))
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--frames", type=int, help="override the preset's frames per video")
    synth.add_argument("--size", type=_size, help="override the preset's HEIGHTxWIDTH")
    synth.add_argument("--videos", type=int, help="override the preset's number of videos")
    synth.set_defaults(run=_cmd_synth)

    ingest = with_root(commands.add_parser("ingest", help="ingest a video, image folder or TAP-Vid video"))
    ingest.add_argument("source", help="video file, folder of images, or TAP-Vid pickle")
    ingest.add_argument("--tapvid-video", help="name of the video inside a TAP-Vid pickle")
    ingest.add_argument("--name", help="store key (default: the file/folder name)")
    resize = ingest.add_mutually_exclusive_group()
    resize.add_argument("--size", type=_size, help="fixed HEIGHTxWIDTH, e.g. 256x256")
    resize.add_argument("--max-side", type=int, help="keep aspect; longer side at most this")
    ingest.add_argument("--stride", type=int, default=1)
    ingest.add_argument("--max-frames", type=int)
    ingest.set_defaults(run=_cmd_ingest)

    def with_evaluation_options(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--size", type=_size, default=EvaluationConfig().resolution, metavar="HxW",
                         help="HEIGHTxWIDTH at which videos are processed and scored (default 256x256, as "
                         "TAP-Vid; also for a BADJA folder, whose PCK-T is measured in source pixels)")
        sub.add_argument("--query-mode", default="first", choices=get_args(QueryMode))
        sub.add_argument("--frame-rule", default="tapvid", choices=get_args(FrameRule))
        check = AppearanceCheckConfig()
        sub.add_argument("--no-appearance-check", action="store_true", help="keep each tracker's own occlusion "
                         "(default: also mark a point occluded where its patch no longer looks like its query patch)")
        sub.add_argument("--appearance-radius", type=int, default=check.radius,
                         help=f"patch half-size in pixels of the appearance check (default {check.radius})")
        sub.add_argument("--appearance-threshold", type=float, default=check.threshold,
                         help=f"mean absolute colour difference (0-1) above which a point is hidden (default {check.threshold})")
        return sub

    bench = with_root(commands.add_parser(
        "benchmark", help="track and score every video of a TAP-Vid pickle or of a folder of videos"))
    bench.add_argument("dataset", help="TAP-Vid pickle (DAVIS, Kinetics or RGB-Stacking format), a BADJA folder "
                       "(joint_annotations/ + DAVIS/), or a folder of video files and image folders; a video NAME "
                       "there is scored when NAME.tapvid.pkl (a TAP-Vid DAVIS-format pickle with the entry NAME) "
                       "lies beside it")
    bench.add_argument("--videos", nargs="+", metavar="NAME", help="only these videos of the dataset (default: all)")
    bench.add_argument("--methods", nargs="+", default=["zero_motion"], metavar="METHOD", choices=run_methods(),
                       help=f"any of: {', '.join(run_methods())} (omnimotion methods describes each)")
    with_fit_options(bench)
    with_chaining_option(bench)
    bench.add_argument("--raft-weights", help="local torchvision RAFT checkpoint (for raft-c / raft-d)")
    bench.add_argument("--device", default="cpu", help="torch device for RAFT, e.g. cuda")
    with_evaluation_options(bench)
    bench.add_argument("--max-frames", type=int)
    bench.add_argument("--dask-address", help="tcp://host:8786 of a running Dask scheduler "
                       "(default: $OMNIMOTION_DASK_ADDRESS, else a local cluster)")
    bench.add_argument("--workers", type=int, help="threads of the local Dask cluster (default: CPU count)")
    bench.set_defaults(run=_cmd_benchmark, uses_prefect=True)

    def with_flow_options(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--engine", default="dis", choices=METHODS.names(FlowEngineMethod),
                         help="; ".join(f"{method.name}: {method.description}"
                                        for method in METHODS.methods(FlowEngineMethod)))
        sub.add_argument("--dis-preset", default=DisConfig().preset, choices=get_args(DisPreset))
        sub.add_argument("--raft-weights", help="local torchvision RAFT checkpoint (engine raft)")
        sub.add_argument("--raft-variant", default="large", choices=get_args(RaftVariant))
        sub.add_argument("--device", default="cpu", help="torch device for RAFT, e.g. cuda")
        sub.add_argument("--pairs", default="auto", choices=get_args(PairMode),
                         help="auto: all ordered pairs up to 64 frames, else a window plus long-range pairs")
        sub.add_argument("--chunk-pairs", type=int, default=16, help="pairs per task")
        sub.add_argument("--no-chaining", action="store_true", help="fit on the direct flow only (default: "
                         "also chain flows into long-gap correspondences)")
        with_chaining_option(sub)
        sub.add_argument("--external-tracks", help="another tracker's tracks (.npz / .pkl) to use as sparse "
                         "correspondences instead of computing flow (the paper's 'Ours (TAP-Net)')")
        sub.add_argument("--external-video", help="the video's key in an --external-tracks pickle of several videos")
        sub.add_argument("--dask-address", help="tcp://host:8786 of a running Dask scheduler")
        sub.add_argument("--workers", type=int, help="threads of the local Dask cluster")
        return sub

    fit = with_dense_options(with_fit_options(with_root(commands.add_parser(
        "fit", help="fit the model to a video group's flow set (a killed fit resumes), export dense tracks, draw "
        "the pictures and log an MLflow run"))))
    fit.add_argument("video_group", help="a .zarr video group with a flow set")
    fit.add_argument("--flow-set", help="flow set name (default: the only one that no chained set was "
                     "derived from)")
    with_chaining_option(fit, default=None)
    fit.add_argument("--dask-address", help="tcp://host:8786 of a running Dask scheduler")
    fit.add_argument("--workers", type=int, help="threads of the local Dask cluster")
    fit.set_defaults(run=_cmd_fit, uses_prefect=True)

    for name, help_text in (
        ("process", "one video end to end: ingest, pairwise flow, fit, dense tracks, pictures and an MLflow run"),
        ("flow", "pairwise flow of a video (ingested first) or of an existing .zarr video group"),
    ):
        sub = with_flow_options(with_root(commands.add_parser(name, help=help_text)))
        if name == "process":
            with_dense_options(with_fit_options(sub)).add_argument("--no-fit", action="store_true",
                                                                   help="stop after the flow set")
        sub.add_argument("source", help="video file, folder of images, TAP-Vid pickle"
                         + (", or a .zarr group" if name == "flow" else ""))
        sub.add_argument("--tapvid-video", help="name of the video inside a TAP-Vid pickle")
        sub.add_argument("--size", type=_size, default=(256, 256), help="HEIGHTxWIDTH (default 256x256)")
        sub.add_argument("--max-frames", type=int)
        sub.set_defaults(run=_cmd_process, uses_prefect=True)

    evaluate = with_root(commands.add_parser("eval", help="score the stored predictions of a dataset again"))
    evaluate.add_argument("dataset", help="the TAP-Vid pickle or BADJA folder the predictions were made for")
    with_evaluation_options(evaluate)
    evaluate.set_defaults(run=_cmd_eval, uses_prefect=True)

    demo = with_root(commands.add_parser(
        "demo", help="generate a small synthetic dataset, run every stage on it, print the table"))
    demo.add_argument("--videos", type=int, default=2)
    demo.add_argument("--frames", type=int, default=24)
    demo.add_argument("--size", type=int, default=128, help="synthetic frame size (processed at 256x256)")
    demo.add_argument("--steps", type=int, help="fitting steps of omnimotion (default: the fast preset's)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_cmd_demo, uses_prefect=True)

    methods = commands.add_parser("methods", help="list every registered method: flow engines, trackers, model "
                                  "methods (plugins included)")
    methods.set_defaults(run=_cmd_methods)

    ui = with_root(commands.add_parser("ui", help="start the MLflow UI on the run store"))
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    ui.add_argument("--port", type=int, default=UI_PORT)
    ui.set_defaults(run=_cmd_ui)

    view = with_root(commands.add_parser(
        "view", help="explore a fitted video in the browser: click a pixel, see its track through every frame"))
    view.add_argument("target", nargs="?", help="a video group with a finished fit (<root>/videos/NAME.zarr) or a "
                      "benchmark's results folder (<root>/results/DATASET)")
    view.add_argument("--video", help="the video of a results folder to show (default: the first of its run table)")
    view.add_argument("--mlflow-run", metavar="RUN_ID", help="instead of TARGET: a benchmark's per-video MLflow run "
                      "(its logged model; the video group from --data-root)")
    view.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the data "
                      "root's mlflow.db)")
    view.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    view.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    view.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="torch device of the models")
    view.set_defaults(run=_cmd_view)
    return parser


def _prefect_api(args: argparse.Namespace) -> AbstractContextManager[object]:
    """For a command that runs flows, the Prefect API they use (see :func:`flows.prefect_server.prefect_api`:
    ``PREFECT_API_URL``, else a temporary local server that ends with the command); nothing for the others."""
    if not args.uses_prefect:
        return nullcontext()
    from prefect.settings import PREFECT_HOME

    from flows.prefect_server import prefect_api
    from storage.process_records import server_records_dir

    return prefect_api(server_records_dir(Path(PREFECT_HOME.value())))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``omnimotion`` command line; exit status 2 on bad input, 1 when the system refuses (a full
    disk, a read-only folder), with the reason printed on one line."""
    args = build_parser().parse_args(argv)
    _quiet_services()
    try:
        with _prefect_api(args):
            return args.run(args)
    except (StorageError, ValueError) as error:
        print(f"omnimotion {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"omnimotion {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
