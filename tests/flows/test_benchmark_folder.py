"""The benchmark flow over a folder of videos: scored where a ``<name>.tapvid.pkl`` exists, one row per
(video, method) in the run table, a corrupt video reported without stopping the others."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from flows.benchmark import SKIPPED_BASELINE, benchmark, list_benchmark_videos
from flows.config import PipelineConfig
from storage.errors import InputError
from storage.media import write_mp4
from storage.tapvid import write_tapvid_davis_pickle
from tasks.config import EvaluationConfig


def _write_folder(folder: Path) -> None:
    """``good.mp4`` with ground truth, the unannotated image folder ``stills/``, the random-bytes
    ``broken.mp4`` and a file that is no video (``notes.txt``)."""
    rng = np.random.default_rng(2)
    folder.mkdir()
    video = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    write_mp4(folder / "good.mp4", video)
    points = (rng.integers(3, 10, (3, 1, 2)) / 32 + np.zeros((1, 6, 1))).astype(np.float32)
    write_tapvid_davis_pickle(folder / "good.tapvid.pkl",
                              {"good": {"video": video, "points": points, "occluded": np.zeros((3, 6), dtype=bool)}})
    (folder / "stills").mkdir()
    for index, frame in enumerate(video):
        cv2.imwrite(str(folder / "stills" / f"{index:03d}.png"), frame)
    (folder / "broken.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (folder / "notes.txt").write_text("not a video", encoding="utf-8")


def test_lists_video_files_and_image_folders_with_their_ground_truth(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    _write_folder(folder)
    videos = {video.name: video for video in list_benchmark_videos(folder)}
    assert sorted(videos) == ["broken", "good", "stills"]
    assert videos["good"].annotation == str(folder / "good.tapvid.pkl")
    assert videos["stills"].annotation is None and videos["stills"].source == str(folder / "stills")
    assert all(video.tapvid_name is None for video in videos.values())


def test_rejects_a_folder_without_videos(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no videos here", encoding="utf-8")
    with pytest.raises(InputError, match="no video files"):
        list_benchmark_videos(tmp_path)


def test_a_corrupt_video_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    _write_folder(folder)
    config = PipelineConfig(data_root=tmp_path / "data", evaluation=EvaluationConfig(resolution=(32, 32)))
    result = benchmark(str(folder), ["zero_motion"], config)

    assert len(result.failures) == 1
    video, method, message = result.failures[0]
    assert (video, method) == ("broken", "zero_motion")
    assert message.startswith("ingest_video: InputError") and "broken.mp4" in message
    runs = {row["video"]: row for row in result.runs}
    assert runs["broken"]["status"] == "failed" and runs["broken"]["detail"] == message
    assert runs["stills"]["status"] == "skipped" and runs["stills"]["detail"] == SKIPPED_BASELINE
    assert runs["good"]["status"] == "ok" and 0.0 <= runs["good"]["OA"] <= 100.0
    assert [(record["dataset"], record["video"]) for record in result.records] == [("clips", "good")]

    assert result.runs_path == tmp_path / "data" / "results" / "clips" / "runs.csv"
    table = pd.read_csv(result.runs_path).set_index("video")
    assert table.loc["broken", "status"] == "failed" and "broken.mp4" in table.loc["broken", "detail"]
    assert table.loc["good", "AJ"] == pytest.approx(runs["good"]["AJ"])
    assert "| broken | zero_motion | failed | ingest_video: InputError" in result.table_markdown
    assert result.csv_path is not None and result.csv_path.exists()
