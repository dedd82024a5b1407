"""The benchmark flow over a BADJA folder (tests/badja_folder.py): scored only where labelled, PCK-T where
masks exist, a subset with ``videos``, cached like a TAP-Vid pickle, logged to MLflow, and bad input
refused by the command line with one line."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
from mlflow import MlflowClient
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.benchmark import benchmark, list_benchmark_videos
from flows.cli import main
from flows.config import PipelineConfig
from flows.evaluate import evaluate
from omnimotion_core.appearance import AppearanceCheckConfig
from storage.errors import InputError
from tasks.config import EvaluationConfig
from tests import badja_folder
from tests.badja_folder import write_badja_folder

UNCHECKED = EvaluationConfig(resolution=badja_folder.SIZE, appearance_check=AppearanceCheckConfig(enabled=False))
"""At the frames' own size (36 x 64), each tracker's own occlusion flags."""


def test_lists_sequences_with_their_frames_and_selects_a_subset(tmp_path: Path) -> None:
    root = write_badja_folder(tmp_path / "badja", ("dog", "cat"))
    videos = list_benchmark_videos(root)
    assert [(video.name, video.tapvid_name, video.annotation) for video in videos] == [
        ("cat", None, str(root)), ("dog", None, str(root))]
    assert videos[1].source == str(root / "DAVIS" / "JPEGImages" / "480p" / "dog")
    assert [video.name for video in list_benchmark_videos(root, ["dog"])] == ["dog"]
    with pytest.raises(InputError, match=r"badja: no video 'fox'; it holds 2: cat, dog"):
        list_benchmark_videos(root, ["dog", "fox"])


def test_zero_motion_is_scored_on_labelled_frames_only(tmp_path: Path) -> None:
    root = write_badja_folder(tmp_path / "badja", ("dog", "cat"))
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED)
    state = benchmark(str(root), ["zero_motion"], config, return_state=True)
    result = state.result()
    assert result.failures == []
    records = {record["video"]: record for record in result.records}
    # Scored entries (after the query, labelled): joint 0 at 3, 5 (2 and 4 px off), joint 1 at 5 (0 px),
    # joint 3 at 3, 5 (0 px), joint 4 at 3, 5 (hidden, predicted visible): 7 entries, 5 truly visible.
    # OA 5/7; delta over d = 1, 2, 4, 8, 16: 3/5, 3/5, 4/5, 1, 1 -> 0.8; Jaccard 3/9, 3/9, 4/8, 5/7, 5/7.
    # PCK-T: frames with a mask (1, 3), threshold 2 px: joint 0 at 3 (2 px: a miss), joint 3 at 3 -> 1/2.
    dog = records["dog"]
    assert dog["occlusion_accuracy"] == pytest.approx(5 / 7)
    assert dog["average_pts_within_thresh"] == pytest.approx(0.8)
    assert dog["average_jaccard"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 5 / 7 + 5 / 7) / 5)
    assert dog["pck_t"] == pytest.approx(0.5)
    assert math.isnan(dog["temporal_coherence"])  # no three labelled frames in a row
    assert math.isnan(records["cat"]["pck_t"]) and records["cat"]["occlusion_accuracy"] == pytest.approx(5 / 7)

    table = result.table_markdown
    assert "| Method | badja AJ↑ | badja <δ_avg↑ | badja PCK-T↑ | badja OA↑ | badja TC↓ |" in table
    assert "| zero_motion | 51.9 | 80.0 | 50.0 | 71.4 | - |" in table  # PCK-T over the videos with masks
    runs = pd.read_csv(result.runs_path).set_index("video")
    assert runs.loc["dog", "PCK-T"] == pytest.approx(50.0) and math.isnan(runs.loc["cat", "PCK-T"])

    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.mlflow_run_id)
    assert parent.data.params["videos"] == "all"
    assert parent.data.metrics["zero_motion.badja.PCK-T"] == pytest.approx(50.0)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'")
    by_video = {run.data.tags["video"]: run for run in children}
    assert by_video["dog"].data.metrics["pck_t"] == pytest.approx(0.5)
    assert "pck_t" not in by_video["cat"].data.metrics  # NaN is not logged

    again = benchmark(str(root), ["zero_motion"], config, videos=["dog"], return_state=True)
    assert [record["video"] for record in again.result().records] == ["dog"]
    assert pd.Series(again.result().records[0]).equals(pd.Series(dog))  # NaN TC equal to NaN
    flow_run_id: UUID = again.state_details.flow_run_id
    with get_client(sync_client=True) as prefect:
        task_runs = prefect.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    states = Counter((run.name.rsplit("-", 1)[0], run.state.name) for run in task_runs)
    for stage in ("ingest_video", "track_points", "evaluate_tapvid", "render_visuals"):
        assert states[(stage, "Cached")] == 1, states

    # `omnimotion eval` scores the stored predictions again, here also on the frames before each query.
    rescored = evaluate(str(root), replace(config, evaluation=replace(UNCHECKED, frame_rule="all_but_query")))
    assert "badja PCK-T↑" in rescored and "| zero_motion |" in rescored


def test_the_command_line_refuses_a_broken_badja_folder_with_one_line(tmp_path: Path, capsys) -> None:
    root = write_badja_folder(tmp_path / "badja")
    entries = badja_folder.entries()
    entries[1]["joints"] = entries[1]["joints"][:4]
    annotation = root / "joint_annotations" / "dog.json"
    annotation.write_text(json.dumps(entries), encoding="utf-8")
    status = main(["benchmark", str(root), "--data-root", str(tmp_path / "data"), "--methods", "zero_motion"])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert error == [f"omnimotion benchmark: error: {annotation}: entry 1: 'joints' has 4 entries but 'visibility' 5"]


def test_max_frames_scores_the_labels_of_the_kept_frames(tmp_path: Path) -> None:
    root = write_badja_folder(tmp_path / "badja")
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=UNCHECKED, max_frames=4)
    result = benchmark(str(root), ["zero_motion"], config)
    assert result.failures == []
    # Frames 0-3: scored are joint 0 at 3 (visible, 2 px off), joint 3 at 3 (visible), joint 4 at 3
    # (hidden, predicted visible); joint 1 is queried at 3 and has no later frame.
    (record,) = result.records
    assert record["occlusion_accuracy"] == pytest.approx(2 / 3)
    assert record["pck_t"] == pytest.approx(0.5)
