"""The run table of a benchmark: one row per (video, method) saying what happened, as CSV and markdown.

Columns (see :data:`RUN_COLUMNS`): ``video``, ``method``, ``status`` (``ok``, ``failed`` or ``skipped``),
``detail`` (the failing stage and error, or why it was skipped), ``fit_steps``, ``fit_seconds`` and
``final_flow_loss`` (model methods: from the fit's summary, so a cached rerun reports the fit that was
made), then ``AJ``, ``delta_avg``, ``OA`` (percent) and ``TC`` (pixels) when the video had ground truth,
and ``PCK-T`` (percent; BADJA) when any row has it. Files are ``runs.csv`` and ``runs.md``, each written
whole (temporary name, then rename).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from storage.publish import atomic_file

RUNS_CSV = "runs.csv"
RUNS_MARKDOWN = "runs.md"

RUN_COLUMNS = (
    "video", "method", "status", "detail", "fit_steps", "fit_seconds", "final_flow_loss", "AJ", "delta_avg", "OA", "TC",
)
OPTIONAL_RUN_COLUMNS = ("PCK-T",)
"""Columns after :data:`RUN_COLUMNS` that a table has only when some row has them."""


def runs_frame(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """The rows as a table with every column of :data:`RUN_COLUMNS`, then the optional columns some row
    has (absent values are NaN / empty)."""
    keys = {key for row in rows for key in row}
    unknown = sorted(keys - set(RUN_COLUMNS) - set(OPTIONAL_RUN_COLUMNS))
    if unknown:
        raise ValueError(f"run rows have unknown columns {unknown}; expected some of "
                         f"{list(RUN_COLUMNS + OPTIONAL_RUN_COLUMNS)}")
    columns = list(RUN_COLUMNS) + [column for column in OPTIONAL_RUN_COLUMNS if column in keys]
    return pd.DataFrame.from_records(list(rows), columns=columns)


def render_runs_table(rows: Sequence[dict[str, object]]) -> str:
    """Markdown of the run table (numbers with two decimals, ``-`` where absent); ends with a newline."""
    frame = runs_frame(rows)
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(row[column]) for column in frame.columns) + " |")
    return "\n".join(lines) + "\n"


def write_runs_table(rows: Sequence[dict[str, object]], directory: Path) -> tuple[Path, Path]:
    """Write ``runs.csv`` and ``runs.md`` into ``directory`` (created if missing); return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, markdown_path = directory / RUNS_CSV, directory / RUNS_MARKDOWN
    with atomic_file(csv_path) as temporary:
        runs_frame(rows).to_csv(temporary, index=False)
    with atomic_file(markdown_path) as temporary:
        temporary.write_text(render_runs_table(rows), encoding="utf-8")
    return csv_path, markdown_path


def _cell(value: object) -> str:
    """A markdown cell: ``-`` for missing, two decimals for floats, pipes and newlines escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")
