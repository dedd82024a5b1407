"""benchmarks/supervision_ceiling.py end to end on a tiny setting: every supervision, the DIS rows, the files."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "supervision_ceiling.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("supervision_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script is executed
    spec.loader.exec_module(module)
    return module


def test_supervision_ceiling_tiny_run(tmp_path: Path) -> None:
    script = _load_script()
    out = tmp_path / "out"
    rows = script.main(["--seeds", "0", "--videos", "1", "--frames", "8", "--size", "32", "--resolution", "64x64",
                        "--steps", "4", "--eval-every", "2", "--threads", "1", "--out", str(out),
                        "--work-dir", str(tmp_path / "work")])
    table = pd.read_csv(out / "supervision_ceiling.csv", keep_default_na=False)
    assert len(table) == len(rows) == 3 + 3 * 3
    model = table[table["method"] == "omnimotion"]
    assert sorted(set(model["supervision"])) == ["chained", "exact", "mft"]
    for _, curve in model.groupby("supervision"):
        assert curve["step"].tolist() == [0, 2, 4]
        assert curve["fit_s"].iloc[0] == 0.0 and curve["fit_s"].is_monotonic_increasing
    assert (model["fit_cpu_s"] >= 0).all() and model["fit_cpu_s"].iloc[-1] > 0
    figures = [f"{metric}_{mode}" for metric in ("AJ", "delta_avg", "OA") for mode in ("own", "checked")]
    for _, row in table.iterrows():
        assert all(0.0 <= row[column] <= 1.0 for column in figures), row
        assert math.isfinite(row["TC_own"]) and row["TC_own"] >= 0.0
        assert row["delta_avg_own"] == row["delta_avg_checked"] and row["TC_own"] == row["TC_checked"]
    chained = table[table["method"] == "dis-c"].iloc[0]
    assert chained["AJ_own"] > 0.2 and chained["OA_own"] > 0.5 and chained["delta_avg_own"] > 0.4
    assert set(table["method"]) == {"dis-c", "dis-d", "dis-mft", "omnimotion"}
    # every fit starts from the same seeded model, whose maps are the identity: identical positions at step 0
    # (the surface model's depth starts from each set's motion, so its step-0 occlusion may differ)
    first = model[model["step"] == 0].set_index("supervision")[["delta_avg_own", "TC_own"]]
    assert first.loc["exact"].tolist() == first.loc["chained"].tolist() == first.loc["mft"].tolist()
    sets = pd.read_csv(out / "supervision_ceiling_sets.csv").set_index("supervision")
    assert sets.loc["exact", "hidden_share"] == 0.0 and sets.loc["exact", "recall"] == 1.0
    for derived in ("chained", "mft"):
        assert 0 < sets.loc[derived, "trusted"] and 0.0 < sets.loc[derived, "recall"] <= 1.0
    assert sets.loc["chained", "trusted"] != sets.loc["mft", "trusted"]
    markdown = (out / "supervision_ceiling.md").read_text()
    assert "| dis-c | - | 0 |" in markdown and "| omnimotion | exact | 4 |" in markdown
    assert (out / "supervision_ceiling.png").stat().st_size > 10_000


def test_config_overrides_reach_the_model_config_and_bad_paths_are_named() -> None:
    script = _load_script()
    from omnimotion_core.model import PRESETS

    config = script.override(PRESETS["fast"], ["surface.match_weight=0", "trainer.seed=3", "representation=surface"])
    assert config.surface.match_weight == 0 and config.trainer.seed == 3
    assert config.surface.bijection == PRESETS["fast"].surface.bijection
    for bad, message in (("surface.nope=1", "no field 'nope'"), ("seed.x=1", "'seed' is not a section"),
                         ("surface", "PATH=VALUE")):
        with pytest.raises(ValueError, match=message):
            script.override(PRESETS["fast"], [bad])
