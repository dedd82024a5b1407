"""Field components: GaborNet, encodings, contraction, bijection, canonical field, latent codes."""

import math
from dataclasses import replace

import pytest
import torch

from omnimotion_core.model.bijection import (
    Bijection,
    MLPDeformation,
    build_frame_map,
    draw_axis_order,
)
from omnimotion_core.model.config import PRESETS, BijectionConfig, GaborNetConfig
from omnimotion_core.model.encodings import contract_scene, encode_positions
from omnimotion_core.model.fields import CanonicalField, LatentCodes
from omnimotion_core.model.gabor_net import GaborNet
from omnimotion_core.model.omnimotion import OmniMotion

SMALL_BIJECTION = BijectionConfig(hidden_dims=(32, 32), encoding_dim=16)


def test_gabor_net_shape_and_seeded_init():
    config = GaborNetConfig(width=16, num_layers=2, alpha=3.0)
    net_a = GaborNet(3, 4, config, torch.Generator().manual_seed(0))
    net_b = GaborNet(3, 4, config, torch.Generator().manual_seed(0))
    x = torch.rand(5, 7, 3)
    assert net_a(x).shape == (5, 7, 4)
    torch.testing.assert_close(net_a(x), net_b(x), rtol=0, atol=0)
    assert len(net_a.filters) == 3 and len(net_a.hidden) == 2


def test_encode_positions_hand_case():
    x = torch.tensor([[0.5, -0.25]])
    out = encode_positions(x, 2)
    expected = [0.5, -0.25]
    expected += [math.sin(math.pi * 0.5), math.sin(2 * math.pi * 0.5), math.sin(-math.pi * 0.25), math.sin(-2 * math.pi * 0.25)]
    expected += [math.cos(math.pi * 0.5), math.cos(2 * math.pi * 0.5), math.cos(-math.pi * 0.25), math.cos(-2 * math.pi * 0.25)]
    torch.testing.assert_close(out, torch.tensor([expected]), atol=1e-6, rtol=0)


def test_contraction_keeps_unit_ball_and_squashes_outside():
    u = torch.tensor([[0.3, 0.4, 0.0], [3.0, 4.0, 0.0]])
    out = contract_scene(u)
    torch.testing.assert_close(out[0], u[0])
    torch.testing.assert_close(out[1], torch.tensor([0.6 * 1.8, 0.8 * 1.8, 0.0]))


def test_axis_order_moves_each_axis_once_per_three_layers():
    order = draw_axis_order(6, torch.Generator().manual_seed(3))
    assert order.shape == (6, 3)
    assert sorted(order[:3, 2].tolist()) == [0, 1, 2] and sorted(order[3:, 2].tolist()) == [0, 1, 2]
    for row in order.tolist():
        assert sorted(row) == [0, 1, 2] and row[0] < row[1]


def test_inverse_undoes_forward():
    bijection = Bijection(8, SMALL_BIJECTION, torch.Generator().manual_seed(0))
    codes = torch.randn(4, 8)
    frame = torch.randint(0, 4, (200,))
    x = torch.cat([torch.rand(200, 2) * 2 - 1, torch.rand(200, 1) * 2], dim=1)
    u = bijection(x, codes, frame)
    assert (u - x).abs().max() > 1e-2
    assert (bijection.inverse(u, codes, frame) - x).abs().max() < 1e-5


def test_state_dict_restores_axis_split_under_another_generator():
    config = PRESETS["fast-volume"]
    model = OmniMotion(config, 5, torch.Generator().manual_seed(0))
    rebuilt = OmniMotion(config, 5, torch.Generator().manual_seed(1))
    assert not torch.equal(model.bijection.axis_order, rebuilt.bijection.axis_order)
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(model.bijection.axis_order, rebuilt.bijection.axis_order)
    x = torch.rand(10, 3)
    frame = torch.arange(10) % 5
    with torch.no_grad():
        torch.testing.assert_close(
            rebuilt.to_canonical(x, frame, rebuilt.latent_codes()), model.to_canonical(x, frame, model.latent_codes())
        )


def test_canonical_field_ranges():
    field = CanonicalField(PRESETS["fast-volume"].canonical, torch.Generator().manual_seed(0))
    colour, sigma = field(torch.randn(6, 9, 3) * 3)
    assert colour.shape == (6, 9, 3) and sigma.shape == (6, 9)
    assert colour.min() > 0 and colour.max() < 1 and sigma.min() >= 0


def test_latent_codes_use_normalised_time():
    latent = LatentCodes(4, PRESETS["fast-volume"].latent, torch.Generator().manual_seed(0))
    torch.testing.assert_close(latent.frame_times, torch.tensor([0.25, 0.5, 0.75, 1.0]))
    assert latent().shape == (4, PRESETS["fast-volume"].latent.code_dim)


def test_many_frames_use_the_same_maths():
    bijection = Bijection(8, SMALL_BIJECTION, torch.Generator().manual_seed(0))
    codes = torch.randn(40, 8)
    frame = torch.randint(0, 40, (50,))
    x = torch.rand(50, 3)
    u = bijection(x, codes, frame)
    for m in range(0, 50, 7):
        single = bijection(x[m : m + 1], codes[frame[m : m + 1]], torch.zeros(1, dtype=torch.int64))
        torch.testing.assert_close(u[m : m + 1], single)
    assert (bijection.inverse(u, codes, frame) - x).abs().max() < 1e-5


def test_mlp_ablation_is_not_an_exact_inverse_at_init():
    deformation = MLPDeformation(8, replace(SMALL_BIJECTION, kind="mlp"), torch.Generator().manual_seed(0))
    codes = torch.randn(4, 8)
    frame = torch.randint(0, 4, (200,))
    x = torch.cat([torch.rand(200, 2) * 2 - 1, torch.rand(200, 1) * 2], dim=1)
    with torch.no_grad():
        u = deformation(x, codes, frame)
        round_trip = deformation.inverse(u, codes, frame)
    assert u.shape == (200, 3) and (u - x).abs().max() > 1e-2
    assert (round_trip - x).abs().max() > 1e-2


def test_mlp_ablation_state_dict_restores_both_directions():
    config = replace(PRESETS["fast-volume"], bijection=replace(PRESETS["fast-volume"].bijection, kind="mlp"))
    model = OmniMotion(config, 5, torch.Generator().manual_seed(0))
    rebuilt = OmniMotion(config, 5, torch.Generator().manual_seed(1))
    assert isinstance(model.bijection, MLPDeformation)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(10, 3)
    frame = torch.arange(10) % 5
    with torch.no_grad():
        codes, rebuilt_codes = model.latent_codes(), rebuilt.latent_codes()
        for direction in ("to_canonical", "from_canonical"):
            expected = getattr(model, direction)(x, frame, codes)
            torch.testing.assert_close(getattr(rebuilt, direction)(x, frame, rebuilt_codes), expected)


def test_unknown_frame_map_kind_raises():
    with pytest.raises(ValueError, match="bijection.kind must be 'real_nvp' or 'mlp', got 'affine'"):
        build_frame_map(8, replace(SMALL_BIJECTION, kind="affine"), torch.Generator())
