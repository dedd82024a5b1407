"""Fields: the canonical field F (u -> colour, density) and the per-frame latent codes psi_i."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omnimotion_core.model.config import CanonicalFieldConfig, LatentConfig
from omnimotion_core.model.encodings import contract_scene
from omnimotion_core.model.gabor_net import GaborNet


class CanonicalField(nn.Module):
    """F: canonical point u -> (colour, density sigma); contraction -> GaborNet -> sigmoid / softplus.

    Args:
        config: GaborNet settings, density shift and contraction switch.
        generator: source of the initial values.
    """

    def __init__(self, config: CanonicalFieldConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.density_shift = config.density_shift
        self.contract = config.contract
        self.net = GaborNet(3, 4, config.net, generator)

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """u: [..., 3] canonical points -> (colour [..., 3] in (0, 1), sigma [...] >= 0).

        Always float32, also under autocast: the Gabor filters take sines of inputs scaled by ~100.
        """
        with torch.autocast(device_type=u.device.type, enabled=False):
            u = u.float()
            out = self.net(contract_scene(u) if self.contract else u)
        return torch.sigmoid(out[..., :3]), nn.functional.softplus(out[..., 3] - self.density_shift)


class LatentCodes(nn.Module):
    """psi_i = GaborNet(t_i) with normalised time t_i = (i + 1) / N; no embedding table.

    Args:
        num_frames: N, frames of the video (stored as the buffer ``frame_times`` [N]).
        config: GaborNet settings and code size.
        generator: source of the initial values.
    """

    frame_times: Tensor

    def __init__(self, num_frames: int, config: LatentConfig, generator: torch.Generator) -> None:
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"LatentCodes: need at least 2 frames, got {num_frames}")
        self.register_buffer("frame_times", torch.arange(1, num_frames + 1, dtype=torch.float32) / num_frames)
        self.net = GaborNet(1, config.code_dim, config.net, generator)

    def forward(self) -> Tensor:
        """Codes of all frames: [N, code_dim] (float32, also under autocast)."""
        with torch.autocast(device_type=self.frame_times.device.type, enabled=False):
            return self.net(self.frame_times[:, None])
