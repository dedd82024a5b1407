"""The method registry with every built-in method registered: read it from here.

Importing this module registers the flow engines (:mod:`omnimotion_core.flow.engines`), the trackers
(:mod:`omnimotion_core.trackers`) and the model methods (:mod:`omnimotion_core.model_methods`); methods of
installed plugins are added on the first lookup (see :mod:`omnimotion_core.registry`).
"""

from __future__ import annotations

import omnimotion_core.flow.engines  # noqa: F401  (registers the flow engines)
import omnimotion_core.model_methods  # noqa: F401  (registers the model methods)
import omnimotion_core.trackers  # noqa: F401  (registers the trackers)
from omnimotion_core.registry import (
    KIND_NAMES,
    METHODS,
    FlowEngineMethod,
    Method,
    ModelMethod,
    TrackerMethod,
)

__all__ = ["METHODS", "FlowEngineMethod", "Method", "ModelMethod", "TrackerMethod", "format_methods", "run_methods"]


def run_methods() -> list[str]:
    """What ``benchmark --methods`` accepts: the model methods, then the trackers."""
    return METHODS.names(ModelMethod, TrackerMethod)


def format_methods() -> str:
    """Every registered method as a markdown list, one line each: name, kind, description and options
    (``omnimotion methods`` prints it; the README's method list is this text)."""
    lines = []
    for kind in (ModelMethod, TrackerMethod, FlowEngineMethod):
        for method in METHODS.methods(kind):
            options = f" Options: {', '.join(f'`{option}`' for option in method.options)}." if method.options else ""
            lines.append(f"- `{method.name}` ({KIND_NAMES[method.kind]}): {method.description}.{options}")
    return "\n".join(lines)
