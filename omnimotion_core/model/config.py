"""Typed configuration tree of the OmniMotion model and its test-time optimisation.

Defaults are the reference code's (``qianqianwang68/omnimotion``, see docs/METHOD.md). ``PRESETS`` holds
the named instances: ``"fast"`` (the default, sized for a CPU: the surface representation, one depth per pixel
and grid-conditioned couplings, :class:`SurfaceConfig`, 3,000 steps), and three of the paper's volume
representation: ``"paper"`` (the reference settings), ``"balanced"`` (the reference model with a GPU budget of
6,000 steps) and ``"fast-volume"`` (the CPU-sized volume model measured in METHOD.md: canonical width 128,
coupling MLPs width 64, K = 16, 8 pairs x 64 pixels, learning rates 5x on a cosine to 0.1x, 2,400 steps, hard
mining off; the ``fast`` preset before the surface model replaced it, kept for comparison and the ablations).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from omnimotion_core.flow.matches import MatchConfig


@dataclass(frozen=True)
class GaborNetConfig:
    """Multiplicative filter network with Gabor filters.

    Attributes:
        width: hidden features per layer.
        num_layers: number of multiplicative layers (the net has ``num_layers + 1`` Gabor filters).
        input_scale: frequency scale of the filters (split as ``input_scale / sqrt(num_layers + 1)``).
        alpha: Gamma shape of the filter widths (split as ``alpha / (num_layers + 1)``).
        beta: Gamma rate of the filter widths.
        weight_scale: scale of the uniform init of the hidden linear layers.
    """

    width: int
    num_layers: int
    alpha: float
    input_scale: float = 256.0
    beta: float = 1.0
    weight_scale: float = 1.0


@dataclass(frozen=True)
class CanonicalFieldConfig:
    """Canonical network F: canonical point u -> (colour, density).

    Attributes:
        net: the GaborNet (input 3, output 4).
        density_shift: sigma = softplus(out[3] - density_shift).
        contract: apply the mip-NeRF-360 contraction to u before the net.
    """

    net: GaborNetConfig = field(default_factory=lambda: GaborNetConfig(width=512, num_layers=3, alpha=3.0))
    density_shift: float = 1.0
    contract: bool = True


@dataclass(frozen=True)
class LatentConfig:
    """Per-frame latent code psi_i = GaborNet(t), t = (i + 1) / N.

    Attributes:
        net: the GaborNet (input 1).
        code_dim: size of psi_i (the net's output).
    """

    net: GaborNetConfig = field(default_factory=lambda: GaborNetConfig(width=256, num_layers=2, alpha=4.5))
    code_dim: int = 128


@dataclass(frozen=True)
class BijectionConfig:
    """The map T_i between a frame's local space and the canonical space.

    Attributes:
        kind: ``"real_nvp"`` (the method: an exactly invertible Real-NVP) or ``"mlp"`` (the paper's "no
            invertible" ablation: local -> canonical is an MLP of (x, psi_i) and canonical -> local a second,
            separate MLP of (u, psi_i); both are trained only through the usual losses, no cycle term, so they
            are inverses of each other only as far as the losses make them). ``"mlp"`` uses
            ``hidden_dims``, ``encoding_dim`` and ``num_frequencies`` (of the 3D point) and ignores
            ``num_layers`` and ``max_log_scale``.
        num_layers: affine coupling layers.
        hidden_dims: hidden widths of each coupling MLP (LeakyReLU).
        encoding_dim: width of the projection of the positional encoding of the kept pair.
        num_frequencies: positional-encoding frequencies of the kept pair.
        max_log_scale: the log-scale s is clamped to [-max_log_scale, max_log_scale].
    """

    kind: Literal["real_nvp", "mlp"] = "real_nvp"
    num_layers: int = 6
    hidden_dims: tuple[int, ...] = (256, 256, 256)
    encoding_dim: int = 256
    num_frequencies: int = 4
    max_log_scale: float = 8.0


@dataclass(frozen=True)
class RenderingConfig:
    """Ray sampling, compositing and occlusion.

    Attributes:
        num_samples: K, depth samples per ray.
        near: nearest depth of the local frame.
        far: farthest depth of the local frame.
        inference: ``"max_weight"`` (the highest-weight sample, METHOD.md: better AJ) or ``"blend"``
            (weighted sum of samples: smoother tracks).
        occlusion_threshold: occluded when the weight in front of the predicted depth exceeds it.
        occlusion_margin: samples count as in front when depth < d_pred - margin * (far - near) / K.
        near_mask_fraction: fraction of nearest samples whose alpha is zeroed early in training.
        near_mask_steps: steps during which the nearest samples are masked (0 switches it off). Inference
            masks them too while the model has trained fewer steps (``OmniMotion.steps_trained``): those
            samples were never supervised, and leaving them in cost 10x in track error on a short fit.
    """

    num_samples: int = 32
    near: float = 0.0
    far: float = 2.0
    inference: Literal["max_weight", "blend"] = "max_weight"
    occlusion_threshold: float = 0.99
    occlusion_margin: float = 1.1
    near_mask_fraction: float = 0.2
    near_mask_steps: int = 4000


@dataclass(frozen=True)
class LossConfig:
    """Loss weights and schedules.

    Attributes:
        flow_weight: weight of the flow L1 (pixels).
        photometric_rate: photometric weight = min(step * rate, photometric_max_weight).
        photometric_max_weight: cap of the photometric weight (0 switches the term off).
        scene_flow_weight: weight of the scene-flow acceleration L1.
        scene_flow_fraction: fraction of each pair's pixels used for the scene-flow term.
        depth_range_weight: weight of the penalty on mapped depths outside [near, far].
        distortion_start: step after which the distortion weight ramps up.
        distortion_rate: distortion weight = min((step - start) * rate, distortion_max_weight).
        distortion_max_weight: cap of the distortion weight (0 switches the term off).
    """

    flow_weight: float = 1.0
    photometric_rate: float = 1.0 / 5000.0
    photometric_max_weight: float = 10.0
    scene_flow_weight: float = 20.0
    scene_flow_fraction: float = 0.25
    depth_range_weight: float = 10.0
    distortion_start: int = 40000
    distortion_rate: float = 1.0 / 2000.0
    distortion_max_weight: float = 10.0


@dataclass(frozen=True)
class SamplingConfig:
    """Which pairs and pixels make a training batch.

    Attributes:
        num_pairs: frame pairs per step.
        pixels_per_pair: pixels per pair.
        mode: ``"counts"`` (pairs by valid-correspondence counts, pixels by 1/sqrt(count + 1)) or
            ``"uniform"`` (uniform pairs within the window, uniform trusted pixels).
        window_start: largest frame gap at step 0.
        window_growth_steps: the window grows by one frame every this many steps.
        neighbour_weight: probability mass given to each of frames i - 1 and i + 1 before renormalising.
        hard_mining_every: steps between refreshes of the hard-mining error maps (0 switches hard mining
            off). At each refresh the model's predicted flow is compared with the input flow on a subsample
            of trusted pixels; afterwards half of each pair's pixels are drawn in proportion to the (blurred)
            error map of frame i and half as without hard mining, and half of the first frames in proportion
            to the frame's mean error and half uniformly. The reference refreshes every 20,000 steps.
        hard_mining_pairs_per_frame: pairs (i, j) evaluated per frame i at a refresh, drawn like training
            pairs (the current window and pair weights).
        hard_mining_pixels_per_pair: trusted pixels evaluated per pair at a refresh (uniform over trusted
            pixels). A refresh renders N * pairs_per_frame * pixels_per_pair rays without gradients.
        hard_mining_blur: standard deviation in pixels of the Gaussian that spreads the sparse errors into a
            per-frame map (normalised convolution: the blurred errors divided by the blurred probe density;
            pixels with no probe within 3 sigma get the frame's mean error).
        untrusted_pixels_per_pair: extra pixels per pair drawn uniformly among the pair's untrusted pixels
            (``valid`` False in the batch; the ``surface`` representation's occlusion hinge reads them). A
            pair without untrusted pixels gets trusted ones instead (marked valid).
    """

    num_pairs: int = 8
    pixels_per_pair: int = 256
    mode: Literal["counts", "uniform"] = "counts"
    window_start: int = 20
    window_growth_steps: int = 2000
    neighbour_weight: float = 0.5
    hard_mining_every: int = 20000
    hard_mining_pairs_per_frame: int = 4
    hard_mining_pixels_per_pair: int = 1024
    hard_mining_blur: float = 4.0
    untrusted_pixels_per_pair: int = 0


@dataclass(frozen=True)
class OptimiserConfig:
    """Adam with one learning rate per part, decayed over the fit.

    Attributes:
        lr_latent: learning rate of the latent net.
        lr_bijection: learning rate of the bijection.
        lr_canonical: learning rate of the canonical field.
        schedule: ``"step"`` (the reference: multiply by ``decay_factor`` every ``decay_steps``) or
            ``"cosine"`` (from the base rate down to ``final_factor`` times it at ``trainer.num_steps``).
        decay_steps: steps between learning-rate decays (``"step"``).
        decay_factor: multiplier applied at each decay (``"step"``).
        final_factor: the last step's rate as a fraction of the base rate (``"cosine"``).
    """

    lr_latent: float = 1e-3
    lr_bijection: float = 1e-4
    lr_canonical: float = 3e-4
    schedule: Literal["step", "cosine"] = "step"
    decay_steps: int = 20000
    decay_factor: float = 0.5
    final_factor: float = 0.1


@dataclass(frozen=True)
class TrainerConfig:
    """The optimisation loop.

    Attributes:
        num_steps: total optimisation steps of a fit.
        seed: seeds model initialisation and the sampling generator.
        autocast: run the coupling MLPs under bfloat16 autocast on CUDA (the Gabor nets stay float32);
            has no effect on CPU.
    """

    num_steps: int = 100000
    seed: int = 1234
    autocast: bool = False


@dataclass(frozen=True)
class GridBijectionConfig:
    """The grid-conditioned bijection of the ``surface`` representation (``grid_bijection``).

    Attributes:
        num_layers: affine coupling layers, cycling depth | x | y as the moved coordinate.
        resolutions: cells per side of each level of the per-frame planes (summed over levels).
        xy_extent: the planes cover x and y in [-xy_extent, xy_extent] (the frame is [-1, 1]; points that
            leave the frame keep their motion as far as this, and the border value beyond).
        depth_range: (low, high) depth covered by the planes.
        max_log_scale: |s| <= this (a soft tanh bound).
    """

    num_layers: int = 6
    resolutions: tuple[int, ...] = (4, 16, 64)
    xy_extent: float = 1.5
    depth_range: tuple[float, float] = (-0.5, 2.5)
    max_log_scale: float = 2.0


@dataclass(frozen=True)
class SurfaceConfig:
    """The ``surface`` representation: one depth per pixel and a grid-conditioned bijection.

    A pixel p of frame i sits at depth D_i(p) (a per-frame depth plane), is mapped by T_i to canonical space
    and by T_j^-1 into frame j at (p_j, z_j). It is visible in frame j when z_j is not behind frame j's own
    surface there: occluded when z_j > D_j(p_j) + ``occlusion_margin``.

    Attributes:
        bijection: the grid bijection.
        depth_resolution: cells per side of the per-frame depth planes.
        initial_depth: D_i at the start of the fit.
        occlusion_margin: inference: occluded when z_j - D_j(p_j) exceeds it (depth units).
        surface_weight: weight of |z_j - D_j(target)| on trusted correspondences (a visible point lands on
            frame j's surface).
        occlusion_weight: weight of the hinge max(0, D_j(p_j) + hinge_margin - z_j) on untrusted
            correspondences whose prediction lies inside frame j (a point that flow cannot follow is hidden).
        hinge_margin: how far behind frame j's surface the hinge pushes untrusted points.
        occlusion_max_gap: the hinge applies to pairs at most this many frames apart (long-gap pairs are
            untrusted mostly because flow failed, not because the point is hidden).
        outside_flow_max_gap: untrusted pixels whose flow target lies outside the frame still supervise the
            position at gaps up to this; None (default): at every gap. The motion of points that leave the
            frame is learnt, so they are found outside (occluded, as TAP-Vid counts them) instead of lost
            inside the frame; every gap rather than the reference's gap 1: on the 6 ceiling videos +8.5
            own-occlusion OA on exact correspondences and +1.3 on chained flow (benchmarks/RESULTS.md,
            "Session 12").
        anywhere_smoothness_weight: weight of the acceleration L1 of the batch's scene-flow pixels around a
            random frame k (frames k - 1, k, k + 1), which carries motion through frames where a point is
            hidden or has left the frame.
        gap_weighting: weight pairs by cos((gap - 1) / max_gap * pi / 2) as the reference does; False weighs
            every pair 1.
        motion_depth_offset: pixels that move unlike the camera start this much nearer than ``initial_depth``
            (``motion_depth``: per frame, the residual of the shortest-gap flow after a fitted similarity);
            0 starts every depth plane flat.
        motion_depth_scale: residual motion, pixels per frame, at which a pixel gets 76 % (tanh 1) of
            ``motion_depth_offset``.
        matches: how the long-gap descriptor matches are found (``omnimotion_core.flow.matches``; from the video
            the trainer is given).
        match_weight: weight (times ``losses.flow_weight``, and ``surface_weight`` for landing on frame j's
            surface) of the matches' position error; they link points across gaps and occlusions that chained
            flow loses. 0 switches matching off.
        matches_per_step: matches drawn (uniformly, with replacement) per step.
        lr_similarity: learning rate of the per-frame similarities.
        lr_planes: learning rate of the coupling planes.
        lr_depth: learning rate of the depth planes.
    """

    bijection: GridBijectionConfig = field(default_factory=GridBijectionConfig)
    depth_resolution: int = 128
    initial_depth: float = 1.0
    occlusion_margin: float = 0.1
    surface_weight: float = 20.0
    occlusion_weight: float = 20.0
    hinge_margin: float = 0.2
    occlusion_max_gap: int = 2
    outside_flow_max_gap: int | None = None
    anywhere_smoothness_weight: float = 20.0
    gap_weighting: bool = False
    motion_depth_offset: float = 0.3
    motion_depth_scale: float = 3.0
    matches: MatchConfig = field(default_factory=MatchConfig)
    match_weight: float = 4.0
    matches_per_step: int = 512
    lr_similarity: float = 1e-3
    lr_planes: float = 1e-3
    lr_depth: float = 1e-3


@dataclass(frozen=True)
class OmniMotionConfig:
    """Root of the model configuration tree.

    ``representation`` picks the model: ``"volume"`` (the paper's: 32 density samples per ray through a
    canonical GaborNet, Real-NVP with MLP couplings; ``canonical``, ``latent``, ``bijection``, ``rendering``
    apply) or ``"surface"`` (one depth per pixel, grid-conditioned couplings, occlusion by depth test;
    ``surface`` applies). ``losses``, ``sampling``, ``optimiser`` (schedule) and ``trainer`` apply to both.
    """

    representation: Literal["volume", "surface"] = "volume"
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    canonical: CanonicalFieldConfig = field(default_factory=CanonicalFieldConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    bijection: BijectionConfig = field(default_factory=BijectionConfig)
    rendering: RenderingConfig = field(default_factory=RenderingConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _fast_volume_preset() -> OmniMotionConfig:
    """The CPU-sized volume model of METHOD.md ("Measured here on a 2-core CPU").

    Hard mining is off: on 2 synthetic bench videos (24 frames) refreshing every 600 steps lowered AJ
    from 17.8 to 15.7 at 2,400 steps (benchmarks/RESULTS.md). Its probe sizes are kept for when it is
    switched on (``sampling.hard_mining_every``). The learning rates fall along a cosine to 0.1x at the
    last step: on the same videos (chained flow) AJ 21.9 at 2,400 steps against 20.9 with the reference's
    step decay (one seed).
    """
    paper = OmniMotionConfig()
    return replace(
        paper,
        canonical=replace(paper.canonical, net=replace(paper.canonical.net, width=128)),
        bijection=replace(paper.bijection, hidden_dims=(64, 64, 64), encoding_dim=64),
        rendering=replace(paper.rendering, num_samples=16),
        sampling=replace(
            paper.sampling,
            pixels_per_pair=64,
            hard_mining_every=0,
            hard_mining_pairs_per_frame=2,
            hard_mining_pixels_per_pair=256,
        ),
        optimiser=replace(paper.optimiser, lr_latent=5e-3, lr_bijection=5e-4, lr_canonical=1.5e-3, schedule="cosine"),
        trainer=replace(paper.trainer, num_steps=2400),
    )


def _balanced_preset() -> OmniMotionConfig:
    """The reference model for GPUs on a budget: 6,000 steps instead of 100,000, bfloat16 autocast.

    Sized from the H200 step times in benchmarks/RESULTS.md (paper preset: 72 ms fp32, 54 ms bf16 per
    step): 6,000 bf16 steps take about 5.5 minutes, 1/20th of the paper's 100,000 fp32 steps (2 h). It takes
    from ``fast-volume`` what was measured to pay at short budgets on CPU: 5x learning rates on a cosine schedule and
    no hard mining.
    Its accuracy against ``paper`` is not measured yet (no GPU time-to-accuracy run so far).
    """
    paper = OmniMotionConfig()
    return replace(
        paper,
        sampling=replace(paper.sampling, hard_mining_every=0),
        optimiser=replace(paper.optimiser, lr_latent=5e-3, lr_bijection=5e-4, lr_canonical=1.5e-3, schedule="cosine"),
        trainer=replace(paper.trainer, num_steps=6000, autocast=True),
    )


def _fast_preset() -> OmniMotionConfig:
    """The default: the surface representation sized for a CPU. 16 pairs x (512 trusted + 128 untrusted) pixels
    per step, the whole video as the pair window from the first step, no photometric term (it has no colour
    field). On the pipeline's DIS ``medium`` chained flow of 2 synthetic bench videos (seed 0) it is ahead of
    the volume model (``fast-volume``) in AJ, delta_avg and OA in a third of the CPU time
    (benchmarks/RESULTS.md, "Session 9")."""
    paper = OmniMotionConfig()
    return replace(
        paper,
        representation="surface",
        losses=replace(paper.losses, photometric_max_weight=0.0, distortion_max_weight=0.0),
        sampling=replace(
            paper.sampling, num_pairs=16, pixels_per_pair=512, untrusted_pixels_per_pair=128, window_start=10000,
            hard_mining_every=0,
        ),
        optimiser=replace(paper.optimiser, schedule="cosine"),
        trainer=replace(paper.trainer, num_steps=3000),
    )


PRESETS: dict[str, OmniMotionConfig] = {
    "paper": OmniMotionConfig(),
    "balanced": _balanced_preset(),
    "fast": _fast_preset(),
    "fast-volume": _fast_volume_preset(),
}
