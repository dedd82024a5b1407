"""The training objective on a hand-built scene whose exact motion is known."""

from dataclasses import replace

import pytest
import torch

from omnimotion_core.model.config import PRESETS
from omnimotion_core.model.objective import compute_losses
from omnimotion_core.model.sampling import Batch


class SlidingWall:
    """An opaque wall at depth 1 of an (11, 21) video, sliding 1 px right and 1 px down per frame."""

    num_frames = 5
    config = PRESETS["fast-volume"]
    step = torch.tensor([0.1, 0.2, 0.0])

    def latent_codes(self):
        return torch.zeros(self.num_frames, 1)

    def to_canonical(self, x_i, frame_i, codes):
        return x_i - frame_i[:, None] * self.step

    def from_canonical(self, u, frame_j, codes):
        return u + frame_j[:, None] * self.step

    def query_canonical(self, u):
        wall = (u[..., 2] > 0.9) & (u[..., 2] < 1.1)
        return torch.full((*u.shape[:-1], 3), 0.5), 50.0 * wall


def make_batch(target_offset: float) -> Batch:
    px_i = torch.tensor([[[3.0, 4.0], [10.0, 2.0]], [[0.0, 0.0], [20.0, 10.0]]])
    frame_i, frame_j = torch.tensor([1, 3]), torch.tensor([2, 0])
    gap = (frame_j - frame_i).float()[:, None, None]
    px_j = px_i + gap + torch.tensor([target_offset, 0.0])
    return Batch(
        frame_i=frame_i, frame_j=frame_j, px_i=px_i, px_j=px_j,
        valid=torch.ones(2, 2, dtype=torch.bool), rgb_i=torch.full((2, 2, 3), 0.5), max_gap=3,
    )


def test_exact_motion_scores_zero():
    terms = compute_losses(SlidingWall(), make_batch(0.0), step=100, size=(11, 21), generator=torch.Generator().manual_seed(0))
    for name in ("flow", "scene_flow", "depth_range", "photometric"):
        assert terms[name].item() == pytest.approx(0.0, abs=1e-5), name
    assert terms["total"].item() == pytest.approx(0.0, abs=1e-4)


def test_flow_term_is_weighted_pixel_l1():
    terms = compute_losses(SlidingWall(), make_batch(1.0), step=100, size=(11, 21), generator=torch.Generator().manual_seed(0))
    # |dx| = 1, |dy| = 0 -> 0.5 per pixel; gap-1 pair weight 1, gap-3 pair weight cos(pi / 3) = 0.5
    assert terms["flow"].item() == pytest.approx((2 * 0.5 + 2 * 0.25) / 4, abs=1e-5)


def test_distortion_term_starts_at_its_step():
    model = SlidingWall()
    model.config = replace(PRESETS["fast-volume"], losses=replace(PRESETS["fast-volume"].losses, distortion_start=50))
    before = compute_losses(model, make_batch(0.0), step=50, size=(11, 21), generator=torch.Generator().manual_seed(0))
    after = compute_losses(model, make_batch(0.0), step=60, size=(11, 21), generator=torch.Generator().manual_seed(0))
    assert before["distortion"].item() == 0.0
    assert after["distortion"].item() > 0.0
