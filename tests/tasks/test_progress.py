"""A fit's progress lines (rate, time left, loss) and its bar."""

from __future__ import annotations

import logging
import re

import pytest

from omnimotion_core.model.progress import ProgressConfig
from tasks.progress import FitProgress, matching_progress
from tests.omnimotion_core.test_model_progress import FakeClock

LINE = re.compile(r"^clip: step (\d+)/40 \(\d+ %\), [\d.]+ steps/s, \d+ s elapsed, about \d+ s left, loss [\d.]+$")


def test_lines_carry_step_rate_time_left_and_loss_every_quarter(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test-progress")
    with caplog.at_level(logging.INFO, logger="test-progress"), \
            FitProgress("clip", 40, 0, ProgressConfig(every_percent=25), logger, clock=clock) as progress:
        for step in range(1, 41):
            clock.now += 0.5
            progress.record_loss(1.0 / step)
            progress.on_step(step)
    lines = [record.getMessage() for record in caplog.records]
    assert [int(LINE.match(line).group(1)) for line in lines] == [10, 20, 30, 40]
    assert lines[1] == "clip: step 20/40 (50 %), 2 steps/s, 10 s elapsed, about 10 s left, loss 0.0500"


def test_the_bar_is_drawn_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("test-progress")
    for bar in (False, True):
        with FitProgress("clip", 8, 2, ProgressConfig(), logger, bar=bar) as progress:
            for step in range(3, 9):
                progress.on_step(step)
        drawn = capsys.readouterr().err
        assert ("8/8" in drawn and "clip" in drawn) if bar else drawn == ""


def test_matching_lines_carry_frames_and_time_left(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    logger = logging.getLogger("test-progress")
    on_frame = matching_progress("clip", 20, ProgressConfig(every_percent=50), logger, clock=clock)
    with caplog.at_level(logging.INFO, logger="test-progress"):
        for done in range(1, 21):
            clock.now += 2.0
            on_frame(done)
    assert [record.getMessage() for record in caplog.records] == [
        "clip: matching frames 10/20, 20 s elapsed, about 20 s left",
        "clip: matching frames 20/20, 40 s elapsed, about 0 s left",
    ]
