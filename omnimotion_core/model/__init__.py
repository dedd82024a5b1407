"""OmniMotion model and its test-time optimisation (pure torch; no file I/O).

Field components (``gabor_net``, ``encodings``, ``bijection``) -> fields (``fields``) -> model
(``omnimotion``); ``rendering`` composites rays and maps them between frames; ``losses`` and ``objective``
score a batch from ``sampling`` (steered by ``hard_mining``); ``trainer`` loops; ``query`` tracks points and
renders pseudo-depth. The ``surface`` representation (``config.representation``) replaces fields, rendering
and objective by ``grid_bijection`` -> ``surface_model`` -> ``surface_objective``; ``build_model`` picks.
"""

from omnimotion_core.model.config import PRESETS, OmniMotionConfig
from omnimotion_core.model.omnimotion import MotionModel, OmniMotion, build_model
from omnimotion_core.model.query import pseudo_depth, track
from omnimotion_core.model.trainer import Trainer

__all__ = ["PRESETS", "MotionModel", "OmniMotion", "OmniMotionConfig", "Trainer", "build_model", "pseudo_depth", "track"]
