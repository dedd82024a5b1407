"""Results tables: per-video metric records -> one row per method, written as CSV and markdown.

The table mirrors the OmniMotion paper's: for each dataset AJ, <delta_avg and OA in percent and TC in
pixels at 256x256; a dataset whose records carry BADJA's PCK-T (videos with object masks) also gets a
PCK-T column, after <delta_avg. Files are ``results.csv`` (two header rows: dataset, metric) and
``results.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from omnimotion_core.metrics import FrameRule
from storage.errors import InputError
from storage.publish import atomic_file

RESULTS_CSV = "results.csv"
RESULTS_MARKDOWN = "results.md"

RECORD_COLUMNS = (
    "dataset",
    "method",
    "video",
    "average_jaccard",
    "average_pts_within_thresh",
    "occlusion_accuracy",
    "temporal_coherence",
)
TABLE_METRICS = ("AJ", "delta_avg", "OA", "TC")
"""Metric level of the table's columns, in display order."""

PCK_T_METRICS = ("AJ", "delta_avg", "PCK-T", "OA", "TC")
"""The metrics of a dataset with PCK-T (a record column ``pck_t`` not NaN for some video), in display order."""

_RECORD_COLUMN_OF_METRIC = {
    "AJ": "average_jaccard",
    "delta_avg": "average_pts_within_thresh",
    "PCK-T": "pck_t",
    "OA": "occlusion_accuracy",
    "TC": "temporal_coherence",
}
_PERCENT_METRICS = ("AJ", "delta_avg", "PCK-T", "OA")
_NAN_SKIPPING_METRICS = ("PCK-T", "TC")
"""Means over the videos that have a value: TC needs visible triplets, PCK-T object masks."""
_MARKDOWN_HEADER_OF_METRIC = {
    "AJ": "AJ↑", "delta_avg": "<δ_avg↑", "PCK-T": "PCK-T↑", "OA": "OA↑", "TC": "TC↓",
}


