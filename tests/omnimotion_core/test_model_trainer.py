"""The optimisation loop: determinism, exact resume, callbacks, param groups and input checks."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from omnimotion_core.model.config import PRESETS, BijectionConfig, GaborNetConfig, OmniMotionConfig
from omnimotion_core.model.trainer import Trainer, learning_rate
from tests.omnimotion_core.test_model_sampling import make_flow_set


def tiny_config() -> OmniMotionConfig:
    fast = PRESETS["fast"]
    return replace(
        fast,
        canonical=replace(fast.canonical, net=GaborNetConfig(width=16, num_layers=2, alpha=3.0)),
        latent=replace(fast.latent, net=GaborNetConfig(width=16, num_layers=1, alpha=4.5), code_dim=8),
        bijection=BijectionConfig(num_layers=3, hidden_dims=(16,), encoding_dim=8),
        rendering=replace(fast.rendering, num_samples=8),
        sampling=replace(fast.sampling, num_pairs=2, pixels_per_pair=8),
    )


def tiny_video() -> np.ndarray:
    return np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)


def test_learning_rate_halves_every_decay_steps():
    assert learning_rate(1e-3, 19999, 20000, 0.5) == 1e-3
    assert learning_rate(1e-3, 40000, 20000, 0.5) == pytest.approx(2.5e-4)


def test_param_groups_carry_the_three_rates():
    trainer = Trainer(OmniMotionConfig(), make_flow_set(), tiny_video())
    rates = {group["name"]: group["lr"] for group in trainer.optimiser.param_groups}
    assert rates == {"latent": 1e-3, "bijection": 1e-4, "canonical": 3e-4}


def test_same_seed_gives_same_fit():
    first, second = (Trainer(tiny_config(), make_flow_set(), tiny_video()) for _ in range(2))
    first.fit(3, progress=False)
    second.fit(3, progress=False)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resumed_fit_matches_uninterrupted_fit():
    straight = Trainer(tiny_config(), make_flow_set(), tiny_video())
    straight.fit(20, progress=False)
    interrupted = Trainer(tiny_config(), make_flow_set(), tiny_video())
    interrupted.fit(10, progress=False)
    state = copy.deepcopy(interrupted.state_dict())
    resumed = Trainer(replace(tiny_config(), trainer=replace(tiny_config().trainer, seed=7)), make_flow_set(), tiny_video())
    resumed.load_state_dict(state)
    resumed.fit(10, progress=False)
    assert resumed.step == 20 and int(resumed.model.steps_trained) == 20
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_callback_every_n_steps_gets_loss_terms():
    calls = []
    trainer = Trainer(tiny_config(), make_flow_set(), tiny_video())
    last = trainer.fit(4, callback=lambda step, losses: calls.append((step, losses)), callback_every=2, progress=False)
    assert [step for step, _ in calls] == [2, 4]
    assert set(calls[0][1]) == {"total", "flow", "photometric", "scene_flow", "depth_range", "distortion"}
    assert last == calls[-1][1] and np.isfinite(last["total"])


def test_photometric_loss_without_video_is_an_error():
    with pytest.raises(ValueError, match="photometric_max_weight"):
        Trainer(tiny_config(), make_flow_set(), None)
    no_rgb = replace(tiny_config(), losses=replace(tiny_config().losses, photometric_max_weight=0.0))
    assert Trainer(no_rgb, make_flow_set(), None).fit(1, progress=False)["photometric"] == 0.0


def test_non_finite_loss_stops_the_fit(monkeypatch):
    def nan_losses(model, batch, step, size, generator):
        total = sum(p.sum() for p in model.parameters()) * float("nan")
        return {"total": total, "flow": total.detach()}

    monkeypatch.setattr("omnimotion_core.model.trainer.compute_losses", nan_losses)
    trainer = Trainer(tiny_config(), make_flow_set(), tiny_video())
    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        trainer.fit(1, progress=False)
