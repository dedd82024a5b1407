"""The model methods as edits of a preset: the surface model's no-matches ablation and the representation check."""

from dataclasses import replace

import numpy as np
import pytest

from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model import Trainer
from omnimotion_core.registry import METHODS, ModelMethod
from tasks.config import FitConfig
from tests.omnimotion_core.test_flow_matches import panning_video
from tests.omnimotion_core.test_model_surface import small_surface_config


def test_no_matches_switches_off_only_the_match_term() -> None:
    full = FitConfig(preset="fast").model_config("omnimotion")
    ablated = FitConfig(preset="fast").model_config("omnimotion-no-matches")
    assert full.surface.match_weight > 0 and ablated.surface.match_weight == 0
    assert replace(ablated, surface=replace(ablated.surface, match_weight=full.surface.match_weight)) == full


def test_no_matches_fit_finds_no_matches_and_a_volume_preset_is_refused() -> None:
    video = panning_video([(2 * t, t) for t in range(5)], size=32).astype(np.float32) / 255.0
    pairs = np.array([(i, j) for i in range(5) for j in range(5) if i != j], np.int64)
    flow_set = FlowSet(pairs=pairs, flow=np.zeros((len(pairs), 32, 32, 2), np.float32),
                       mask=np.ones((len(pairs), 32, 32), bool), counts=np.full((5, 32, 32), 4, np.int32))
    small = small_surface_config()
    with_matches = Trainer(replace(small, surface=replace(small.surface, match_weight=1.0)), flow_set, video)
    assert with_matches.matches is not None and len(with_matches.matches) > 0
    no_matches = METHODS.get("omnimotion-no-matches", ModelMethod).configure(with_matches.config)
    assert Trainer(no_matches, flow_set, video).matches is None
    with pytest.raises(ValueError, match="needs the surface representation.*presets that fit: fast\\)"):
        FitConfig(preset="fast-volume").model_config("omnimotion-no-matches")
