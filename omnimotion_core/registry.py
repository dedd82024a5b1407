"""The one registry of methods: flow engines, trackers and model methods (the full model and its ablations).

Every method is a :class:`Method` entry: a name, what kind of method it is, a one-line description, the
command-line options it reads and a factory. The built-in entries are registered next to what they build
(``omnimotion_core/flow/engines.py``, ``omnimotion_core/trackers.py``, ``omnimotion_core/model_methods.py``);
:mod:`omnimotion_core.methods` imports those modules and is where the rest of the pipeline reads the
registry. An outside package adds methods through the entry point group :data:`ENTRY_POINT_GROUP`, whose
entries name a :class:`Method` or a sequence of them, e.g. in its ``pyproject.toml``::

    [project.entry-points."omnimotion_pipeline.methods"]
    my-tracker = "my_package.tracking:METHOD"

Entry points are read on the first listing, or lookup of a name not registered yet (see
:meth:`MethodRegistry.load_entry_points`), so that a plugin may import the modules that register built-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

    from omnimotion_core.flow.engines import FlowEngine, FlowEngineConfig
    from omnimotion_core.model.config import OmniMotionConfig

MethodKind = Literal["flow_engine", "tracker", "model"]
ENTRY_POINT_GROUP = "omnimotion_pipeline.methods"
"""Entry point group through which installed packages add methods."""


class Tracker(Protocol):
    """What every tracker is: frames and TAP-Vid query points in, tracks and occlusion out."""

    def __call__(self, frames: np.ndarray, query_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track the query points through the video.

        Args:
            frames: uint8 [T, H, W, 3] RGB.
            query_points: float [N, 3] (t, y, x): frame index and pixel position (TAP-Vid order).

        Returns:
            tracks: float32 [N, T, 2] (x, y) pixels; occluded: bool [N, T].
        """
        ...


@dataclass(frozen=True, kw_only=True)
class Method:
    """A named method of the pipeline.

    Attributes:
        name: what users type (``--methods NAME``, ``--engine NAME``); unique over every kind.
        description: one line for ``--help``, ``omnimotion methods`` and the README.
        options: the command-line options that change what it does (e.g. ``("--raft-weights",)``).
    """

    kind: ClassVar[MethodKind]
    name: str
    description: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FlowEngineMethod(Method):
    """An optical-flow engine.

    Attributes:
        title: its name in messages, e.g. ``RAFT``.
        build: ``build(config, weights)`` -> the engine ready to run, with the settings it reads from
            ``config`` (a :class:`~omnimotion_core.flow.engines.FlowEngineConfig` naming this engine) and the
            state dict ``storage`` read from :attr:`weights_file` (None when the engine needs no file; an
            engine that needs one raises without it, an engine that needs none refuses one).
        params: ``params(config)`` -> the JSON-ready settings that change its flow (stored with a flow set and
            hashed into its name); speed-only settings and the weights file are left out.
        label: ``label(config)`` -> a short readable name such as ``dis-fast``.
        weights_file: ``weights_file(config)`` -> the local checkpoint file set in ``config`` (None: none set).
        weights_option: the command-line option that sets that file, for an engine that cannot run without
            one; None for an engine that needs no file.
    """

    kind: ClassVar[MethodKind] = "flow_engine"
    title: str
    build: Callable[[FlowEngineConfig, Mapping[str, torch.Tensor] | None], FlowEngine]
    params: Callable[[FlowEngineConfig], dict[str, object]]
    label: Callable[[FlowEngineConfig], str]
    weights_file: Callable[[FlowEngineConfig], str | None] = lambda config: None
    weights_option: str | None = None


@dataclass(frozen=True, kw_only=True)
class TrackerMethod(Method):
    """A tracker that needs no fitting (a baseline of the results table).

    Attributes:
        factory: ``factory(engine)`` -> the tracker; ``engine`` is the built flow engine named by
            :attr:`flow_engine` (None when that is None).
        flow_engine: the flow engine the tracker runs on, or None. The pipeline builds it from its flow
            settings (reading its weights through ``storage``) and hands it to ``factory``.
    """

    kind: ClassVar[MethodKind] = "tracker"
    factory: Callable[[FlowEngine | None], Tracker]
    flow_engine: str | None = None


@dataclass(frozen=True, kw_only=True)
class ModelMethod(Method):
    """A method that fits a motion model per video and tracks with it (the full model or an ablation).

    Attributes:
        configure: ``configure(preset_config)`` -> the model config this method fits, from the preset's
            (with the fit's step count and seed already applied).
        representations: the model representations (``OmniMotionConfig.representation``) it applies to;
            None: all.
    """

    kind: ClassVar[MethodKind] = "model"
    configure: Callable[[OmniMotionConfig], OmniMotionConfig]
    representations: tuple[str, ...] | None = None


AnyMethod = TypeVar("AnyMethod", bound=Method)

KIND_NAMES: dict[MethodKind, str] = {"flow_engine": "flow engine", "tracker": "tracker", "model": "model method"}
"""Each kind in words, for messages."""


class MethodRegistry:
    """Name -> :class:`Method`, in registration order; entry points of :data:`ENTRY_POINT_GROUP` are added
    on the first lookup."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self._entry_points_loaded = False

    def register(self, method: Method) -> Method:
        """Add ``method``; a name taken by another method is an error. Returns ``method``."""
        if not isinstance(method, Method):
            raise TypeError(f"only Method entries can be registered, got {type(method).__name__}")
        if method.name in self._methods:
            raise ValueError(f"a method named {method.name!r} is already registered ({self._methods[method.name]})")
        self._methods[method.name] = method
        return method

    def unregister(self, name: str) -> None:
        """Remove the method called ``name`` (a plugin that is unloaded)."""
        del self._methods[name]

    def load_entry_points(self) -> None:
        """Register the methods that installed packages declare under :data:`ENTRY_POINT_GROUP` (those not
        registered yet); each entry point names a :class:`Method` or a sequence of them."""
        self._entry_points_loaded = True
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry_point.load()
            for method in [loaded] if isinstance(loaded, Method) else loaded:
                if self._methods.get(method.name) is not method:
                    self.register(method)

    def _all(self) -> Mapping[str, Method]:
        if not self._entry_points_loaded:
            self.load_entry_points()
        return self._methods

    def methods(self, kind: type[AnyMethod]) -> list[AnyMethod]:
        """Every method of one kind (``TrackerMethod``, ...), in registration order."""
        return [method for method in self._all().values() if isinstance(method, kind)]

    def names(self, *kinds: type[Method]) -> list[str]:
        """The names of the methods of these kinds (all kinds when none are given)."""
        return [method.name for method in self._all().values() if not kinds or isinstance(method, kinds)]

    def find(self, name: str) -> Method | None:
        """The method called ``name``, or None; entry points are read only when no registered method has it."""
        method = self._methods.get(name)
        return self._all().get(name) if method is None else method

    def get(self, name: str, kind: type[AnyMethod]) -> AnyMethod:
        """The method of kind ``kind`` called ``name``; otherwise a ValueError listing that kind's names."""
        method = self.find(name)
        if not isinstance(method, kind):
            words = KIND_NAMES[kind.kind]
            raise ValueError(f"unknown {words} {name!r}; {words}s: {', '.join(self.names(kind))}")
        return method


METHODS = MethodRegistry()
"""The registry every method is registered in (read it through :mod:`omnimotion_core.methods`, which
registers the built-in methods first)."""

