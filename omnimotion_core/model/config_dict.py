"""The model configuration tree back from its JSON form (``dataclasses.asdict`` as a fit stores it).

A fit folder keeps ``asdict(OmniMotionConfig)`` among its parameters; :func:`config_from_dict` rebuilds the
config from it, so a fitted model can be loaded from its folder alone. A key the tree does not have, or a
missing one, is an error naming its path: a fit written by other code is refused, never half-read.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from omnimotion_core.model.config import OmniMotionConfig

Config = TypeVar("Config")


def config_from_dict(data: Mapping[str, Any], kind: type[Config] = OmniMotionConfig) -> Config:
    """Rebuild the dataclass ``kind`` (default: the model's root config) from its ``asdict`` form.

    Nested dataclasses are rebuilt recursively; lists become tuples where the field is a tuple (JSON has no
    tuples).

    Raises:
        ValueError: ``data`` lacks a field of ``kind`` or has one it does not know (the message names the
            dotted path).

    Example:
        >>> config_from_dict(dataclasses.asdict(PRESETS["fast-volume"])) == PRESETS["fast-volume"]
        True
    """
    return _build(kind, data, kind.__name__)


def _build(kind: type[Config], data: Mapping[str, Any], where: str) -> Config:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of {kind.__name__}'s fields, got {type(data).__name__}")
    hints = typing.get_type_hints(kind)
    names = {field.name for field in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    missing = sorted(names - set(data))
    if unknown or missing:
        raise ValueError(f"{where}: fields do not match {kind.__name__} (unknown: {unknown}, missing: {missing})")
    return kind(**{name: _value(hints[name], data[name], f"{where}.{name}") for name in names})


def _value(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value
