"""Real-NVP bijection T_i between frame i's local 3D space and the canonical 3D space.

Each affine coupling layer keeps two coordinates and moves the third one:
local -> canonical ``x' = (x - t) e^-s``, canonical -> local ``x = x' e^s + t``, with (s, t) computed from
the kept pair (positional encoding) and the frame's latent code. The kept pair is unchanged by the layer,
so the inverse recomputes the same (s, t): the map is exactly invertible by construction.

The axis split is drawn from a passed-in generator at construction and stored as the registered buffer
``axis_order`` [L, 3] = (kept axis, kept axis, moved axis), so a state_dict restores it.

``MLPDeformation`` is the paper's "no invertible" ablation (``BijectionConfig.kind = "mlp"``): two separate
MLPs for the two directions; :func:`build_frame_map` picks one by the config.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import Tensor, nn

from omnimotion_core.model.config import BijectionConfig
from omnimotion_core.model.encodings import PositionalEncoding
from omnimotion_core.model.gabor_net import init_linear_


def draw_axis_order(num_layers: int, generator: torch.Generator) -> Tensor:
    """Axis split of each coupling layer: every run of 3 layers moves each axis once, in random order.

    Returns:
        int64 [num_layers, 3]: (kept, kept, moved) axis indices per layer; kept axes ascending.
    """
    moved: list[int] = []
    while len(moved) < num_layers:
        moved.extend(int(a) for a in torch.randperm(3, generator=generator))
    rows = [[*(a for a in range(3) if a != m), m] for m in moved[:num_layers]]
    return torch.tensor(rows, dtype=torch.int64)


class CouplingLayer(nn.Module):
    """Computes (s, t) of one affine coupling layer from the kept pair and the frame's code.

    The MLP input is [projection of PE(kept pair), projection of psi]; its first linear layer is split into
    a per-point part and a per-frame part, so the code part is computed once per frame.

    Args:
        code_dim: size of the latent code psi.
        config: widths and encoding.
        generator: source of the initial values.
    """

    def __init__(self, code_dim: int, config: BijectionConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.max_log_scale = config.max_log_scale
        self.encoding = PositionalEncoding(2, config.num_frequencies)
        self.encoding_projection = init_linear_(nn.Linear(self.encoding.out_dim, config.encoding_dim), generator)
        self.code_projection = nn.Sequential(
            init_linear_(nn.Linear(code_dim, code_dim), generator),
            nn.LeakyReLU(),
            init_linear_(nn.Linear(code_dim, code_dim), generator),
        )
        widths = config.hidden_dims
        first = init_linear_(nn.Linear(config.encoding_dim + code_dim, widths[0]), generator)
        self.first_point = nn.Linear(config.encoding_dim, widths[0])
        self.first_code = nn.Linear(code_dim, widths[0], bias=False)
        with torch.no_grad():
            self.first_point.weight.copy_(first.weight[:, : config.encoding_dim])
            self.first_point.bias.copy_(first.bias)
            self.first_code.weight.copy_(first.weight[:, config.encoding_dim :])
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.LeakyReLU(), init_linear_(nn.Linear(width_in, width_out), generator)]
        layers += [nn.LeakyReLU(), init_linear_(nn.Linear(widths[-1], 2), generator)]
        self.head = nn.Sequential(*layers)

    def condition(self, codes: Tensor) -> Tensor:
        """Per-frame term of the first MLP layer. codes: [F, C] -> [F, hidden_dims[0]]."""
        return self.first_code(self.code_projection(codes))

    def log_scale_and_shift(self, kept: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        """(s, t) for points with kept coordinates ``kept`` [M, 2] and per-point condition [M, hidden].

        The condition is added and the activations run in place (each follows a fresh linear output that
        nothing else reads): fewer [M, hidden] buffers, bitwise the same results, 0.80x the CPU time of a
        coupling layer's forward + backward (benchmarks/RESULTS.md, "Step profile").

        Returns:
            s [M, 1] clamped to [-max_log_scale, max_log_scale], t [M, 1].
        """
        features = nn.functional.leaky_relu_(self.encoding_projection(self.encoding(kept)))
        hidden = self.first_point(features).add_(condition)
        for linear in self.head[1::2]:  # the head is [LeakyReLU, Linear] * n
            hidden = linear(nn.functional.leaky_relu_(hidden))
        return hidden[:, :1].clamp(-self.max_log_scale, self.max_log_scale), hidden[:, 1:]


class _PerPointRows:
    """Picks row ``frame[m]`` of a per-frame table for every point m.

    For few frames a one-hot matmul (its backward is a small matmul; indexing's backward is a scatter that
    was 4x slower on CPU); for many frames an embedding lookup (the one-hot's cost grows with the frames).
    """

    max_one_hot_frames = 32

    def __init__(self, frame: Tensor, num_frames: int, dtype: torch.dtype) -> None:
        self.frame = frame
        use_one_hot = num_frames <= self.max_one_hot_frames
        self.one_hot = nn.functional.one_hot(frame, num_frames).to(dtype) if use_one_hot else None

    def __call__(self, table: Tensor) -> Tensor:
        """table: [F, D] -> [M, D]."""
        if self.one_hot is None:
            return nn.functional.embedding(self.frame, table)
        return self.one_hot @ table


class Bijection(nn.Module):
    """T_i: local points x_i of frame i <-> canonical points u, conditioned on the frame's code psi_i.

    Args:
        code_dim: size of the latent code psi.
        config: number of layers and coupling-MLP widths.
        generator: source of the axis split and the initial values.
    """

    axis_order: Tensor

    def __init__(self, code_dim: int, config: BijectionConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("axis_order", draw_axis_order(config.num_layers, generator))
        self.layers = nn.ModuleList(CouplingLayer(code_dim, config, generator) for _ in range(config.num_layers))

    def forward(self, x: Tensor, codes: Tensor, frame: Tensor) -> Tensor:
        """Local -> canonical.

        Args:
            x: [M, 3] local points, (x, y) in [-1, 1], z in [near, far].
            codes: [F, C] latent codes of the frames.
            frame: int64 [M], row of ``codes`` of each point's frame.

        Returns:
            u: [M, 3] canonical points.
        """
        return self._transform(x, codes, frame, "to_canonical")

    def inverse(self, u: Tensor, codes: Tensor, frame: Tensor) -> Tensor:
        """Canonical -> local; the exact inverse of :meth:`forward` (same arguments, u: [M, 3])."""
        return self._transform(u, codes, frame, "to_local")

    def _transform(
        self, points: Tensor, codes: Tensor, frame: Tensor, direction: Literal["to_canonical", "to_local"]
    ) -> Tensor:
        _check_points(points, frame, "Bijection")
        if direction == "to_canonical":
            order = range(len(self.layers))
        elif direction == "to_local":
            order = reversed(range(len(self.layers)))
        else:
            raise ValueError(f"direction must be 'to_canonical' or 'to_local', got {direction!r}")
        per_point = _PerPointRows(frame, codes.shape[0], points.dtype)
        for index in order:
            layer = self.layers[index]
            axes = self.axis_order[index]
            kept = points.index_select(1, axes[:2])
            moved = points.index_select(1, axes[2:])
            s, t = layer.log_scale_and_shift(kept, per_point(layer.condition(codes)))
            if direction == "to_canonical":
                moved = (moved - t) * torch.exp(-s)
            else:
                moved = moved * torch.exp(s) + t
            points = torch.cat([kept, moved], dim=1).index_select(1, torch.argsort(axes))
        return points


class DeformationMLP(nn.Module):
    """One direction of the non-invertible ablation: p -> p + MLP([projection of PE(p), projection of psi]).

    The same layout as a coupling layer's MLP (the code part of the first layer is computed once per frame),
    but over all three coordinates and with a 3D output offset.

    Args:
        code_dim: size of the latent code psi.
        config: widths and encoding.
        generator: source of the initial values.
    """

    def __init__(self, code_dim: int, config: BijectionConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.encoding = PositionalEncoding(3, config.num_frequencies)
        self.encoding_projection = init_linear_(nn.Linear(self.encoding.out_dim, config.encoding_dim), generator)
        self.code_projection = nn.Sequential(
            init_linear_(nn.Linear(code_dim, code_dim), generator),
            nn.LeakyReLU(),
            init_linear_(nn.Linear(code_dim, code_dim), generator),
        )
        widths = config.hidden_dims
        self.first_point = init_linear_(nn.Linear(config.encoding_dim, widths[0]), generator)
        self.first_code = init_linear_(nn.Linear(code_dim, widths[0], bias=False), generator)
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.LeakyReLU(), init_linear_(nn.Linear(width_in, width_out), generator)]
        layers += [nn.LeakyReLU(), init_linear_(nn.Linear(widths[-1], 3), generator)]
        self.head = nn.Sequential(*layers)

    def forward(self, points: Tensor, codes: Tensor, frame: Tensor) -> Tensor:
        """points: [M, 3]; codes: [F, C]; frame: int64 [M] (row of ``codes``) -> [M, 3] mapped points."""
        condition = _PerPointRows(frame, codes.shape[0], points.dtype)(self.first_code(self.code_projection(codes)))
        features = nn.functional.leaky_relu(self.encoding_projection(self.encoding(points)))
        return points + self.head(self.first_point(features) + condition)


class MLPDeformation(nn.Module):
    """The paper's "no invertible" ablation of T_i: two separate MLPs, NOT inverses of each other.

    local -> canonical is ``to_canonical_net(x, psi_i)`` and canonical -> local is ``to_local_net(u, psi_j)``;
    nothing but the usual losses couples them (the paper's ablation adds no cycle term). Same interface as
    :class:`Bijection`.

    Args:
        code_dim: size of the latent code psi.
        config: MLP widths and encoding (``num_layers`` and ``max_log_scale`` are unused).
        generator: source of the initial values.
    """

    def __init__(self, code_dim: int, config: BijectionConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.to_canonical_net = DeformationMLP(code_dim, config, generator)
        self.to_local_net = DeformationMLP(code_dim, config, generator)

    def forward(self, x: Tensor, codes: Tensor, frame: Tensor) -> Tensor:
        """Local -> canonical. x: [M, 3] local; codes: [F, C]; frame: int64 [M] -> u: [M, 3]."""
        _check_points(x, frame, "MLPDeformation")
        return self.to_canonical_net(x, codes, frame)

    def inverse(self, u: Tensor, codes: Tensor, frame: Tensor) -> Tensor:
        """Canonical -> local by the second MLP (only approximately the inverse of :meth:`forward`)."""
        _check_points(u, frame, "MLPDeformation")
        return self.to_local_net(u, codes, frame)


def _check_points(points: Tensor, frame: Tensor, where: str) -> None:
    """Raise unless points is [M, 3] and frame is [M]."""
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{where}: points must be [M, 3], got {tuple(points.shape)}")
    if frame.shape != points.shape[:1]:
        raise ValueError(f"{where}: frame must be [M={points.shape[0]}], got {tuple(frame.shape)}")


def build_frame_map(code_dim: int, config: BijectionConfig, generator: torch.Generator) -> Bijection | MLPDeformation:
    """The T_i of ``config.kind``: :class:`Bijection` (``"real_nvp"``) or :class:`MLPDeformation` (``"mlp"``)."""
    if config.kind == "real_nvp":
        return Bijection(code_dim, config, generator)
    if config.kind == "mlp":
        return MLPDeformation(code_dim, config, generator)
    raise ValueError(f"bijection.kind must be 'real_nvp' or 'mlp', got {config.kind!r}")
