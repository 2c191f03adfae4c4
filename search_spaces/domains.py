"""Search-space building blocks, free of Ray and Optuna: the tuner translates them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.config import check_known_keys
from core.errors import ConfigError


@dataclass(frozen=True)
class Choice:
    """One of a few values (input sizes, backbones)."""

    values: tuple[Any, ...]

    def capped(self, cap: float) -> Choice:
        """The values at or below `cap` (the smallest if none is)."""
        kept = tuple(v for v in self.values if v <= cap)
        return Choice(kept or (min(self.values),))

    def contains(self, value: Any) -> bool:
        """Whether `value` is one of the values."""
        return value in self.values


@dataclass(frozen=True)
class IntRange:
    """Whole numbers from `low` to `high` in steps of `step`."""

    low: int
    high: int
    step: int = 1

    def capped(self, cap: float) -> IntRange:
        """The range with its top lowered to `cap`, on the step grid."""
        high = max(self.low, min(self.high, int(cap)))
        return IntRange(self.low, self.low + (high - self.low) // self.step * self.step, self.step)

    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the range."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Uniform:
    """A real number between `low` and `high`, every value as likely."""

    low: float
    high: float

    def capped(self, cap: float) -> Uniform:
        """The range with its top lowered to `cap`."""
        return Uniform(self.low, max(self.low, min(self.high, cap)))

    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the range."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class LogUniform:
    """A positive real number drawn evenly on a log scale (rates, L1 strength)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"LogUniform needs 0 < low < high, got {self.low}, {self.high}")

    def capped(self, cap: float) -> LogUniform:
        """The range with its top lowered to `cap` (kept a range, never a point)."""
        return LogUniform(self.low, max(self.low * (1 + 1e-9), min(self.high, cap)))

    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the range."""
        return self.low <= value <= self.high or math.isclose(value, self.high)


Domain = Choice | IntRange | Uniform | LogUniform


@dataclass(frozen=True)
class SearchSpace:
    """A named space: what is searched, what is fixed, and the hand-tuned config tried first."""

    name: str
    summary: str
    params: Mapping[str, Domain]
    fixed: Mapping[str, Any]
    start: Mapping[str, Any]  # searched keys only: the original report's hand-tuned choices
    # Further starting points, each the start with these values changed, tried right after it:
    # a fix the report lacked, kept beside the report's own config (which stays the "hand-tuned"
    # yardstick) rather than in place of it.
    start_variants: tuple[Mapping[str, Any], ...] = ()
    grace_period: int = 3  # epochs ASHA waits before it compares trials
    num_samples: int = 24
    cpu_caps: Mapping[str, Any] = field(default_factory=dict)  # see `capped`

    def __post_init__(self) -> None:
        """A misspelt key fails here, when the space's module is imported, not silently later."""
        self.check()

    def check(self) -> None:
        """Every key is one training reads; the start point lies inside the domains."""
        where = f"search space {self.name!r}"
        check_known_keys(self.params, f"{where}, params")
        check_known_keys(self.fixed, f"{where}, fixed")
        check_known_keys([k for k in self.cpu_caps if k != "num_samples"], f"{where}, cpu_caps")
        both = sorted(set(self.params) & set(self.fixed))
        if both:
            raise ConfigError(f"{where}: {', '.join(both)} both searched and fixed")
        if set(self.start) != set(self.params):
            searched, given = ", ".join(sorted(self.params)), ", ".join(sorted(self.start))
            raise ConfigError(
                f"{where}: the start point must give every searched key "
                f"(searched: {searched}; start: {given})"
            )
        for number, point in enumerate(self.start_points()):
            label = "start variant" if number else "start"
            for key, value in point.items():
                domain = self.params.get(key)
                if domain is None or not domain.contains(value):
                    outside = domain or f"the searched keys ({', '.join(sorted(self.params))})"
                    raise ConfigError(f"{where}: {label} {key}={value!r} is outside {outside}")

    def capped(self, caps: Mapping[str, Any]) -> SearchSpace:
        """The same space with upper bounds on searched values and overrides of fixed ones.

        A cap on a searched key clips its domain and the start value; a cap on a fixed key
        replaces its value. This is how a CPU-only machine runs a smaller, honest version.
        """
        params = dict(self.params)
        fixed = dict(self.fixed)
        start = dict(self.start)
        variants = [dict(variant) for variant in self.start_variants]
        for key, cap in caps.items():
            if key in params:
                params[key] = params[key].capped(cap)
                for point in (start, *variants):
                    if key in point and point[key] > cap:
                        point[key] = _largest_within(params[key], cap)
            elif key in fixed:
                fixed[key] = cap
        return replace(
            self, params=params, fixed=fixed, start=start, start_variants=tuple(variants)
        )

    def first_config(self) -> dict[str, Any]:
        """The hand-tuned config the study tries first: fixed values and the start point."""
        return {**self.fixed, **self.start}

    def start_points(self) -> list[dict[str, Any]]:
        """The searched values a study tries before its searcher's own: the start, then each
        variant of it."""
        return [dict(self.start)] + [{**self.start, **variant} for variant in self.start_variants]


def _largest_within(domain: Domain, cap: float) -> Any:
    if isinstance(domain, Choice):
        return max(v for v in domain.values if v <= cap) if domain.values else cap
    return min(domain.high, cap)
