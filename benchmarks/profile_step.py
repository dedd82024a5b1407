"""Where the time of one OmniMotion fit step goes, per part of the model, forward and backward.

    .venv/bin/python benchmarks/profile_step.py [--preset fast] [--threads 1 2] [--steps 20]

Builds the trainer the ``benchmark`` flow would build for the first synthetic ``bench`` video (24 frames,
128 px, processed at 256x256, all-pairs DIS flow in memory) and, for each thread count:

1. times plain fit steps (median of ``--repeats`` runs of ``--steps`` steps);
2. profiles ``--steps`` steps with torch.profiler, the model's parts labelled from this script (the model
   code is unchanged): forward time per part is its labelled range, backward time per part is the sum of
   the autograd nodes whose forward op ran inside that range (matched by sequence number);
3. prints the top aten ops by self time.

Parts: sampling (batch draw and depth jitter), latent GaborNet, bijection forward (local -> canonical) and
inverse (canonical -> local), canonical GaborNet, rendering (compositing and blending), losses, the rest of
the objective (reshapes, gathers), optimiser (zero_grad and Adam step), and AccumulateGrad.

``--compare`` also measures the speed changes made to the model files against the code they replaced
(kept below as ``REFERENCE``): both variants run in this process, interleaved, from the same state; it
prints the step-time ratio and the largest difference in loss terms and gradients after one step.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile, record_function

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import omnimotion_core.model.trainer as trainer_module
from omnimotion_core.flow import FlowConfig, compute_flow_set
from omnimotion_core.flow_set import FlowSet
from omnimotion_core.model import (
    OmniMotionConfig,
    Trainer,
    objective,
    rendering,
)
from omnimotion_core.model.bijection import CouplingLayer
from omnimotion_core.model.gabor_net import GaborFilter
from omnimotion_core.synthetic import generate_synthetic_video, resize_synthetic_preset
from storage.frames import resize_frame
from tasks.config import FitConfig
from tasks.flow import load_flow_engine

REGION = "part::"
"""Prefix of the profiler ranges this script opens around the model's parts."""


def build_inputs(frames: int, size: int, resolution: int) -> tuple[FlowSet, np.ndarray]:
    """The first synthetic bench video at ``resolution`` and its all-pairs DIS flow set (default flow settings)."""
    video_config = resize_synthetic_preset("bench", num_frames=frames, height=size, width=size).video
    video = generate_synthetic_video(video_config, seed=0).video
    video = np.stack([resize_frame(frame, (resolution, resolution)) for frame in video])
    flow = FlowConfig()
    flow_set = compute_flow_set(video, load_flow_engine(flow.engine), flow.pairs, flow.consistency)
    return flow_set, video.astype(np.float32) / 255.0


def _labelled(name: str, function: Callable) -> Callable:
    """``function`` inside a profiler range ``part::name``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with record_function(REGION + name):
            return function(*args, **kwargs)

    return wrapper


@contextmanager
def labelled_parts(trainer: Trainer) -> Iterator[None]:
    """Label the model's parts with profiler ranges (instance and module attributes, restored on exit)."""
    model = trainer.model
    instance_patches = [
        (trainer.sampler, "sample", "sampling"),
        (model.latent, "forward", "latent GaborNet"),
        (model.bijection, "forward", "bijection forward"),
        (model.bijection, "inverse", "bijection inverse"),
        (model.canonical, "forward", "canonical GaborNet"),
        (trainer.optimiser, "step", "optimiser"),
        (trainer.optimiser, "zero_grad", "optimiser"),
    ]
    module_patches = [
        (trainer_module, "compute_losses", "objective (rest)"),
        (objective, "sample_depths", "sampling"),
        (rendering, "composite", "rendering"),
        (objective, "blend_samples", "rendering"),
        *((objective, name, "losses") for name in (
            "flow_loss", "photometric_loss", "scene_flow_loss", "depth_range_loss", "distortion_loss"
        )),
    ]
    for owner, attribute, label in instance_patches:
        setattr(owner, attribute, _labelled(label, getattr(owner, attribute)))
    originals = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in module_patches]
    for owner, attribute, label in module_patches:
        setattr(owner, attribute, _labelled(label, getattr(owner, attribute)))
    try:
        yield
    finally:
        for owner, attribute, _ in instance_patches:
            owner.__dict__.pop(attribute, None)
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)


