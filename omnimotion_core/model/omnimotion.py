"""The OmniMotion model: latent codes psi_i, bijections T_i and the canonical field F."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omnimotion_core.model.bijection import build_frame_map
from omnimotion_core.model.config import OmniMotionConfig
from omnimotion_core.model.fields import CanonicalField, LatentCodes
from omnimotion_core.model.surface_model import SurfaceMotion


class OmniMotion(nn.Module):
    """Quasi-3D representation of one video of N frames.

    Args:
        config: the model's configuration tree (only the network parts are read here).
        num_frames: N.
        generator: source of every initial value and of the bijection's axis split.

    ``bijection`` is the Real-NVP :class:`Bijection` or, with ``config.bijection.kind = "mlp"``, the
    non-invertible ablation :class:`MLPDeformation`.

    The buffer ``steps_trained`` (int64 scalar) counts the optimisation steps behind the weights, so that
    inference renders the way training did (the nearest samples are masked early in training).
    """

    steps_trained: Tensor

    def __init__(self, config: OmniMotionConfig, num_frames: int, generator: torch.Generator) -> None:
        super().__init__()
        self.config = config
        self.latent = LatentCodes(num_frames, config.latent, generator)
        self.bijection = build_frame_map(config.latent.code_dim, config.bijection, generator)
        self.canonical = CanonicalField(config.canonical, generator)
        self.register_buffer("steps_trained", torch.zeros((), dtype=torch.int64))

    @property
    def num_frames(self) -> int:
        """N, frames of the video."""
        return int(self.latent.frame_times.shape[0])

    def latent_codes(self) -> Tensor:
        """psi of all frames: [N, code_dim]."""
        return self.latent()

    def to_canonical(self, x_i: Tensor, frame_i: Tensor, codes: Tensor) -> Tensor:
        """u = T_i(x_i). x_i: [M, 3] local; frame_i: int64 [M]; codes: [N, C] -> u: [M, 3]."""
        return self.bijection(x_i, codes, frame_i)

    def from_canonical(self, u: Tensor, frame_j: Tensor, codes: Tensor) -> Tensor:
        """x_j = T_j^-1(u). u: [M, 3] canonical; frame_j: int64 [M]; codes: [N, C] -> x_j: [M, 3]."""
        return self.bijection.inverse(u, codes, frame_j)

    def query_canonical(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """F(u). u: [..., 3] -> (colour [..., 3] in (0, 1), sigma [...] >= 0)."""
        return self.canonical(u)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by part, for per-part learning rates: ``latent``, ``bijection``, ``canonical``."""
        return {
            "latent": list(self.latent.parameters()),
            "bijection": list(self.bijection.parameters()),
            "canonical": list(self.canonical.parameters()),
        }

    def base_learning_rates(self) -> dict[str, float]:
        """The learning rate of each part of :meth:`param_groups` (``config.optimiser``)."""
        rates = self.config.optimiser
        return {"latent": rates.lr_latent, "bijection": rates.lr_bijection, "canonical": rates.lr_canonical}


MotionModel = OmniMotion | SurfaceMotion
"""A fitted video's model: the paper's volume model or the surface model (``config.representation``)."""


def build_model(config: OmniMotionConfig, num_frames: int, generator: torch.Generator) -> MotionModel:
    """The model of ``config.representation`` for a video of ``num_frames`` frames, initialised from
    ``generator`` (the surface model starts at the identity and draws nothing)."""
    if config.representation == "volume":
        return OmniMotion(config, num_frames, generator)
    if config.representation == "surface":
        return SurfaceMotion(config, num_frames)
    raise ValueError(f"representation must be 'volume' or 'surface', got {config.representation!r}")
