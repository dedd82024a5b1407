"""The methods that fit a model, registered in the method registry: the full OmniMotion model, the paper's
ablations and the surface model's, each an edit of the preset's :class:`OmniMotionConfig`."""

from __future__ import annotations

from dataclasses import replace

from omnimotion_core.model import OmniMotionConfig
from omnimotion_core.registry import METHODS, ModelMethod

_FIT_OPTIONS = ("--preset", "--steps", "--seed", "--fit-device", "--cpu-threads", "--fit-resources")


def _uniform_sampling(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, sampling=replace(config.sampling, mode="uniform", hard_mining_every=0))


def _no_photometric(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, losses=replace(config.losses, photometric_max_weight=0.0))


def _no_invertible(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, bijection=replace(config.bijection, kind="mlp"))


def _no_matches(config: OmniMotionConfig) -> OmniMotionConfig:
    return replace(config, surface=replace(config.surface, match_weight=0.0))


_ABLATION = "ablation of the paper's volume model: "

for _method in (
    ModelMethod(name="omnimotion", description="fit the OmniMotion model per video (the preset's representation)",
                options=_FIT_OPTIONS, configure=lambda config: config),
    ModelMethod(name="omnimotion-uniform", description=_ABLATION + "pairs and pixels drawn uniformly (no hard mining)",
                options=_FIT_OPTIONS, configure=_uniform_sampling, representations=("volume",)),
    ModelMethod(name="omnimotion-no-photometric", description=_ABLATION + "no photometric loss",
                options=_FIT_OPTIONS, configure=_no_photometric, representations=("volume",)),
    ModelMethod(name="omnimotion-no-invertible", description=_ABLATION + "two MLPs instead of the invertible mapping",
                options=_FIT_OPTIONS, configure=_no_invertible, representations=("volume",)),
    ModelMethod(name="omnimotion-no-matches", description="ablation of the surface model: no long-gap descriptor matches",
                options=_FIT_OPTIONS, configure=_no_matches, representations=("surface",)),
):
    METHODS.register(_method)