def _region_of(event) -> str:
    """The innermost labelled part enclosing a profiler event ("unlabelled" when none)."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(REGION):
            return parent.name[len(REGION):]
        parent = parent.cpu_parent
    return "unlabelled"


def breakdown(events) -> dict[str, dict[str, float]]:
    """Milliseconds per part: ``forward`` (labelled range minus nested ranges) and ``backward`` (autograd nodes
    of the forward ops in that range, matched by sequence number)."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: {"forward": 0.0, "backward": 0.0})
    forward_region: dict[int, str] = {}
    for event in events:
        if event.name.startswith(REGION):
            name = event.name[len(REGION):]
            nested = sum(child.cpu_time_total for child in event.cpu_children if child.name.startswith(REGION))
            table[name]["forward"] += (event.cpu_time_total - nested) / 1000
        elif event.sequence_nr >= 0 and not event.name.startswith("autograd::") and "Backward" not in event.name:
            forward_region.setdefault(event.sequence_nr, _region_of(event))
    for event in events:
        if event.name.startswith("autograd::engine::evaluate_function:") and event.cpu_parent is None:
            if "AccumulateGrad" in event.name:
                region = "AccumulateGrad"
            else:
                region = forward_region.get(event.sequence_nr, "unlabelled")
            table[region]["backward"] += event.cpu_time_total / 1000
    return dict(table)