def summarize_video_metrics(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """Benchmark numbers from per-video metrics: the mean over the batch of each key.

    Args:
        metrics: key -> [B] per-video values, as returned by ``omnimotion_core.metrics.tapvid_metrics``.

    Returns:
        key -> mean over the B videos, unscaled (fractions, TC in pixels). ``temporal_coherence``
        skips NaN videos (those without a visible triplet) and is NaN only if every video is; any
        other NaN propagates, as in tapnet's plain mean.
    """
    if not metrics:
        raise InputError("metrics is empty; expected per-video arrays such as 'average_jaccard'")
    summary = {}
    for key, values in metrics.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise InputError(
                f"metrics[{key!r}] must be non-empty per-video values [B], got shape {values.shape}"
            )
        if key == "temporal_coherence":
            finite = values[~np.isnan(values)]
            summary[key] = float(finite.mean()) if finite.size else math.nan
        else:
            summary[key] = float(values.mean())
    return summary


def build_results_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per method, columns (dataset, metric) with metric in AJ, delta_avg, OA, TC (TABLE_METRICS),
    or AJ, delta_avg, PCK-T, OA, TC (PCK_T_METRICS) for a dataset with PCK-T.

    Args:
        records: one row per (dataset, method, video) with the columns of ``RECORD_COLUMNS``, and
            optionally ``pck_t``; metric values as the metrics functions return them (fractions, TC in
            pixels).

    Returns:
        Index ``method`` in order of first appearance; MultiIndex columns (dataset, metric), datasets
        in order of first appearance. Each cell is the mean over that method's videos of the dataset:
        AJ, delta_avg and OA x100 (percent; a NaN video makes the cell NaN, as tapnet's plain mean
        would), PCK-T x100 (percent; videos without masks, NaN, skipped), TC as is (pixels; NaN videos
        skipped). A method with no video of a dataset gets NaN.
    """
    missing = [column for column in RECORD_COLUMNS if column not in records.columns]
    if missing:
        raise InputError(f"results records lack the columns {missing}; expected {list(RECORD_COLUMNS)}")
    if records.empty:
        raise InputError("results records are empty; expected one row per (dataset, method, video)")
    duplicated = records.duplicated(subset=["dataset", "method", "video"], keep=False)
    if duplicated.any():
        first = records.loc[duplicated, ["dataset", "method", "video"]].iloc[0].tolist()
        raise InputError(
            f"results records hold {int(duplicated.sum())} rows for repeated (dataset, method, video), "
            f"e.g. {tuple(first)}; expected one row each"
        )
    metric_columns = [column for column in _RECORD_COLUMN_OF_METRIC.values() if column in records.columns]
    not_numeric = [column for column in metric_columns if not pd.api.types.is_numeric_dtype(records[column])]
    if not_numeric:
        dtypes = [str(records[column].dtype) for column in not_numeric]
        raise InputError(f"results records columns {not_numeric} must be numeric, got dtypes {dtypes}")
    methods = pd.unique(records["method"])
    datasets = pd.unique(records["dataset"])
    with_pck_t = set(records.loc[records["pck_t"].notna(), "dataset"]) if "pck_t" in records.columns else set()
    columns = pd.MultiIndex.from_tuples(
        [(dataset, metric) for dataset in datasets
         for metric in (PCK_T_METRICS if dataset in with_pck_t else TABLE_METRICS)],
        names=["dataset", "metric"],
    )
    table = pd.DataFrame(np.nan, index=pd.Index(methods, name="method"), columns=columns)
    groups = records.groupby(["dataset", "method"], sort=False)
    for metric in PCK_T_METRICS:
        if _RECORD_COLUMN_OF_METRIC[metric] not in records.columns:
            continue
        values = groups[_RECORD_COLUMN_OF_METRIC[metric]]
        if metric in _NAN_SKIPPING_METRICS:
            means = values.mean()
        else:
            means = values.agg(_mean_keeping_nan)
        if metric in _PERCENT_METRICS:
            means = means * 100.0
        for (dataset, method), mean in means.items():
            if (dataset, metric) in table.columns:
                table.loc[method, (dataset, metric)] = mean
    return table


def render_results_table(table: pd.DataFrame, frame_rule: FrameRule) -> str:
    """Markdown text of a table from :func:`build_results_table`, like the OmniMotion paper's.

    A first line names the frame convention and TC's resolution (and says what PCK-T is, when a dataset
    has it); then a table with one row per method and, per dataset, AJ, <delta_avg, PCK-T where present
    and OA (percent, one decimal) and TC (pixels, two decimals). Missing values show as ``-``. Ends with a
    newline.
    """
    if frame_rule == "tapvid":
        convention = "official TAP-Vid (query frame excluded; first-frame queries scored on later frames)"
    elif frame_rule == "all_but_query":
        convention = "OmniMotion paper (every frame except the query frame, also for first-frame queries)"
    else:
        raise ValueError(f"frame_rule must be 'tapvid' or 'all_but_query', got {frame_rule!r}")
    _check_table(table)
    header = ["Method"] + [
        f"{_escape_cell(str(dataset))} {_MARKDOWN_HEADER_OF_METRIC[metric]}" for dataset, metric in table.columns
    ]
    alignment = [":---"] + ["---:"] * (len(header) - 1)
    first_line = f"Frames scored: {frame_rule} = {convention}. TC in pixels at 256x256."
    if "PCK-T" in table.columns.get_level_values(1):
        first_line += (" Only labelled (point, frame) entries are scored. PCK-T (BADJA): labelled visible joints "
                       "within 0.2 x sqrt(object mask area) in source pixels, mean over the videos with masks.")
    lines = [first_line, "", _markdown_row(header), _markdown_row(alignment)]
    for method, row in table.iterrows():
        cells = [_escape_cell(str(method))]
        for column in table.columns:
            cells.append(_format_value(row[column], decimals=2 if column[1] == "TC" else 1))
        lines.append(_markdown_row(cells))
    return "\n".join(lines) + "\n"


def write_results_table(table: pd.DataFrame, directory: Path, frame_rule: FrameRule) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` into ``directory`` (created if missing).

    Each file is written to a temporary name in the same folder and renamed into place, so a file
    under its final name is always complete. Returns (csv path, markdown path).
    """
    markdown = render_results_table(table, frame_rule)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / RESULTS_CSV
    markdown_path = directory / RESULTS_MARKDOWN
    _write_text_atomically(csv_path, table.to_csv())
    _write_text_atomically(markdown_path, markdown)
    return csv_path, markdown_path


def read_results_table(path: Path) -> pd.DataFrame:
    """Read a ``results.csv`` written by :func:`write_results_table` back into the same table."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no results table there")
    table = pd.read_csv(path, header=[0, 1], index_col=0)
    table.index = table.index.astype(str)
    _check_table(table, source=str(path))
    return table


def _check_table(table: pd.DataFrame, source: str = "results table") -> None:
    """Raise InputError unless the columns are (dataset, metric) with, per dataset, TABLE_METRICS or
    PCK_T_METRICS."""
    if not isinstance(table.columns, pd.MultiIndex) or table.columns.nlevels != 2:
        raise InputError(
            f"{source}: columns must be a (dataset, metric) MultiIndex, got {list(table.columns)[:4]}"
        )
    datasets = list(pd.unique(table.columns.get_level_values(0)))
    with_pck_t = {dataset for dataset, metric in table.columns if metric == "PCK-T"}
    expected = [(dataset, metric) for dataset in datasets
                for metric in (PCK_T_METRICS if dataset in with_pck_t else TABLE_METRICS)]
    if list(table.columns) != expected:
        raise InputError(f"{source}: columns must be {expected}, got {list(table.columns)}")


def _mean_keeping_nan(values: pd.Series) -> float:
    """Plain mean of a group's values; NaN if any value is NaN."""
    return float(values.to_numpy(dtype=np.float64).mean())


def _format_value(value: float, decimals: int) -> str:
    """A number with ``decimals`` decimals, or ``-`` for NaN."""
    return "-" if pd.isna(value) else f"{value:.{decimals}f}"


def _escape_cell(text: str) -> str:
    """Markdown table cell text: pipes escaped so they do not split the cell."""
    return text.replace("|", "\\|")


def _markdown_row(cells: list[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def _write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a whole file (see :func:`storage.publish.atomic_file`)."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
