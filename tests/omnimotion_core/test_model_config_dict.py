"""config_from_dict: a fit's stored model config back as the typed tree."""

from __future__ import annotations

import dataclasses
import json

import pytest

from omnimotion_core.model import PRESETS
from omnimotion_core.model.config_dict import config_from_dict


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_survives_a_json_round_trip(preset: str) -> None:
    stored = json.loads(json.dumps(dataclasses.asdict(PRESETS[preset])))
    assert config_from_dict(stored) == PRESETS[preset]


def test_an_unknown_or_missing_field_is_refused_with_its_path() -> None:
    stored = json.loads(json.dumps(dataclasses.asdict(PRESETS["fast-volume"])))
    stored["rendering"]["num_sample"] = stored["rendering"].pop("num_samples")
    with pytest.raises(ValueError, match=r"OmniMotionConfig\.rendering: .*unknown: \['num_sample'\], "
                                         r"missing: \['num_samples'\]"):
        config_from_dict(stored)
