"""benchmarks/flow_trackers.py end to end on a tiny setting: every tracker row, both datasets, the files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tests.badja_folder import write_badja_folder

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "flow_trackers.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("flow_trackers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_flow_trackers_tiny_run(tmp_path: Path) -> None:
    script = _load_script()
    badja = write_badja_folder(tmp_path / "badja")
    out = tmp_path / "out"
    rows = script.main(["--seeds", "0", "--videos", "1", "--frames", "8", "--size", "32", "--resolution", "64x64",
                        "--badja", str(badja), "--out", str(out)])
    table = pd.read_csv(out / "flow_trackers.csv")
    methods = ["dis-c", "dis-d", "dis-mft", *script.ABLATIONS]
    assert len(table) == len(rows) == 2 * len(methods)
    assert table.groupby("dataset")["method"].apply(list).to_dict() == {"badja": methods, "bench": methods}
    assert ((table["AJ"] >= 0) & (table["AJ"] <= 1) & (table["delta_avg"] > 0) & (table["delta_avg"] <= 1)).all()
    assert (table["seconds"] > 0).all() and (table["all_pairs_seconds"] > 0).all()
    np.testing.assert_allclose(table["cost_ratio"], table["seconds"] / table["all_pairs_seconds"])
    bench = table[table["dataset"] == "bench"].set_index("method")
    assert bench.loc["dis-c", "AJ"] > 0.2 and np.isnan(bench.loc["dis-c", "PCK_T"])
    markdown = (out / "flow_trackers.md").read_text()
    assert "### bench (1 videos; own occlusion)" in markdown and "### badja (1 videos; own occlusion)" in markdown
    assert "| dis-c | " in markdown and " | 1.00x | +0.0 | " in markdown
