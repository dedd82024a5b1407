"""Tests for omnimotion_core.flow.raft: torchvision's layout, state-dict checks, flow shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from omnimotion_core.flow.engines import RaftEngineConfig
from omnimotion_core.flow.raft import (
    Raft,
    build_corr_pyramid,
    build_raft,
    compute_raft_flow,
    load_raft_state_dict,
    lookup_corr_pyramid,
    make_coords_grid,
    raft_variant_of,
    upsample_flow,
)

# torchvision/models/optical_flow/raft.py: Raft_Large_Weights / Raft_Small_Weights meta["num_params"].
TORCHVISION_NUM_PARAMS = {"large": 5_257_536, "small": 990_162}


@pytest.fixture(scope="module")
def models() -> dict[str, Raft]:
    torch.manual_seed(0)
    return {variant: build_raft(variant) for variant in ("large", "small")}


def _frames(batch: int, height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("variant", ["large", "small"])
def test_parameter_count_matches_torchvision(models, variant):
    assert sum(p.numel() for p in models[variant].parameters()) == TORCHVISION_NUM_PARAMS[variant]


def test_large_state_dict_names_and_shapes_follow_torchvision(models):
    shapes = {key: tuple(value.shape) for key, value in models["large"].state_dict().items()}
    assert shapes["context_encoder.convnormrelu.1.running_var"] == (64,)  # batch norm in the context encoder
    assert shapes["update_block.motion_encoder.convcorr1.0.weight"] == (256, 324, 1, 1)
    assert shapes["update_block.recurrent_block.convgru1.convz.weight"] == (128, 384, 1, 5)
    assert shapes["update_block.recurrent_block.convgru2.convq.weight"] == (128, 384, 5, 1)
    assert shapes["mask_predictor.convrelu.0.weight"] == (256, 128, 3, 3)
    assert shapes["mask_predictor.conv.weight"] == (576, 256, 1, 1)
    assert shapes["feature_encoder.layer2.0.downsample.0.weight"] == (96, 64, 1, 1)
    assert "context_encoder.layer2.0.downsample.1.num_batches_tracked" in shapes
    assert not any(key.startswith("feature_encoder.convnormrelu.1") for key in shapes)  # instance norm: no state


def test_small_state_dict_has_one_gru_one_corr_conv_and_no_mask_predictor(models):
    shapes = {key: tuple(value.shape) for key, value in models["small"].state_dict().items()}
    assert shapes["update_block.recurrent_block.convgru1.convz.weight"] == (96, 96 + 146, 3, 3)
    assert shapes["update_block.motion_encoder.convcorr1.0.weight"] == (96, 196, 1, 1)
    assert shapes["feature_encoder.layer1.0.convnormrelu3.0.weight"] == (32, 8, 1, 1)  # bottleneck blocks
    assert not any(".convgru2." in key or ".convcorr2." in key or key.startswith("mask_predictor") for key in shapes)
    assert not any(key.startswith("context_encoder") and "running" in key for key in shapes)  # no norm


@pytest.mark.parametrize("variant", ["large", "small"])
def test_raft_variant_of_detects_each_variant(models, variant):
    assert raft_variant_of(models[variant].state_dict()) == variant


def test_load_refuses_the_other_variant_naming_missing_keys():
    small_weights = build_raft("small").state_dict()
    message = r"raft_small checkpoint but the model is raft_large.*: \d+ missing \(context_encoder\."
    with pytest.raises(ValueError, match=message):
        load_raft_state_dict(build_raft("large"), small_weights)


def test_load_and_detection_refuse_another_network_naming_keys():
    other = nn.Sequential(nn.Conv2d(3, 8, 3)).state_dict()
    message = r"not a torchvision raft_small checkpoint.*missing \(feature_encoder.*unexpected \(0\.weight"
    with pytest.raises(ValueError, match=message):
        load_raft_state_dict(build_raft("small"), other)
    with pytest.raises(ValueError, match=r"not a torchvision RAFT checkpoint.*unexpected \(0.weight"):
        raft_variant_of(other)


def test_detection_refuses_a_mis_shaped_tensor_naming_it(models):
    weights = dict(models["small"].state_dict())
    weights["update_block.flow_head.conv2.bias"] = torch.zeros(3)
    message = r"1 wrong shape \(update_block\.flow_head\.conv2\.bias: expected \(2,\), got \(3,\)"
    with pytest.raises(ValueError, match=message):
        raft_variant_of(weights)


@pytest.mark.parametrize("variant", ["large", "small"])
def test_flow_has_input_size_for_sizes_not_divisible_by_8(models, variant):
    flow = compute_raft_flow(models[variant], _frames(1, 36, 52, 0), _frames(1, 36, 52, 1), num_iterations=2)
    assert flow.shape == (1, 36, 52, 2) and flow.dtype == np.float32


def test_random_model_gives_finite_flow_for_a_batch(models):
    flow = compute_raft_flow(models["large"], _frames(2, 40, 48, 2), _frames(2, 40, 48, 3), num_iterations=3)
    assert flow.shape == (2, 40, 48, 2)
    assert np.isfinite(flow).all() and np.abs(flow).max() > 0


def test_batch_items_match_single_pair_runs(models):
    frames_i, frames_j = _frames(2, 30, 44, 4), _frames(2, 30, 44, 5)
    batched = compute_raft_flow(models["small"], frames_i, frames_j, num_iterations=1)
    for b in range(2):
        single = compute_raft_flow(models["small"], frames_i[b : b + 1], frames_j[b : b + 1], num_iterations=1)
        np.testing.assert_allclose(batched[b], single[0], atol=1e-4)


def test_corr_lookup_channel_a_b_holds_offset_dx_a_minus_r_dy_b_minus_r():
    generator = torch.Generator().manual_seed(0)
    fmap_i = torch.randn(1, 5, 16, 16, generator=generator)
    fmap_j = torch.randn(1, 5, 16, 16, generator=generator)
    radius = 1
    coords_1 = make_coords_grid(1, 16, 16, torch.device("cpu"))  # identity: every cell matches itself
    features = lookup_corr_pyramid(build_corr_pyramid(fmap_i, fmap_j), coords_1, radius)
    assert features.shape == (1, 4 * 9, 16, 16)
    padded_j = torch.nn.functional.pad(fmap_j, (1, 1, 1, 1))  # outside the volume reads 0
    for a in range(3):
        for b in range(3):
            dx, dy = a - radius, b - radius
            shifted_j = padded_j[:, :, 1 + dy : 17 + dy, 1 + dx : 17 + dx]
            expected = (fmap_i * shifted_j).sum(dim=1) / 5**0.5
            torch.testing.assert_close(features[:, a * 3 + b], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("convex", [True, False])
def test_upsampling_keeps_constant_flow_and_scales_it_by_8(convex):
    flow = torch.tensor([1.5, -0.25]).reshape(1, 2, 1, 1).expand(1, 2, 3, 4)
    mask_logits = torch.randn(1, 576, 3, 4, generator=torch.Generator().manual_seed(0)) if convex else None
    upsampled = upsample_flow(flow, mask_logits)
    assert upsampled.shape == (1, 2, 24, 32)
    if convex:  # border pixels mix in the zero padding of unfold, as in RAFT; check the interior cells
        upsampled = upsampled[:, :, 8:16, 8:24]
    torch.testing.assert_close(upsampled, 8 * flow[:, :, :1, :1].expand_as(upsampled))


def test_rejects_frames_of_different_shapes_or_dtype(models):
    with pytest.raises(ValueError, match=r"same shape, got \(1, 36, 52, 3\) and \(1, 36, 50, 3\)"):
        compute_raft_flow(models["small"], _frames(1, 36, 52, 0), _frames(1, 36, 50, 0), num_iterations=1)
    with pytest.raises(ValueError, match=r"frames_j must be a uint8 \[B, H, W, 3\] RGB array, got float32"):
        compute_raft_flow(
            models["small"], _frames(1, 36, 52, 0), np.zeros((1, 36, 52, 3), np.float32), num_iterations=1
        )


def test_rejects_a_model_in_training_mode():
    model = build_raft("small").train()
    with pytest.raises(ValueError, match="training mode"):
        compute_raft_flow(model, _frames(1, 16, 16, 0), _frames(1, 16, 16, 1), num_iterations=1)


def test_nan_flow_raises_naming_the_pairs():
    model = build_raft("small")
    with torch.no_grad():
        model.update_block.flow_head.conv2.bias.fill_(float("nan"))
    message = r"NaN or infinite flow for pairs \(i, j\) \[\(0, 3\), \(1, 4\)\] of a batch of 2"
    with pytest.raises(ValueError, match=message):
        compute_raft_flow(model, _frames(2, 16, 16, 0), _frames(2, 16, 16, 1), num_iterations=1, pairs=[(0, 3), (1, 4)])


def test_raft_config_rejects_unknown_variant_and_zero_iterations():
    assert RaftEngineConfig().num_iterations == 20
    with pytest.raises(ValueError, match="'large' or 'small', got 'medium'"):
        RaftEngineConfig(variant="medium")
    with pytest.raises(ValueError, match="num_iterations must be >= 1, got 0"):
        RaftEngineConfig(num_iterations=0)
