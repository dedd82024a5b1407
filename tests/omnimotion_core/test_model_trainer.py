"""The optimisation loop: determinism, exact resume, callbacks, param groups and input checks."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from omnimotion_core.model.config import (
    PRESETS,
    BijectionConfig,
    GaborNetConfig,
    OmniMotionConfig,
    OptimiserConfig,
)
from omnimotion_core.model.query import track
from omnimotion_core.model.trainer import Trainer, learning_rate
from tests.omnimotion_core.test_model_sampling import make_flow_set


def tiny_config() -> OmniMotionConfig:
    fast = PRESETS["fast-volume"]
    return replace(
        fast,
        canonical=replace(fast.canonical, net=GaborNetConfig(width=16, num_layers=2, alpha=3.0)),
        latent=replace(fast.latent, net=GaborNetConfig(width=16, num_layers=1, alpha=4.5), code_dim=8),
        bijection=BijectionConfig(num_layers=3, hidden_dims=(16,), encoding_dim=8),
        rendering=replace(fast.rendering, num_samples=8),
        sampling=replace(fast.sampling, num_pairs=2, pixels_per_pair=8, hard_mining_every=0),
    )


def tiny_video() -> np.ndarray:
    return np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)


def test_learning_rate_halves_every_decay_steps():
    optimiser = OptimiserConfig(decay_steps=20000, decay_factor=0.5)
    assert learning_rate(1e-3, 19999, optimiser, 100000) == 1e-3
    assert learning_rate(1e-3, 40000, optimiser, 100000) == pytest.approx(2.5e-4)


def test_cosine_learning_rate_falls_from_base_to_the_final_fraction():
    optimiser = OptimiserConfig(schedule="cosine", final_factor=0.1)
    assert learning_rate(1e-3, 0, optimiser, 2400) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 1200, optimiser, 2400) == pytest.approx(0.55e-3)
    assert learning_rate(1e-3, 2400, optimiser, 2400) == pytest.approx(1e-4)
    assert learning_rate(1e-3, 5000, optimiser, 2400) == pytest.approx(1e-4)


def test_param_groups_carry_the_three_rates():
    trainer = Trainer(OmniMotionConfig(), make_flow_set(), tiny_video())
    rates = {group["name"]: group["lr"] for group in trainer.optimiser.param_groups}
    assert rates == {"latent": 1e-3, "bijection": 1e-4, "canonical": 3e-4}


def test_same_seed_gives_same_fit():
    first, second = (Trainer(tiny_config(), make_flow_set(), tiny_video()) for _ in range(2))
    first.fit(3)
    second.fit(3)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


def hard_mining_config() -> OmniMotionConfig:
    """tiny_config with hard mining every 4 steps on a small probe."""
    sampling = replace(
        tiny_config().sampling, hard_mining_every=4, hard_mining_pairs_per_frame=2, hard_mining_pixels_per_pair=8
    )
    return replace(tiny_config(), sampling=sampling)


@pytest.mark.parametrize(
    ("config", "split"),
    [(tiny_config(), 10), (hard_mining_config(), 6), (hard_mining_config(), 8)],
    ids=["plain", "hard_mining_between_refreshes", "hard_mining_at_a_refresh"],
)
def test_resumed_fit_matches_uninterrupted_fit(config, split):
    straight = Trainer(config, make_flow_set(), tiny_video())
    straight.fit(20)
    interrupted = Trainer(config, make_flow_set(), tiny_video())
    interrupted.fit(split)
    state = copy.deepcopy(interrupted.state_dict())
    resumed = Trainer(replace(config, trainer=replace(config.trainer, seed=7)), make_flow_set(), tiny_video())
    resumed.load_state_dict(state)
    resumed.fit(20 - split)
    assert resumed.step == 20 and int(resumed.model.steps_trained) == 20
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    if config.sampling.hard_mining_every > 0:
        assert straight.sampler.error_maps is not None
        assert torch.equal(straight.sampler.error_maps, resumed.sampler.error_maps)


def test_hard_mining_refreshes_every_n_steps():
    trainer = Trainer(hard_mining_config(), make_flow_set(), tiny_video())
    trainer.fit(4)
    assert trainer.sampler.error_maps is None  # refreshed before step 4, i.e. in the fifth step
    trainer.fit(1)
    first = trainer.sampler.error_maps.clone()
    trainer.fit(4)
    assert not torch.equal(first, trainer.sampler.error_maps)
    off = replace(hard_mining_config(), sampling=replace(hard_mining_config().sampling, hard_mining_every=0))
    untouched = Trainer(off, make_flow_set(), tiny_video())
    untouched.fit(9)
    assert untouched.sampler.error_maps is None


def test_no_invertible_ablation_trains_and_resumes():
    config = replace(tiny_config(), bijection=replace(tiny_config().bijection, kind="mlp"))
    trainer = Trainer(config, make_flow_set(), tiny_video())
    before = [p.detach().clone() for p in trainer.model.bijection.parameters()]
    last = trainer.fit(3)
    assert np.isfinite(last["total"])
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.bijection.parameters(), strict=True))
    rebuilt = Trainer(replace(config, trainer=replace(config.trainer, seed=9)), make_flow_set(), tiny_video())
    rebuilt.load_state_dict(copy.deepcopy(trainer.state_dict()))
    for a, b in zip(trainer.model.state_dict().values(), rebuilt.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    trainer.fit(2)
    rebuilt.fit(2)
    for a, b in zip(trainer.model.parameters(), rebuilt.model.parameters(), strict=True):
        assert torch.equal(a, b)
    tracks, occluded = track(trainer.model, torch.tensor([[0.0, 2.0, 3.0], [2.0, 1.0, 1.0]]), 4, (6, 6))
    assert tracks.shape == (2, 4, 2) and occluded.shape == (2, 4) and torch.isfinite(tracks).all()


def test_callback_every_n_steps_gets_loss_terms():
    calls = []
    trainer = Trainer(tiny_config(), make_flow_set(), tiny_video())
    last = trainer.fit(4, callback=lambda step, losses: calls.append((step, losses)), callback_every=2)
    assert [step for step, _ in calls] == [2, 4]
    assert set(calls[0][1]) == {"total", "flow", "photometric", "scene_flow", "depth_range", "distortion"}
    assert trainer.loss_terms == ("total", "flow", "photometric", "scene_flow", "depth_range", "distortion")
    assert last == calls[-1][1] and np.isfinite(last["total"])


def test_photometric_loss_without_video_is_an_error():
    with pytest.raises(ValueError, match="photometric_max_weight"):
        Trainer(tiny_config(), make_flow_set(), None)
    no_rgb = replace(tiny_config(), losses=replace(tiny_config().losses, photometric_max_weight=0.0))
    assert Trainer(no_rgb, make_flow_set(), None).fit(1)["photometric"] == 0.0


def test_non_finite_loss_stops_the_fit(monkeypatch):
    def nan_losses(model, batch, step, size, generator):
        total = sum(p.sum() for p in model.parameters()) * float("nan")
        return {"total": total, "flow": total.detach()}

    monkeypatch.setattr("omnimotion_core.model.trainer.compute_losses", nan_losses)
    trainer = Trainer(tiny_config(), make_flow_set(), tiny_video())
    with pytest.raises(FloatingPointError, match="loss is nan at step 1"):
        trainer.fit(1)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_takes_a_finite_step(preset):
    config = PRESETS[preset]
    config = replace(config, sampling=replace(config.sampling, num_pairs=2, pixels_per_pair=4))  # its nets, few rays
    trainer = Trainer(config, make_flow_set(), tiny_video())
    trainer.fit(1)
    assert trainer.step == 1
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_balanced_preset_is_the_reference_model_on_a_gpu_budget():
    paper, balanced = PRESETS["paper"], PRESETS["balanced"]
    assert (balanced.canonical, balanced.latent, balanced.bijection, balanced.rendering) == (
        paper.canonical, paper.latent, paper.bijection, paper.rendering)
    assert balanced.trainer.num_steps * 16 <= paper.trainer.num_steps
    assert balanced.trainer.autocast and balanced.sampling.hard_mining_every == 0
