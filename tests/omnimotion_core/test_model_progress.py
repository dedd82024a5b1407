"""When a fit reports progress, and the rate and time left it reports."""

from __future__ import annotations

import math

import pytest

from omnimotion_core.model.progress import ProgressConfig, ProgressMeter, format_duration


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _reported_steps(meter: ProgressMeter, clock: FakeClock, steps: range, seconds_per_step: float) -> list[int]:
    reported = []
    for step in steps:
        clock.now += seconds_per_step
        if meter.update(step) is not None:
            reported.append(step)
    return reported


def test_a_fast_fit_reports_every_five_percent_and_its_last_step() -> None:
    clock = FakeClock()
    meter = ProgressMeter(200, config=ProgressConfig(every_percent=5, every_seconds=30), clock=clock)
    assert _reported_steps(meter, clock, range(1, 201), 0.01) == list(range(10, 201, 10))


def test_a_slow_fit_reports_every_thirty_seconds_between_percent_marks() -> None:
    clock = FakeClock()
    meter = ProgressMeter(1000, config=ProgressConfig(every_percent=50, every_seconds=30), clock=clock)
    reported = _reported_steps(meter, clock, range(1, 1001), 1.0)
    assert reported[:3] == [30, 60, 90]
    assert 500 in reported and reported[-1] == 1000
    gaps = [later - earlier for earlier, later in zip(reported, reported[1:], strict=False)]
    assert max(gaps) <= 30


def test_the_report_gives_the_rate_and_time_left_of_this_run() -> None:
    clock = FakeClock()
    meter = ProgressMeter(300, start_step=100, clock=clock)
    clock.now += 40.0
    report = meter.report(180)
    assert report.rate == pytest.approx(2.0)
    assert report.remaining == pytest.approx(60.0)
    assert report.describe() == "step 180/300 (60 %), 2 steps/s, 40 s elapsed, about 1 min 00 s left"
    assert math.isinf(meter.report(100).remaining)


def test_the_time_left_follows_a_fit_that_speeds_up() -> None:
    clock = FakeClock()
    meter = ProgressMeter(100, config=ProgressConfig(every_percent=25, every_seconds=3600), clock=clock)
    reports = []
    for step in range(1, 101):
        clock.now += 2.0 if step <= 50 else 0.5
        reports.append(meter.update(step))
    half, three_quarters = reports[49], reports[74]
    assert (half.rate, half.remaining) == (pytest.approx(0.5), pytest.approx(100.0))
    assert (three_quarters.rate, three_quarters.remaining) == (pytest.approx(2.0), pytest.approx(12.5))
    assert three_quarters.elapsed == pytest.approx(112.5)


def test_a_resumed_fit_counts_its_percent_marks_from_where_it_resumed() -> None:
    clock = FakeClock()
    meter = ProgressMeter(100, start_step=42, config=ProgressConfig(every_percent=10), clock=clock)
    assert _reported_steps(meter, clock, range(43, 101), 0.01) == [50, 60, 70, 80, 90, 100]


def test_durations_read_as_seconds_minutes_or_hours() -> None:
    assert [format_duration(s) for s in (4.4, 65, 7620, math.inf)] == ["4 s", "1 min 05 s", "2 h 07 min", "?"]


def test_rejects_a_cadence_that_never_reports() -> None:
    with pytest.raises(ValueError, match="every_percent must lie in"):
        ProgressConfig(every_percent=0)
    with pytest.raises(ValueError, match="every_seconds must be > 0"):
        ProgressConfig(every_seconds=0)
