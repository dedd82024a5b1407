"""The ``evaluate`` flow: score every stored prediction of a dataset's videos again (e.g. under the other
frame convention), without recomputing any track."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from flows.config import PipelineConfig
from storage import layout
from storage.ground_truth import list_ground_truth_videos
from storage.prediction_store import list_predictions, read_predictions
from storage.results_table import (
    build_results_table,
    render_results_table,
    write_results_table,
)
from tasks.caching import cached
from tasks.evaluate import evaluate_tapvid


def _evaluate(dataset: str, config: PipelineConfig = PipelineConfig()) -> str:
    """Score the predictions stored for ``dataset`` (a TAP-Vid pickle or a BADJA folder; made with this
    config's query mode, resolution and appearance check) under ``config.evaluation.frame_rule``; write
    ``results-<frame_rule>.{csv,md}`` and return the table."""
    dataset_path = Path(dataset).resolve()
    dataset_name = layout.source_name(dataset_path)
    records = []
    score = cached(evaluate_tapvid, config.data_root)
    wanted = {"appearance_check": None, **config.evaluation.prediction_params()}
    for name in list_ground_truth_videos(dataset_path):
        group = layout.video_path(config.data_root, layout.video_id_from_name(f"{dataset_name}-{name}"))
        for path in list_predictions(group):
            params = read_predictions(path).params
            if all(params.get(key) == value for key, value in wanted.items()):
                records.append(score(str(path), str(dataset_path), name, config.evaluation))
    if not records:
        raise ValueError(
            f"no stored predictions of {dataset_path.name} under {config.data_root} for query mode "
            f"{wanted['query_mode']} at {wanted['resolution']} with appearance check "
            f"{wanted['appearance_check']}; run `omnimotion benchmark` first"
        )
    table = build_results_table(pd.DataFrame.from_records(records))
    frame_rule = config.evaluation.frame_rule
    folder = layout.results_dir(config.data_root, dataset_name) / f"frames-{frame_rule}"
    csv_path, _ = write_results_table(table, folder, frame_rule)
    get_run_logger().info("evaluate: %d results, table at %s", len(records), csv_path)
    return render_results_table(table, frame_rule)


evaluate = flow(_evaluate, name="evaluate")
