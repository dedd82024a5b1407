"""Files written for people: PNG, MP4, loss curves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from storage.media import write_loss_curve, write_mp4, write_png


def test_png_round_trips_rgb(tmp_path: Path) -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 200
    write_png(tmp_path / "a.png", image)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB), image)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_mp4_holds_every_frame(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)
    write_mp4(tmp_path / "v.mp4", frames, fps=5)
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 5


def test_loss_curve_is_a_png(tmp_path: Path) -> None:
    path = write_loss_curve(tmp_path / "loss.png", [[1, 2.0, 1.0], [2, 1.0, 0.5]], ["total", "flow"])
    assert cv2.imread(str(path)) is not None
