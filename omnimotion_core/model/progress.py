"""Progress of a fit: when to report it, and the rate and time left at that moment (no logging here: the
caller decides where a report goes)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
"""Seconds from an arbitrary origin (``time.monotonic``); tests pass a fake one."""


@dataclass(frozen=True)
class ProgressConfig:
    """How often a fit reports its progress.

    Attributes:
        every_percent: report each time another ``every_percent`` % of the steps is done (default 5: twenty
            reports a fit).
        every_seconds: and at the latest ``every_seconds`` after the previous report (default 30 s), so a
            slow fit still reports at a steady pace. The last step is always reported.
    """

    every_percent: float = 5.0
    every_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.every_percent <= 100:
            raise ValueError(f"every_percent must lie in (0, 100], got {self.every_percent}")
        if self.every_seconds <= 0:
            raise ValueError(f"every_seconds must be > 0, got {self.every_seconds}")


@dataclass(frozen=True)
class ProgressReport:
    """Where a fit stands.

    Attributes:
        step: steps done, counting those of an earlier run that this one resumed.
        total: steps of the whole fit.
        elapsed: seconds since this run started (a resumed run counts from its own start).
        rate: steps per second since the previous report (the whole run for the first), so the time left
            follows a fit that speeds up or slows down (another job finishing or starting on the machine);
            0 before the first step.
        remaining: estimated seconds to the last step at ``rate`` (inf while the rate is 0).
    """

    step: int
    total: int
    elapsed: float
    rate: float
    remaining: float

    def describe(self) -> str:
        """E.g. ``step 120/200 (60 %), 3.1 steps/s, 38 s elapsed, about 26 s left``."""
        percent = 100.0 * self.step / max(self.total, 1)
        return (f"step {self.step}/{self.total} ({percent:.0f} %), {self.rate:.3g} steps/s, "
                f"{format_duration(self.elapsed)} elapsed, about {format_duration(self.remaining)} left")


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``; ``?`` for an unknown (infinite) duration."""
    if not math.isfinite(seconds):
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class ProgressMeter:
    """Decides, step by step, when a fit's progress is due for a report (see :class:`ProgressConfig`).

    Args:
        total: steps of the whole fit.
        start_step: steps already done when this run started (a resumed fit).
        config: the reporting cadence.
        clock: the time source.
    """

    def __init__(self, total: int, start_step: int = 0, config: ProgressConfig = ProgressConfig(),
                 clock: Clock = time.monotonic) -> None:
        if not 0 <= start_step <= total:
            raise ValueError(f"start_step must lie in [0, {total}], got {start_step}")
        self.total = total
        self.start_step = start_step
        self.config = config
        self.clock = clock
        self.started = clock()
        self._last_time = self.started
        self._last_step = start_step
        self._last_bucket = self._bucket(start_step)

    def _bucket(self, step: int) -> int:
        return math.floor(100.0 * step / max(self.total, 1) / self.config.every_percent + 1e-9)

    def report(self, step: int) -> ProgressReport:
        """The progress at ``step``, now (the rate over the steps since the previous report)."""
        now = self.clock()
        seconds, done = now - self._last_time, step - self._last_step
        rate = done / seconds if seconds > 0 and done > 0 else 0.0
        elapsed = now - self.started
        remaining = (self.total - step) / rate if rate > 0 else (0.0 if step >= self.total else math.inf)
        return ProgressReport(step, self.total, elapsed, rate, remaining)

    def update(self, step: int) -> ProgressReport | None:
        """Call after each step with the steps done; returns a report when one is due, else None."""
        now = self.clock()
        bucket = self._bucket(step)
        due = bucket > self._last_bucket or now - self._last_time >= self.config.every_seconds or step >= self.total
        if not due:
            return None
        report = self.report(step)
        self._last_bucket, self._last_time, self._last_step = bucket, now, step
        return report
