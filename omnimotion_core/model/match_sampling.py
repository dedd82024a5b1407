"""Batches of long-gap matches (``omnimotion_core.flow.matches``) for the surface model's match term."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from omnimotion_core.flow.matches import Matches


@dataclass(frozen=True)
class MatchBatch:
    """One step's matches.

    Attributes:
        frame_i: int64 [M], frame of each match's source point.
        frame_j: int64 [M], frame of its target.
        px_i: [M, 2] (x, y) source pixels.
        px_j: [M, 2] (x, y) target pixels.
    """

    frame_i: Tensor
    frame_j: Tensor
    px_i: Tensor
    px_j: Tensor

    def to(self, device: torch.device | str) -> MatchBatch:
        """The batch with every tensor on ``device``."""
        return MatchBatch(self.frame_i.to(device), self.frame_j.to(device), self.px_i.to(device), self.px_j.to(device))


class MatchSampler:
    """Draws ``per_step`` matches per step, uniformly with replacement, from its own generator.

    Args:
        matches: the video's matches (at least one).
        per_step: matches per batch (>= 1).
        generator: the random source (its state is part of the trainer's state).
    """

    def __init__(self, matches: Matches, per_step: int, generator: torch.Generator) -> None:
        if len(matches) == 0 or per_step < 1:
            raise ValueError(f"MatchSampler: needs at least one match and per_step >= 1, got {len(matches)} and {per_step}")
        self.frames = torch.from_numpy(matches.frames).long()
        self.source = torch.from_numpy(matches.source).float()
        self.target = torch.from_numpy(matches.target).float()
        self.per_step = per_step
        self.generator = generator

    def sample(self) -> MatchBatch:
        """The next batch (on the CPU)."""
        pick = torch.randint(0, len(self.frames), (self.per_step,), generator=self.generator)
        return MatchBatch(self.frames[pick, 0], self.frames[pick, 1], self.source[pick], self.target[pick])

    def state_dict(self) -> dict[str, Tensor]:
        """The generator state, so a resumed fit draws the same matches."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`state_dict`."""
        self.generator.set_state(state["generator"])
