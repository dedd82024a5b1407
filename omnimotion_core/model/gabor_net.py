"""GaborNet: a multiplicative filter network whose filters are Gabor functions (Fathony et al., 2021)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from omnimotion_core.model.config import GaborNetConfig


def init_linear_(linear: nn.Linear, generator: torch.Generator) -> nn.Linear:
    """Give ``linear`` torch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``generator``."""
    bound = 1.0 / math.sqrt(linear.in_features)
    with torch.no_grad():
        nn.init.uniform_(linear.weight, -bound, bound, generator=generator)
        if linear.bias is not None:
            nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
    return linear


class GaborFilter(nn.Module):
    """One Gabor filter bank: sin(W x + b) * exp(-gamma/2 |x - mu|^2).

    Args:
        in_dim: input features.
        out_dim: number of filters.
        frequency_scale: multiplies the default-initialised W (times sqrt(gamma)).
        alpha: Gamma shape of the filter widths gamma.
        beta: Gamma rate of the filter widths gamma.
        generator: source of the initial values.
    """

    def __init__(
        self, in_dim: int, out_dim: int, frequency_scale: float, alpha: float, beta: float, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.linear = init_linear_(nn.Linear(in_dim, out_dim), generator)
        mu = 2.0 * torch.rand(out_dim, in_dim, generator=generator) - 1.0
        numpy_rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        gamma = torch.as_tensor(numpy_rng.gamma(alpha, 1.0 / beta, size=out_dim), dtype=torch.float32)
        self.mu = nn.Parameter(mu)
        self.gamma = nn.Parameter(gamma)
        with torch.no_grad():
            self.linear.weight.mul_(frequency_scale * gamma.sqrt()[:, None])
            nn.init.uniform_(self.linear.bias, -math.pi, math.pi, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """x: [..., in_dim] -> [..., out_dim]."""
        flat = x.reshape(-1, x.shape[-1])
        # -gamma/2 |x - mu|^2 = x . (gamma mu) - gamma/2 |mu|^2 - gamma/2 |x|^2, in two fused ops; the second
        # and the exp run in place on the first's fresh output (bitwise the same, one buffer instead of three).
        envelope = torch.addmm(-0.5 * self.gamma * (self.mu * self.mu).sum(-1), flat, (self.gamma[:, None] * self.mu).T)
        envelope = envelope.addr_((flat * flat).sum(-1), self.gamma, alpha=-0.5).exp_()
        out = torch.sin(self.linear(flat)) * envelope
        return out.reshape(*x.shape[:-1], out.shape[-1])


class GaborNet(nn.Module):
    """Multiplicative filter network: z_0 = g_0(x); z_l = g_l(x) * (W_l z_{l-1} + b_l); out = W_o z_L + b_o.

    Args:
        in_dim: input features.
        out_dim: output features.
        config: width, layers, input scale and filter-width prior.
        generator: source of the initial values.
    """

    def __init__(self, in_dim: int, out_dim: int, config: GaborNetConfig, generator: torch.Generator) -> None:
        super().__init__()
        num_filters = config.num_layers + 1
        self.filters = nn.ModuleList(
            GaborFilter(
                in_dim,
                config.width,
                frequency_scale=config.input_scale / math.sqrt(num_filters),
                alpha=config.alpha / num_filters,
                beta=config.beta,
                generator=generator,
            )
            for _ in range(num_filters)
        )
        self.hidden = nn.ModuleList(
            init_linear_(nn.Linear(config.width, config.width), generator) for _ in range(config.num_layers)
        )
        bound = math.sqrt(config.weight_scale / config.width)
        with torch.no_grad():
            for linear in self.hidden:
                nn.init.uniform_(linear.weight, -bound, bound, generator=generator)
        self.output = init_linear_(nn.Linear(config.width, out_dim), generator)

    def forward(self, x: Tensor) -> Tensor:
        """x: [..., in_dim] -> [..., out_dim]."""
        z = self.filters[0](x)
        for gabor, linear in zip(self.filters[1:], self.hidden, strict=True):
            z = gabor(x) * linear(z)
        return self.output(z)
