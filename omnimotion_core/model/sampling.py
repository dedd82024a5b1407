"""Training batches: which frame pairs and which pixels each optimisation step sees.

Pairs: the first frame i is uniform; the second frame j lies within a window of frame gaps that grows with
the step (``window_start + step // window_growth_steps``) and is drawn in proportion to the pair's number of
trusted correspondences, with the neighbours i - 1 and i + 1 set to ``neighbour_weight`` each before
renormalising. Pixels: trusted pixels of the pair, drawn in proportion to 1 / sqrt(count + 1), then
``untrusted_pixels_per_pair`` more drawn uniformly among its untrusted pixels (``valid`` False; none by
default). ``mode="uniform"`` makes both draws uniform. All randomness comes from the sampler's own generator.

The sampler reads the masks and flow of only the pairs it draws, through a
:class:`~omnimotion_core.flow_set.PairSource`: an in-memory :class:`~omnimotion_core.flow_set.FlowSet` or a
source that streams pairs from disk. The draws depend on the values read, not on where they come from, so
the same seed gives the same batches from either.

Hard mining: once per-frame error maps have been given (:meth:`BatchSampler.set_error_maps`, computed by
``hard_mining.refresh_error_maps`` on the pixels that :meth:`BatchSampler.draw_probe` picks), half of the
first frames are drawn in proportion to their mean error and half uniformly, and half of each pair's pixels
in proportion to the error map of frame i and half as above. The maps are part of the sampler's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from omnimotion_core.flow_set import PairSource
from omnimotion_core.model.config import SamplingConfig


@dataclass(frozen=True)
class Batch:
    """One step's correspondences.

    Attributes:
        frame_i: int64 [B], source frame of each pair.
        frame_j: int64 [B], target frame of each pair.
        px_i: [B, P, 2] (x, y) source pixels (integer positions).
        px_j: [B, P, 2] (x, y) flow targets in frame j, pixels.
        valid: bool [B, P], trusted correspondences.
        rgb_i: [B, P, 3] colour of the source pixels in [0, 1], or None without a video.
        max_gap: the current window, the max_gap of the pair weighting.
    """

    frame_i: Tensor
    frame_j: Tensor
    px_i: Tensor
    px_j: Tensor
    valid: Tensor
    rgb_i: Tensor | None
    max_gap: int

    def to(self, device: torch.device | str) -> Batch:
        """The batch with every tensor on ``device``."""
        return Batch(
            frame_i=self.frame_i.to(device),
            frame_j=self.frame_j.to(device),
            px_i=self.px_i.to(device),
            px_j=self.px_j.to(device),
            valid=self.valid.to(device),
            rgb_i=None if self.rgb_i is None else self.rgb_i.to(device),
            max_gap=self.max_gap,
        )


def _to_tensor(array: np.ndarray) -> Tensor:
    """Share a numpy array's memory with torch; copy read-only arrays (torch cannot share those)."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def current_window(step: int, num_frames: int, config: SamplingConfig) -> int:
    """Largest frame gap sampled at ``step``: min(window_start + step // window_growth_steps, N - 1)."""
    return min(config.window_start + step // config.window_growth_steps, num_frames - 1)


def pair_probabilities(pair_counts: Tensor, window: int, config: SamplingConfig) -> Tensor:
    """P(j | i) for every frame i.

    Args:
        pair_counts: [N, N] trusted correspondences of pair (i, j); 0 where the pair is absent or empty.
        window: largest frame gap allowed.
        config: mode and neighbour weight.

    Returns:
        [N, N] rows summing to 1, or all zero for a frame with no usable pair.
    """
    num_frames = pair_counts.shape[0]
    frames = torch.arange(num_frames)
    gap = (frames[None, :] - frames[:, None]).abs()
    candidate = (gap >= 1) & (gap <= window) & (pair_counts > 0)
    if config.mode == "counts":
        weights = pair_counts.to(torch.float64) * candidate
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
        weights = torch.where(candidate & (gap == 1), config.neighbour_weight, weights)
    elif config.mode == "uniform":
        weights = candidate.to(torch.float64)
    else:
        raise ValueError(f"sampling mode must be 'counts' or 'uniform', got {config.mode!r}")
    return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)


