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


# Caps of the CPU budget that bound the study, not a trial's config.
STUDY_CAPS = ("num_samples", "time_budget_s")


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
    # Fixed values that follow a searched choice, {key: {value: {other key: its value}}}: the
    # weights that go with a backbone (MobileNet from scratch, mini-Xception on FER2013).
    linked: Mapping[str, Mapping[Any, Mapping[str, Any]]] = field(default_factory=dict)
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
        check_known_keys([k for k in self.cpu_caps if k not in STUDY_CAPS], f"{where}, cpu_caps")
        both = sorted(set(self.params) & set(self.fixed))
        if both:
            raise ConfigError(f"{where}: {', '.join(both)} both searched and fixed")
        self._check_linked(where)
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

    def _check_linked(self, where: str) -> None:
        for key, by_value in self.linked.items():
            domain = self.params.get(key)
            if not isinstance(domain, Choice):
                raise ConfigError(f"{where}: linked values follow {key!r}, not a searched choice")
            for value, values in by_value.items():
                if not domain.contains(value):
                    raise ConfigError(f"{where}: linked {key}={value!r} is outside {domain}")
                check_known_keys(values, f"{where}, linked to {key}={value!r}")
                searched = sorted(set(values) & set(self.params))
                if searched:
                    raise ConfigError(f"{where}: linked {', '.join(searched)} also searched")

    def config(self, searched: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's whole config: the fixed values, those linked to its searched choices, and
        the searched values themselves."""
        config = dict(self.fixed)
        for key, by_value in self.linked.items():
            config.update(by_value.get(searched.get(key), {}))
        return {**config, **searched}

    def with_fixed(self, values: Mapping[str, Any]) -> SearchSpace:
        """The same space with `values` fixed, over the fixed and the linked values alike; a
        searched key among them is searched no more, and its value's linked values apply."""
        params = {k: d for k, d in self.params.items() if k not in values}
        fixed = dict(self.fixed)
        for key in set(self.params) & set(values):
            fixed.update(self.linked.get(key, {}).get(values[key], {}))
        fixed.update(values)
        start = {k: v for k, v in self.start.items() if k in params}
        variants: list[dict[str, Any]] = []
        for point in self.start_points()[1:]:
            variant = {k: v for k, v in point.items() if k in params and v != start[k]}
            if variant and variant not in variants:
                variants.append(variant)
        return replace(
            self,
            params=params,
            fixed=fixed,
            linked=_linked_over(self.linked, values, keep=set(params)),
            start=start,
            start_variants=tuple(variants),
        )

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
            self,
            params=params,
            fixed=fixed,
            linked=_linked_over(self.linked, caps, keep=set(params)),
            start=start,
            start_variants=tuple(variants),
        )

    def first_config(self) -> dict[str, Any]:
        """The hand-tuned config the study tries first: fixed values and the start point."""
        return self.config(self.start)

    def start_points(self) -> list[dict[str, Any]]:
        """The searched values a study tries before its searcher's own: the start, then each
        variant of it."""
        return [dict(self.start)] + [{**self.start, **variant} for variant in self.start_variants]


def _largest_within(domain: Domain, cap: float) -> Any:
    if isinstance(domain, Choice):
        return max(v for v in domain.values if v <= cap) if domain.values else cap
    return min(domain.high, cap)


def _linked_over(
    linked: Mapping[str, Mapping[Any, Mapping[str, Any]]],
    values: Mapping[str, Any],
    keep: set[str],
) -> dict[str, dict[Any, dict[str, Any]]]:
    """`linked` with `values` over the linked values they name, for the searched keys in `keep`
    (a cap or an override reaches a value whether it is fixed or linked)."""
    return {
        key: {
            choice: {k: values.get(k, v) for k, v in links.items()}
            for choice, links in by_value.items()
        }
        for key, by_value in linked.items()
        if key in keep
    }