def time_steps(trainer: Trainer, steps: int, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds per step over ``repeats`` runs of ``steps`` steps; the CPU time of the
    process is the figure to compare while other jobs share the cores."""
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit(num_steps=steps)
        runs.append(((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps))
    return statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs)


def profile_threads(config: OmniMotionConfig, flow_set: FlowSet, video: np.ndarray, threads: int, steps: int,
                    repeats: int) -> None:
    """Step time, per-part breakdown and top ops at ``threads`` CPU threads."""
    torch.set_num_threads(threads)
    trainer = Trainer(config, flow_set, video)
    trainer.fit(num_steps=10)
    wall, cpu = time_steps(trainer, steps, repeats)
    with labelled_parts(trainer), profile(activities=[ProfilerActivity.CPU]) as profiler:
        trainer.fit(num_steps=steps)
    events = profiler.events()
    parts = breakdown(events)
    total = sum(part["forward"] + part["backward"] for part in parts.values())
    print(f"\n## {threads} thread(s): {1000 * wall:.1f} ms wall, {1000 * cpu:.1f} ms CPU per step unprofiled (median of "
          f"{repeats} x {steps} steps); profiled parts sum to {total / steps:.1f} ms per step")
    print("| part | forward ms | backward ms | total ms | share |\n| :--- | ---: | ---: | ---: | ---: |")
    for name, part in sorted(parts.items(), key=lambda item: -(item[1]["forward"] + item[1]["backward"])):
        both = part["forward"] + part["backward"]
        print(f"| {name} | {part['forward'] / steps:.1f} | {part['backward'] / steps:.1f} | {both / steps:.1f} "
              f"| {100 * both / total:.1f} % |")
    print("\ntop aten ops by self CPU time (ms per step, calls per step):")
    averages = sorted(profiler.key_averages(), key=lambda item: -item.self_cpu_time_total)
    for item in [item for item in averages if item.key.startswith("aten::")][:12]:
        print(f"  {item.key:28s} {item.self_cpu_time_total / 1000 / steps:7.1f} ms  {item.count / steps:6.0f}")


def _reference_log_scale_and_shift(self: CouplingLayer, kept: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
    """CouplingLayer.log_scale_and_shift before the change: out-of-place add and activations."""
    features = nn.functional.leaky_relu(self.encoding_projection(self.encoding(kept)))
    st = self.head(self.first_point(features) + condition)
    return st[:, :1].clamp(-self.max_log_scale, self.max_log_scale), st[:, 1:]


def _reference_gabor_filter(self: GaborFilter, x: Tensor) -> Tensor:
    """GaborFilter.forward before the change: out-of-place addr and exp."""
    flat = x.reshape(-1, x.shape[-1])
    log_envelope = torch.addmm(-0.5 * self.gamma * (self.mu * self.mu).sum(-1), flat, (self.gamma[:, None] * self.mu).T)
    log_envelope = torch.addr(log_envelope, (flat * flat).sum(-1), self.gamma, alpha=-0.5)
    out = torch.sin(self.linear(flat)) * torch.exp(log_envelope)
    return out.reshape(*x.shape[:-1], out.shape[-1])


REFERENCE: dict[tuple[type, str], Callable] = {
    (CouplingLayer, "log_scale_and_shift"): _reference_log_scale_and_shift,
    (GaborFilter, "forward"): _reference_gabor_filter,
}
"""The code that the kept speed changes replaced, installed by :func:`reference_code` for the comparison."""


@contextmanager
def reference_code() -> Iterator[None]:
    """Run the model with the implementations of ``REFERENCE`` (the code before the speed changes)."""
    originals = {(owner, attribute): owner.__dict__[attribute] for owner, attribute in REFERENCE}
    for (owner, attribute), function in REFERENCE.items():
        setattr(owner, attribute, function)
    try:
        yield
    finally:
        for (owner, attribute), function in originals.items():
            setattr(owner, attribute, function)


def one_step_result(trainer: Trainer) -> tuple[dict[str, float], dict[str, Tensor]]:
    """Loss terms of one step and the gradients it left (taken before the optimiser's next zero_grad)."""
    losses = trainer.fit(num_steps=1)
    gradients = {name: parameter.grad.clone() for name, parameter in trainer.model.named_parameters()
                 if parameter.grad is not None}
    return losses, gradients


def compare(config: OmniMotionConfig, flow_set: FlowSet, video: np.ndarray, threads: int, steps: int,
            repeats: int) -> None:
    """Step-time ratio (current / reference code) and largest result difference, at ``threads`` threads."""
    torch.set_num_threads(threads)
    trainers = {"reference": Trainer(config, flow_set, video), "current": Trainer(config, flow_set, video)}
    with reference_code():
        reference_losses, reference_gradients = one_step_result(trainers["reference"])
    current_losses, current_gradients = one_step_result(trainers["current"])
    loss_difference = max(abs(current_losses[key] - reference_losses[key]) for key in reference_losses)
    gradient_difference = max(float((current_gradients[name] - reference_gradients[name]).abs().max())
                              for name in reference_gradients)
    times: dict[str, list[tuple[float, float]]] = {"reference": [], "current": []}
    for _ in range(repeats):
        with reference_code():
            times["reference"].append(time_steps(trainers["reference"], steps, 1))
        times["current"].append(time_steps(trainers["current"], steps, 1))
    (reference_wall, reference_cpu), (current_wall, current_cpu) = (
        tuple(statistics.median(run[k] for run in times[name]) for k in (0, 1)) for name in ("reference", "current")
    )
    print(f"\n## current vs reference code, {threads} thread(s): CPU {1000 * current_cpu:.1f} vs "
          f"{1000 * reference_cpu:.1f} ms per step, ratio {current_cpu / reference_cpu:.3f}; wall ratio "
          f"{current_wall / reference_wall:.3f} (median of {repeats} interleaved runs of {steps} steps); max |difference| "
          f"after one step: loss terms {loss_difference:.2e}, gradients {gradient_difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast-volume", help="model preset (the volume model: its parts are what is timed)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CPU thread counts to profile")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed run and per profile")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (the median is reported)")
    parser.add_argument("--frames", type=int, default=24, help="frames of the synthetic video")
    parser.add_argument("--size", type=int, default=128, help="synthetic frame size")
    parser.add_argument("--resolution", type=int, default=256, help="processing resolution (square)")
    parser.add_argument("--compare", action="store_true", help="also measure current vs reference code")
    args = parser.parse_args()
    config = FitConfig(preset=args.preset).model_config()
    flow_set, video = build_inputs(args.frames, args.size, args.resolution)
    print(f"preset {args.preset}: {config.sampling.num_pairs} pairs x {config.sampling.pixels_per_pair} pixels x "
          f"{config.rendering.num_samples} samples per step; {args.frames} frames at {args.resolution} px")
    for threads in args.threads:
        profile_threads(config, flow_set, video, threads, args.steps, args.repeats)
        if args.compare:
            compare(config, flow_set, video, threads, args.steps, args.repeats)


if __name__ == "__main__":
    main()