class BatchSampler:
    """Draws training batches from a video's pairwise correspondences (and optionally its colours).

    Args:
        flow_set: pairwise flow, masks and counts of the video: a FlowSet in memory or any PairSource.
        video: float [T, H, W, 3] in [0, 1], or None (then batches carry no colours).
        config: batch size, mode and window.
        generator: the sampler's random source (its state is part of the trainer's state).
    """

    def __init__(
        self, flow_set: PairSource, video: np.ndarray | None, config: SamplingConfig, generator: torch.Generator
    ) -> None:
        height, width = flow_set.size
        if video is not None and video.shape != (flow_set.num_frames, height, width, 3):
            raise ValueError(
                f"BatchSampler: video must be [{flow_set.num_frames}, {height}, {width}, 3], got {video.shape}"
            )
        if config.hard_mining_every < 0 or config.hard_mining_blur < 0:
            raise ValueError(
                "BatchSampler: sampling.hard_mining_every and hard_mining_blur must be >= 0 (every=0 switches "
                f"hard mining off), got {config.hard_mining_every} and {config.hard_mining_blur}"
            )
        probe_size = min(config.hard_mining_pairs_per_frame, config.hard_mining_pixels_per_pair)
        if config.hard_mining_every > 0 and probe_size < 1:
            raise ValueError(
                "BatchSampler: hard mining is on but sampling.hard_mining_pairs_per_frame="
                f"{config.hard_mining_pairs_per_frame}, hard_mining_pixels_per_pair="
                f"{config.hard_mining_pixels_per_pair} (both must be >= 1)"
            )
        self.config = config
        self.generator = generator
        self.source = flow_set
        self.num_frames = flow_set.num_frames
        self.width = width
        self.pairs = _to_tensor(flow_set.pairs).long()
        self.video = None if video is None else _to_tensor(video).float()
        pair_counts = torch.zeros(self.num_frames, self.num_frames, dtype=torch.int64)
        pair_counts[self.pairs[:, 0], self.pairs[:, 1]] = torch.from_numpy(flow_set.trusted_per_pair())
        self.pair_counts = pair_counts
        self.pair_index = torch.full((self.num_frames, self.num_frames), -1, dtype=torch.int64)
        self.pair_index[self.pairs[:, 0], self.pairs[:, 1]] = torch.arange(len(self.pairs))
        counts = _to_tensor(flow_set.counts).double()
        if config.mode == "counts":
            self.pixel_weights = (1.0 / torch.sqrt(counts + 1.0)).flatten(1)
        elif config.mode == "uniform":
            self.pixel_weights = torch.ones_like(counts).flatten(1)
        else:
            raise ValueError(f"sampling mode must be 'counts' or 'uniform', got {config.mode!r}")
        if not bool((self.pair_counts > 0).any()):
            raise ValueError("BatchSampler: the FlowSet has no trusted correspondence in any pair")
        self.size = (height, width)
        self.error_maps: Tensor | None = None

    def _read_trusted(self, pair: Tensor) -> Tensor:
        """bool [B, H * W], the masks of pair rows ``pair`` [B], read from the source."""
        return _to_tensor(self.source.read_masks(pair.numpy())).flatten(1)

    def _batch_at(self, frame_i: Tensor, frame_j: Tensor, flat: Tensor, trusted: Tensor, window: int) -> Batch:
        """The batch of pixels ``flat`` [B, P] (y * W + x) of pairs (frame_i [B], frame_j [B]) whose masks
        are ``trusted`` [B, H * W]."""
        pair = self.pair_index[frame_i, frame_j]
        y, x = flat // self.width, flat % self.width
        px_i = torch.stack([x, y], dim=-1).float()
        px_j = px_i + _to_tensor(self.source.read_flow(pair.numpy(), y.numpy(), x.numpy()))
        rgb_i = None if self.video is None else self.video[frame_i[:, None], y, x]
        valid = trusted.gather(1, flat)
        return Batch(frame_i=frame_i, frame_j=frame_j, px_i=px_i, px_j=px_j, valid=valid, rgb_i=rgb_i, max_gap=window)

    def _first_frame_weights(self, usable: Tensor) -> Tensor:
        """[N] weights of the first frame: uniform over usable frames, or half by mean error once mined."""
        if self.error_maps is None:
            return usable.double()
        uniform = usable.double() / usable.sum()
        frame_error = self.error_maps.flatten(1).mean(dim=1).double() * usable
        return 0.5 * uniform + 0.5 * frame_error / frame_error.sum().clamp_min(1e-12)

    def _pixel_weights(self, frame_i: Tensor, trusted: Tensor) -> Tensor:
        """[B, H * W] pixel weights of each pair given its mask ``trusted`` [B, H * W]: trusted pixels, by count
        (or uniform), half by error once mined."""
        base = trusted * self.pixel_weights[frame_i]
        if self.error_maps is None:
            return base
        hard = trusted * self.error_maps[frame_i].flatten(1).double()
        base = base / base.sum(dim=1, keepdim=True)
        return 0.5 * base + 0.5 * hard / hard.sum(dim=1, keepdim=True).clamp_min(1e-12)

    def sample(self, step: int) -> Batch:
        """The batch of optimisation step ``step`` (on the CPU)."""
        window = current_window(step, self.num_frames, self.config)
        probabilities = pair_probabilities(self.pair_counts, window, self.config)
        usable = probabilities.sum(dim=1) > 0
        frame_i = torch.multinomial(
            self._first_frame_weights(usable), self.config.num_pairs, replacement=True, generator=self.generator
        )
        frame_j = torch.multinomial(probabilities[frame_i], 1, generator=self.generator)[:, 0]
        trusted = self._read_trusted(self.pair_index[frame_i, frame_j])
        pixel_weights = self._pixel_weights(frame_i, trusted)
        flat = torch.multinomial(pixel_weights, self.config.pixels_per_pair, replacement=True, generator=self.generator)
        if self.config.untrusted_pixels_per_pair > 0:
            untrusted = ~trusted
            untrusted |= ~untrusted.any(dim=1, keepdim=True)
            extra = torch.multinomial(
                untrusted.double(), self.config.untrusted_pixels_per_pair, replacement=True, generator=self.generator
            )
            flat = torch.cat([flat, extra], dim=1)
        return self._batch_at(frame_i, frame_j, flat, trusted, window)

    def draw_probe(self, step: int) -> Batch:
        """The pixels a hard-mining refresh evaluates at ``step``.

        Every frame i with a usable pair gets ``hard_mining_pairs_per_frame`` pairs (i, j), drawn like
        training pairs, and each pair ``hard_mining_pixels_per_pair`` trusted pixels, drawn uniformly.

        Returns:
            a Batch of B = (usable frames) * pairs_per_frame pairs x P = pixels_per_pair pixels.
        """
        window = current_window(step, self.num_frames, self.config)
        probabilities = pair_probabilities(self.pair_counts, window, self.config)
        frames = torch.nonzero(probabilities.sum(dim=1) > 0)[:, 0]
        frame_i = frames.repeat_interleave(self.config.hard_mining_pairs_per_frame)
        frame_j = torch.multinomial(
            probabilities[frames], self.config.hard_mining_pairs_per_frame, replacement=True, generator=self.generator
        ).flatten()
        trusted = self._read_trusted(self.pair_index[frame_i, frame_j])
        flat = torch.multinomial(
            trusted.double(), self.config.hard_mining_pixels_per_pair, replacement=True, generator=self.generator
        )
        return self._batch_at(frame_i, frame_j, flat, trusted, window)

    def set_error_maps(self, error_maps: Tensor) -> None:
        """Make later batches sample where the model's flow is wrong.

        Args:
            error_maps: float [N, H, W] >= 0, the model's flow error around each pixel of each frame (pixels).
        """
        expected = (self.num_frames, *self.size)
        if tuple(error_maps.shape) != expected:
            raise ValueError(
                f"BatchSampler.set_error_maps: expected [N, H, W] = {list(expected)}, got {list(error_maps.shape)}"
            )
        if not bool(torch.isfinite(error_maps).all()) or bool((error_maps < 0).any()):
            raise ValueError("BatchSampler.set_error_maps: error maps must be finite and >= 0")
        self.error_maps = error_maps.detach().to("cpu", torch.float32).clone()

    def state_dict(self) -> dict[str, Tensor]:
        """The generator state and the hard-mining error maps (when set), so a resumed fit draws the same batches."""
        state = {"generator": self.generator.get_state()}
        if self.error_maps is not None:
            state["error_maps"] = self.error_maps.clone()
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`state_dict` (a state without ``error_maps`` clears them)."""
        self.generator.set_state(state["generator"])
        if "error_maps" in state:
            self.set_error_maps(state["error_maps"])
        else:
            self.error_maps = None
