"""A fit's progress where people see it: a line in the run's log at the cadence of
:class:`~omnimotion_core.model.progress.ProgressConfig` (rate, time left, latest loss), and a tqdm bar
when asked for (the command line asks when its terminal is interactive)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from tqdm import tqdm

from omnimotion_core.model.progress import Clock, ProgressConfig, ProgressMeter, format_duration
from tasks.flow import Logger


def matching_progress(label: str, num_frames: int, config: ProgressConfig, logger: Logger,
                      clock: Clock = time.monotonic) -> Callable[[int], None]:
    """A ``Trainer`` ``on_matching`` callback that logs, at the fit's cadence, how far the search for long-gap
    matches is: ``<label>: matching frames 40/82, 52 s elapsed, about 55 s left``."""
    meter = ProgressMeter(num_frames, 0, config, clock)

    def on_frame(done: int) -> None:
        report = meter.update(done)
        if report is not None:
            logger.info("%s: matching frames %d/%d, %s elapsed, about %s left", label, done, num_frames,
                        format_duration(report.elapsed), format_duration(report.remaining))

    return on_frame


class FitProgress:
    """Reports one fit's progress; pass :meth:`on_step` to ``Trainer.fit`` and :meth:`record_loss` the
    losses as they are read. Use as a context manager (it closes the bar).

    Args:
        label: what is fitted, starting each line (e.g. the video's id).
        total: steps of the whole fit.
        start_step: steps done before this run (a resumed fit).
        config: the reporting cadence.
        logger: where the lines go (a Prefect run logger inside a task).
        bar: also draw a tqdm bar on stderr.
        clock: the time source.
    """

    def __init__(self, label: str, total: int, start_step: int, config: ProgressConfig, logger: Logger,
                 bar: bool = False, clock: Clock = time.monotonic) -> None:
        self.label = label
        self.logger = logger
        self.meter = ProgressMeter(total, start_step, config, clock)
        self.loss: float | None = None
        self._bar = tqdm(total=total, initial=start_step, desc=label, unit="step", disable=not bar)

    def record_loss(self, loss: float) -> None:
        """The latest total loss, shown in the next line and on the bar."""
        self.loss = loss
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_step(self, step: int) -> None:
        """After each step: advance the bar, and log a line when one is due."""
        self._bar.update(step - self._bar.n)
        report = self.meter.update(step)
        if report is not None:
            loss = "" if self.loss is None else f", loss {self.loss:.4f}"
            self._bar.clear()  # the line goes where the bar was, then the bar is drawn again below it
            self.logger.info("%s: %s%s", self.label, report.describe(), loss)
            self._bar.refresh()

    def __enter__(self) -> FitProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._bar.close()
