"""The omnimotion command line."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from flows.cli import main
from storage.tapvid import list_tapvid_videos, load_tapvid_sample
from storage.video_store import open_video


def test_synth_writes_a_reproducible_tapvid_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.pkl", tmp_path / "b.pkl"
    for out in (first, second):
        assert main(["synth", str(out), "--preset", "small", "--seed", "3", "--frames", "10", "--size", "48x40"]) == 0
    assert "wrote 2 videos (small preset, seed 3)" in capsys.readouterr().out
    with first.open("rb") as a, second.open("rb") as b:
        videos_a, videos_b = pickle.load(a), pickle.load(b)
    assert list(videos_a) == ["synth_000", "synth_001"]
    assert videos_a["synth_000"]["video"].shape == (10, 48, 40, 3)
    for name in videos_a:
        for key in ("video", "points", "occluded"):
            np.testing.assert_array_equal(videos_a[name][key], videos_b[name][key])


def test_ingest_of_a_tapvid_video_stores_its_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "small.pkl"
    assert main(["synth", str(dataset), "--preset", "small"]) == 0
    name = list_tapvid_videos(dataset)[1]
    assert main(["ingest", str(dataset), "--tapvid-video", name, "--data-root", str(tmp_path / "d")]) == 0
    assert "12 frames of 64x64" in capsys.readouterr().out
    group = open_video(tmp_path / "d" / "videos" / f"{name}.zarr")
    expected = load_tapvid_sample(dataset, name, resolution=None).video
    np.testing.assert_array_equal(group.read_frames(), expected)
    assert group.attrs["source_kind"] == "tapvid_pickle"
    assert group.attrs["source"].endswith(f"small.pkl::{name}")


def test_bad_input_exits_with_status_2_and_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.mp4"
    assert main(["ingest", str(missing), "--data-root", str(tmp_path)]) == 2
    assert f"omnimotion ingest: error: {missing}: no such file" in capsys.readouterr().err
    (tmp_path / "evil.pkl").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    assert main(["benchmark", str(tmp_path / "evil.pkl"), "--data-root", str(tmp_path)]) == 2
    assert "os.system" in capsys.readouterr().err


def test_a_full_disk_exits_with_status_1_and_one_line_naming_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    import zarr.storage._local

    def no_space(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small", "--frames", "4"])
    monkeypatch.setattr(zarr.storage._local, "_put", no_space)
    assert main(["ingest", str(dataset), "--tapvid-video", "synth_000", "--data-root", str(tmp_path / "d")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "omnimotion ingest: error: [Errno 28]" in error and "synth_000.zarr: could not write the video group" in error


def test_unknown_tapvid_video_lists_valid_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small"])
    assert main(["ingest", str(dataset), "--tapvid-video", "bear", "--data-root", str(tmp_path)]) == 2
    assert "synth_000" in capsys.readouterr().err


def test_demo_prints_the_table_and_where_results_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--videos", "1", "--frames", "5", "--size", "32", "--steps", "3",
                 "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| zero_motion |" in out and "| dis-c |" in out and "| dis-d |" in out and "| omnimotion |" in out
    assert f"results: {tmp_path}/results/synthetic-demo-1v-5f-32px-seed0/results.csv" in out
    assert "MLflow:  run " in out and f"sqlite:///{tmp_path}/mlflow.db" in out


def test_process_prints_where_the_fit_its_pictures_and_its_mlflow_run_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from mlflow import MlflowClient

    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small", "--frames", "5"])
    assert main(["process", str(dataset), "--tapvid-video", "synth_001", "--size", "32x32", "--dense-stride", "1",
                 "--data-root", str(tmp_path / "d"), "--chunk-pairs", "3", "--steps", "30", "--cpu-threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"fit:         {tmp_path}/d/videos/synth_001.zarr/fits/omnimotion-fast-" in out
    assert f"video group: {tmp_path}/d/videos/synth_001.zarr" in out
    assert "flow set:    " in out and "/flows/dis-medium-" in out
    assert "dense:       1024 tracks of frame 0: every pixel (32x32)" in out
    pictures = dict(re.findall(r"^(overlay|depth|loss curve): +(\S+)$", out, flags=re.MULTILINE))
    assert sorted(pictures) == ["depth", "loss curve", "overlay"]
    assert all(Path(path).is_file() and path.startswith(f"{tmp_path}/d/results/synth_001/fits/") for path in pictures.values())
    run_id, uri = re.search(r"^MLflow: +run (\w+) in (\S+)$", out, flags=re.MULTILINE).groups()
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.metrics["fit_steps"] == 30
    assert (f"then open http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run_id}"
            "?workflowType=machine_learning") in out
    assert f"explore:     omnimotion view {tmp_path}/d/videos/synth_001.zarr" in out


def test_flow_on_an_existing_group_reuses_the_stored_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small", "--frames", "4"])
    root = tmp_path / "d"
    assert main(["ingest", str(dataset), "--tapvid-video", "synth_000", "--size", "32x32", "--data-root", str(root)]) == 0
    group = root / "videos" / "synth_000.zarr"
    assert main(["flow", str(group), "--data-root", str(root)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["flow", str(group), "--data-root", str(root)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == first
    assert first.startswith(f"flow set: {group}/flows/dis-medium-")


def _small_group(tmp_path: Path) -> tuple[Path, Path]:
    """(data root, video group) of a 4-frame synthetic video ingested at 32x32 under ``tmp_path / "d"``."""
    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small", "--frames", "4"])
    root = tmp_path / "d"
    main(["ingest", str(dataset), "--tapvid-video", "synth_000", "--size", "32x32", "--data-root", str(root)])
    return root, root / "videos" / "synth_000.zarr"


def test_fit_uses_the_only_flow_set_and_reports_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, group = _small_group(tmp_path)
    assert main(["fit", str(group), "--data-root", str(root)]) == 2
    assert "0 flow sets to fit on (none); compute one with: omnimotion flow" in capsys.readouterr().err
    main(["flow", str(group), "--data-root", str(root)])
    from storage.flow_store import (
        fittable_flow_sets,
        list_flow_sets,
        read_flow_set_params,
    )

    assert len(list_flow_sets(group)) == 2  # the direct set and the chained set derived from it
    (chained,) = fittable_flow_sets(group)
    assert read_flow_set_params(group, chained)["chaining"]["enabled"] is True
    assert main(["fit", str(group), "--steps", "3", "--cpu-threads", "1", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"fit:         {group}/fits/omnimotion-fast-" in out and "(checkpoints/, depth, dense/)" in out


def test_eval_rescores_stored_predictions_under_the_other_frame_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "small.pkl"
    main(["synth", str(dataset), "--preset", "small", "--frames", "6"])
    root = str(tmp_path / "d")
    assert main(["eval", str(dataset), "--data-root", root]) == 2
    assert "no stored predictions of small.pkl" in capsys.readouterr().err
    assert main(["benchmark", str(dataset), "--methods", "zero_motion", "--data-root", root]) == 0
    capsys.readouterr()
    assert main(["eval", str(dataset), "--frame-rule", "all_but_query", "--data-root", root]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Frames scored: all_but_query") and "| zero_motion |" in out
    assert (tmp_path / "d" / "results" / "small" / "frames-all_but_query" / "results.csv").is_file()


def test_fit_with_chaining_picks_or_derives_the_chained_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, group = _small_group(tmp_path)
    main(["flow", str(group), "--data-root", str(root)])
    from storage.flow_store import list_flow_sets, read_flow_set_params

    fit = ["fit", str(group), "--steps", "2", "--cpu-threads", "1", "--data-root", str(root)]
    capsys.readouterr()
    assert main([*fit, "--chaining", "mft"]) == 0
    mft_fit = capsys.readouterr().out
    rules = sorted(read_flow_set_params(group, name).get("chaining", {}).get("rule", "direct") for name in list_flow_sets(group))
    assert rules == ["consecutive", "direct", "mft"]
    assert main([*fit, "--chaining", "consecutive"]) == 0
    consecutive_fit = capsys.readouterr().out
    assert "fit: " in mft_fit and "fit: " in consecutive_fit and mft_fit != consecutive_fit
    assert len(list_flow_sets(group)) == 3
