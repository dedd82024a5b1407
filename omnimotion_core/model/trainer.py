"""Test-time optimisation loop: batch -> model -> losses -> optimiser step. Nothing else lives here."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from omnimotion_core.flow.matches import Matches, find_matches
from omnimotion_core.flow_set import PairSource
from omnimotion_core.model.config import OmniMotionConfig, OptimiserConfig
from omnimotion_core.model.hard_mining import refresh_error_maps
from omnimotion_core.model.match_sampling import MatchSampler
from omnimotion_core.model.motion_depth import motion_depth_offsets
from omnimotion_core.model.objective import LOSS_TERMS, compute_losses
from omnimotion_core.model.omnimotion import OmniMotion, build_model
from omnimotion_core.model.sampling import BatchSampler
from omnimotion_core.model.surface_model import SurfaceMotion
from omnimotion_core.model.surface_objective import SURFACE_LOSS_TERMS, compute_surface_losses

StepCallback = Callable[[int, dict[str, float]], None]
"""``callback(step, losses)``: the steps done and the loss terms of that step, as floats."""
ProgressCallback = Callable[[int], None]
"""``on_step(step)``: called after every step with the steps done (no loss is read, so no device sync)."""


def learning_rate(base: float, step: int, optimiser: OptimiserConfig, num_steps: int) -> float:
    """The rate at ``step``: ``base * decay_factor ** (step // decay_steps)`` for the ``"step"`` schedule,
    ``base * (f + (1 - f) * (1 + cos(pi * step / num_steps)) / 2)`` with ``f = final_factor`` for ``"cosine"``."""
    if optimiser.schedule == "step":
        return base * optimiser.decay_factor ** (step // optimiser.decay_steps)
    if optimiser.schedule == "cosine":
        progress = min(step / max(num_steps, 1), 1.0)
        return base * (optimiser.final_factor + (1.0 - optimiser.final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
    raise ValueError(f"optimiser.schedule must be 'step' or 'cosine', got {optimiser.schedule!r}")


class Trainer:
    """Fits an OmniMotion model to one video's all-pairs flow.

    The model is initialised from ``config.trainer.seed``; batches and depth jitter come from a generator
    seeded with ``seed + 1`` whose state is saved by :meth:`state_dict`, so a resumed fit is identical to an
    uninterrupted one. With hard mining on, the error maps are refreshed before every step that is a positive
    multiple of ``config.sampling.hard_mining_every`` (see ``hard_mining``); they are saved with the sampler.

    Args:
        config: the configuration tree.
        flow_set: all-pairs flow, masks and counts of the video (a ``FlowSet`` in memory, or any
            ``PairSource``, e.g. one streaming pairs from a store).
        video: float [T, H, W, 3] in [0, 1]; required when the photometric term is on
            (``config.losses.photometric_max_weight > 0``) or the surface model matches frames
            (``config.surface.match_weight > 0``) and ``matches`` is None, else may be None.
        device: ``"cpu"`` or ``"cuda"`` (or a torch.device).
        on_matching: while the surface model matches frames, called with the frames done after each one (see
            ``find_matches``: about 1.3 s a frame for 82 frames at 256x256 on one thread), or None.
        matches: the video's long-gap matches when they were found before (e.g. by the run a resumed fit
            continues; they must come from ``find_matches`` on the same frames and ``config.surface.matches``),
            or None to find them here. Only read when the surface model matches frames.
    """

    def __init__(
        self, config: OmniMotionConfig, flow_set: PairSource, video: np.ndarray | None, device: torch.device | str = "cpu",
        on_matching: Callable[[int], None] | None = None, matches: Matches | None = None,
    ) -> None:
        if video is None and config.losses.photometric_max_weight > 0:
            raise ValueError(
                "Trainer: the photometric loss is on (losses.photometric_max_weight > 0) but no video was given; "
                "pass the video or set photometric_max_weight=0"
            )
        matching = config.representation == "surface" and config.surface.match_weight > 0
        if video is None and matching and matches is None:
            raise ValueError(
                "Trainer: the surface model's long-gap matches are on (surface.match_weight > 0) but no video was "
                "given; pass the video (or its matches) or set match_weight=0"
            )
        self.config = config
        self.device = torch.device(device)
        self.size = flow_set.size
        seed = config.trainer.seed
        self.model = build_model(config, flow_set.num_frames, torch.Generator().manual_seed(seed)).to(self.device)
        if isinstance(self.model, SurfaceMotion) and config.surface.motion_depth_offset != 0:
            surface = config.surface
            offsets = motion_depth_offsets(flow_set, surface.depth_resolution, surface.motion_depth_offset,
                                           surface.motion_depth_scale)
            self.model.offset_depth(torch.from_numpy(offsets))
        self.sampler = BatchSampler(flow_set, video, config.sampling, torch.Generator().manual_seed(seed + 1))
        self.match_sampler: MatchSampler | None = None
        self.matches: Matches | None = None
        """The video's long-gap matches, given or found (None: the model does not match frames)."""
        if matching:
            if matches is None:
                frames = np.clip(np.round(video * 255.0), 0, 255).astype(np.uint8)
                matches = find_matches(frames, config.surface.matches, on_matching)
            elif len(matches) and int(matches.frames.max()) >= flow_set.num_frames:
                raise ValueError(f"Trainer: the matches given link frame {int(matches.frames.max())} but the video has "
                                 f"{flow_set.num_frames} frames; they were found in another video")
            self.matches = matches
            if len(matches) > 0:
                self.match_sampler = MatchSampler(matches, config.surface.matches_per_step,
                                                  torch.Generator().manual_seed(seed + 2))
        groups = self.model.param_groups()
        self.base_rates = self.model.base_learning_rates()
        self.optimiser = torch.optim.Adam(  # foreach: the CUDA default; on CPU 0.8x the update time, same values
            [{"params": groups[name], "lr": lr, "name": name} for name, lr in self.base_rates.items()], foreach=True
        )
        self.step = 0

    @property
    def loss_terms(self) -> tuple[str, ...]:
        """Names of the loss terms each step reports (``total`` first), those of the model's representation."""
        return SURFACE_LOSS_TERMS if isinstance(self.model, SurfaceMotion) else LOSS_TERMS

    def fit(
        self,
        num_steps: int | None = None,
        callback: StepCallback | None = None,
        callback_every: int = 100,
        on_step: ProgressCallback | None = None,
    ) -> dict[str, float]:
        """Run ``num_steps`` more steps (default: up to ``config.trainer.num_steps``).

        Args:
            num_steps: steps to run from the current step.
            callback: called as ``callback(step, losses)`` after every ``callback_every``-th step, with the
                step count done so far and that step's loss terms as floats.
            callback_every: steps between callbacks.
            on_step: called as ``on_step(step)`` after every step, e.g. to report progress (see
                ``progress.ProgressMeter``).

        Returns:
            the loss terms of the last step, as floats (empty when no step ran).

        Raises:
            FloatingPointError: the loss became NaN or infinite (checked every 10 steps, at callbacks and at
                the end); resume from an earlier state rather than retrying.
        """
        steps = self.config.trainer.num_steps - self.step if num_steps is None else num_steps
        if steps < 0:
            raise ValueError(f"Trainer.fit: num_steps must be >= 0, got {steps}")
        last: dict[str, float] = {}
        self.model.train()
        for index in range(steps):
            terms = self._one_step()
            self.step += 1
            self.model.steps_trained.fill_(self.step)
            due = callback is not None and self.step % callback_every == 0
            if due or self.step % 10 == 0 or index == steps - 1:
                last = {name: float(value) for name, value in terms.items()}
                if not np.isfinite(last["total"]):
                    raise FloatingPointError(f"Trainer.fit: loss is {last['total']} at step {self.step}: {last}")
            if due:
                callback(self.step, last)
            if on_step is not None:
                on_step(self.step)
        return last

    def _one_step(self) -> dict[str, torch.Tensor]:
        for group in self.optimiser.param_groups:
            group["lr"] = learning_rate(
                self.base_rates[group["name"]], self.step, self.config.optimiser, self.config.trainer.num_steps
            )
        every = self.config.sampling.hard_mining_every
        if every > 0 and self.step > 0 and self.step % every == 0:
            refresh_error_maps(self.model, self.sampler, self.step, self.size)
        batch = self.sampler.sample(self.step).to(self.device)
        use_autocast = self.config.trainer.autocast and self.device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_autocast else contextlib.nullcontext()
        with autocast:
            if isinstance(self.model, OmniMotion):
                terms = compute_losses(self.model, batch, self.step, self.size, self.sampler.generator)
            else:
                matches = None if self.match_sampler is None else self.match_sampler.sample().to(self.device)
                terms = compute_surface_losses(self.model, batch, self.size, self.sampler.generator, matches)
        self.optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimiser.step()
        return {name: value.detach() for name, value in terms.items()}

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser, samplers (generators and hard-mining maps) and step: everything a resumed fit needs."""
        state = {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "sampler": self.sampler.state_dict(),
            "step": self.step,
        }
        if self.match_sampler is not None:
            state["match_sampler"] = self.match_sampler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the Trainer must have been built with the same config and data)."""
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.sampler.load_state_dict(state["sampler"])
        if self.match_sampler is not None:
            if "match_sampler" not in state:
                raise ValueError("Trainer.load_state_dict: the state has no match sampler but this fit matches frames")
            self.match_sampler.load_state_dict(state["match_sampler"])
        self.step = int(state["step"])
