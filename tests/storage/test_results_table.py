"""Tests of storage/results_table.py: summaries, the method x (dataset, metric) table, its files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from storage.errors import InputError
from storage.results_table import (
    build_results_table,
    read_results_table,
    render_results_table,
    summarize_video_metrics,
    write_results_table,
)


def _records() -> pd.DataFrame:
    """Two methods on DAVIS (two videos each), one of them also on Kinetics (one video)."""
    return pd.DataFrame(
        {
            "dataset": ["DAVIS", "DAVIS", "DAVIS", "DAVIS", "Kinetics"],
            "method": ["omnimotion", "raft", "omnimotion", "raft", "omnimotion"],
            "video": ["bear", "bear", "cows", "cows", "k001"],
            "average_jaccard": [0.50, 0.30, 0.60, 0.40, 0.70],
            "average_pts_within_thresh": [0.60, 0.40, 0.75, 0.50, 0.80],
            "occlusion_accuracy": [0.80, 0.70, 0.90, 0.80, 0.95],
            "temporal_coherence": [0.50, 1.00, np.nan, 2.00, 0.25],
        }
    )


def test_summary_is_batch_mean_and_skips_nan_temporal_coherence():
    summary = summarize_video_metrics(
        {
            "average_jaccard": np.array([0.2, 0.4, 0.9]),
            "occlusion_accuracy": np.array([1.0, 0.5, 0.0]),
            "temporal_coherence": np.array([1.0, np.nan, 2.0]),
        }
    )
    assert summary["average_jaccard"] == pytest.approx(0.5)
    assert summary["occlusion_accuracy"] == pytest.approx(0.5)
    assert summary["temporal_coherence"] == pytest.approx(1.5)  # (1 + 2) / 2, the NaN video skipped


def test_summary_temporal_coherence_is_nan_when_no_video_has_one():
    summary = summarize_video_metrics({"temporal_coherence": np.array([np.nan, np.nan])})
    assert math.isnan(summary["temporal_coherence"])


def test_summary_rejects_non_vector_metrics():
    with pytest.raises(InputError, match=r"metrics\['average_jaccard'\] .* got shape \(2, 2\)"):
        summarize_video_metrics({"average_jaccard": np.zeros((2, 2))})


def test_table_holds_percent_means_per_method_and_dataset():
    table = build_results_table(_records())
    assert list(table.index) == ["omnimotion", "raft"]  # order of first appearance
    assert list(table.columns.get_level_values(0).unique()) == ["DAVIS", "Kinetics"]
    assert list(table.columns.names) == ["dataset", "metric"]
    # DAVIS, omnimotion: AJ (0.5 + 0.6) / 2 = 55 %, delta_avg (0.6 + 0.75) / 2 = 67.5 %, OA 85 %,
    # TC 0.5 (the NaN video is skipped).
    assert table.loc["omnimotion", ("DAVIS", "AJ")] == pytest.approx(55.0)
    assert table.loc["omnimotion", ("DAVIS", "delta_avg")] == pytest.approx(67.5)
    assert table.loc["omnimotion", ("DAVIS", "OA")] == pytest.approx(85.0)
    assert table.loc["omnimotion", ("DAVIS", "TC")] == pytest.approx(0.5)
    # DAVIS, raft: AJ 35 %, delta_avg 45 %, OA 75 %, TC (1 + 2) / 2 = 1.5 px.
    assert table.loc["raft", ("DAVIS", "AJ")] == pytest.approx(35.0)
    assert table.loc["raft", ("DAVIS", "delta_avg")] == pytest.approx(45.0)
    assert table.loc["raft", ("DAVIS", "OA")] == pytest.approx(75.0)
    assert table.loc["raft", ("DAVIS", "TC")] == pytest.approx(1.5)
    assert table.loc["omnimotion", ("Kinetics", "AJ")] == pytest.approx(70.0)
    assert table.loc["raft", "Kinetics"].isna().all()  # raft has no Kinetics video


def test_nan_aj_video_makes_the_cell_nan():
    records = _records()
    records.loc[0, "average_jaccard"] = np.nan
    table = build_results_table(records)
    assert math.isnan(table.loc["omnimotion", ("DAVIS", "AJ")])
    assert table.loc["raft", ("DAVIS", "AJ")] == pytest.approx(35.0)


def test_records_csv_round_trip_gives_same_table(tmp_path):
    path = tmp_path / "records.csv"
    _records().to_csv(path, index=False)
    table = build_results_table(pd.read_csv(path))
    pd.testing.assert_frame_equal(table, build_results_table(_records()))
    assert table.loc["omnimotion", ("DAVIS", "delta_avg")] == pytest.approx(67.5)


def test_written_csv_reads_back_as_the_same_table(tmp_path):
    table = build_results_table(_records())
    csv_path, markdown_path = write_results_table(table, tmp_path / "results" / "run1", "tapvid")
    assert csv_path == tmp_path / "results" / "run1" / "results.csv"
    assert markdown_path.name == "results.md"
    pd.testing.assert_frame_equal(read_results_table(csv_path), table)
    assert markdown_path.read_text(encoding="utf-8") == render_results_table(table, "tapvid")
    assert sorted(path.name for path in csv_path.parent.iterdir()) == ["results.csv", "results.md"]


def test_rewriting_replaces_the_files(tmp_path):
    table = build_results_table(_records())
    write_results_table(table, tmp_path, "tapvid")
    csv_path, markdown_path = write_results_table(table.iloc[:1], tmp_path, "all_but_query")
    assert list(read_results_table(csv_path).index) == ["omnimotion"]
    assert markdown_path.read_text(encoding="utf-8").startswith("Frames scored: all_but_query")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.csv", "results.md"]


def test_markdown_of_a_small_table():
    metrics = ["AJ", "delta_avg", "OA", "TC"]
    columns = pd.MultiIndex.from_product([["DAVIS"], metrics], names=["dataset", "metric"])
    table = pd.DataFrame(
        [[51.74, 67.46, 85.31, 0.744], [30.66, 46.6, 80.2, np.nan]],
        index=pd.Index(["Ours", "RAFT-C"], name="method"),
        columns=columns,
    )
    lines = render_results_table(table, "all_but_query").splitlines()
    assert lines == [
        "Frames scored: all_but_query = OmniMotion paper (every frame except the query frame, "
        "also for first-frame queries). TC in pixels at 256x256.",
        "",
        "| Method | DAVIS AJ↑ | DAVIS <δ_avg↑ | DAVIS OA↑ | DAVIS TC↓ |",
        "| :--- | ---: | ---: | ---: | ---: |",
        "| Ours | 51.7 | 67.5 | 85.3 | 0.74 |",
        "| RAFT-C | 30.7 | 46.6 | 80.2 | - |",
    ]


def test_markdown_first_line_names_the_tapvid_rule():
    first_line = render_results_table(build_results_table(_records()), "tapvid").splitlines()[0]
    assert first_line == (
        "Frames scored: tapvid = official TAP-Vid (query frame excluded; first-frame queries scored on "
        "later frames). TC in pixels at 256x256."
    )


def test_render_rejects_unknown_frame_rule():
    with pytest.raises(ValueError, match="frame_rule must be 'tapvid' or 'all_but_query', got 'paper'"):
        render_results_table(build_results_table(_records()), "paper")


def test_rejects_records_without_metric_columns():
    with pytest.raises(InputError, match=r"lack the columns \['temporal_coherence'\]"):
        build_results_table(_records().drop(columns="temporal_coherence"))


def test_rejects_repeated_video_rows():
    records = pd.concat([_records(), _records().iloc[[1]]], ignore_index=True)
    message = r"repeated \(dataset, method, video\), e.g. \('DAVIS', 'raft', 'bear'\)"
    with pytest.raises(InputError, match=message):
        build_results_table(records)


def test_rejects_table_without_dataset_metric_columns():
    with pytest.raises(InputError, match="must be a \\(dataset, metric\\) MultiIndex"):
        render_results_table(pd.DataFrame({"AJ": [1.0]}), "tapvid")


def _records_with_pck_t() -> pd.DataFrame:
    """The records above plus BADJA: two methods on bear (no masks: PCK-T NaN) and camel."""
    badja = pd.DataFrame(
        {
            "dataset": ["badja"] * 4,
            "method": ["omnimotion", "raft", "omnimotion", "raft"],
            "video": ["bear", "bear", "camel", "camel"],
            "average_jaccard": [0.2, 0.1, 0.4, 0.3],
            "average_pts_within_thresh": [0.3, 0.2, 0.5, 0.4],
            "occlusion_accuracy": [0.9, 0.8, 0.7, 0.6],
            "temporal_coherence": [np.nan] * 4,
            "pck_t": [np.nan, np.nan, 0.75, 0.5],
        }
    )
    return pd.concat([_records(), badja], ignore_index=True)


def test_pck_t_column_only_for_datasets_with_masks():
    table = build_results_table(_records_with_pck_t())
    assert [metric for dataset, metric in table.columns if dataset == "DAVIS"] == ["AJ", "delta_avg", "OA", "TC"]
    assert [metric for dataset, metric in table.columns if dataset == "badja"] == ["AJ", "delta_avg", "PCK-T", "OA", "TC"]
    assert table.loc["omnimotion", ("badja", "PCK-T")] == pytest.approx(75.0)  # bear (no masks) skipped
    assert table.loc["raft", ("badja", "PCK-T")] == pytest.approx(50.0)
    assert table.loc["omnimotion", ("badja", "AJ")] == pytest.approx(30.0)
    assert table.loc["omnimotion", ("DAVIS", "AJ")] == pytest.approx(55.0)  # TAP-Vid cells unchanged
    assert math.isnan(table.loc["omnimotion", ("badja", "TC")])
    markdown = render_results_table(table, "tapvid")
    assert "| Method | DAVIS AJ↑ | DAVIS <δ_avg↑ | DAVIS OA↑ | DAVIS TC↓ | Kinetics AJ↑" in markdown
    assert "badja <δ_avg↑ | badja PCK-T↑ | badja OA↑ | badja TC↓ |" in markdown
    assert "PCK-T (BADJA): labelled visible joints within 0.2 x sqrt(object mask area)" in markdown.splitlines()[0]
    assert "| omnimotion | 55.0 |" in markdown and "| 30.0 | 40.0 | 75.0 | 80.0 | - |" in markdown


def test_table_with_pck_t_reads_back(tmp_path):
    table = build_results_table(_records_with_pck_t())
    csv_path, _ = write_results_table(table, tmp_path, "tapvid")
    pd.testing.assert_frame_equal(read_results_table(csv_path), table, check_names=False)


def test_no_pck_t_column_when_no_video_has_masks():
    records = _records_with_pck_t()
    records = records[records["video"] != "camel"]
    table = build_results_table(records)
    assert "PCK-T" not in table.columns.get_level_values(1)
    assert "PCK-T" not in render_results_table(table, "tapvid")
