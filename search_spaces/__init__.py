"""Named search spaces: `names()`, `get(name)`. One small module per space."""

from __future__ import annotations

from core.errors import ConfigError

from . import base, large_sample, mobile, tiny, transfer
from .domains import Choice, Domain, IntRange, LogUniform, SearchSpace, Uniform

_REGISTRY: dict[str, SearchSpace] = {
    module.SPACE.name: module.SPACE for module in (base, large_sample, transfer, mobile, tiny)
}

__all__ = ["Choice", "Domain", "IntRange", "LogUniform", "SearchSpace", "Uniform", "get", "names"]


def names() -> list[str]:
    """The registered space names, in registration order."""
    return list(_REGISTRY)


def get(name: str) -> SearchSpace:
    """The space called `name`; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown search space {name!r}; known spaces: {', '.join(names())}"
        ) from None
