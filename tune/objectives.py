"""Multi-objective studies (`tune.run --objectives emotion,au,latency`): what each objective is,
which metric of a trial's report holds it, and which way is better.

The quality objectives are read at the trial's best epoch (by the combined score), the epoch of
the model the trial keeps, so every point of the front is a model one can export. A study keeps
the Pareto front: the trials no other trial beats on every objective at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError


@dataclass(frozen=True)
class Objective:
    """One objective: the trial metric that holds it, its direction, and how it is said."""

    name: str
    metric: str
    mode: str  # "max" or "min"
    label: str


OBJECTIVES = {
    o.name: o
    for o in (
        Objective("emotion", "best_val_emotion_accuracy", "max", "val emotion accuracy"),
        Objective("au", "best_val_au_f1_macro", "max", "val AU macro F1"),
        Objective("params", "model_params", "min", "parameters"),
        Objective("latency", "latency_ms", "min", "CPU latency per image (ms, TFLite)"),
    )
}
COSTS = ("params", "latency")


def parse_objectives(text: str) -> list[str]:
    """`emotion,au,latency`: two or three different objectives, at most one of them a cost."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in OBJECTIVES]
    if unknown:
        raise ConfigError(
            f"--objectives: unknown objective {unknown[0]!r}; known: {', '.join(OBJECTIVES)}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--objectives {text}: an objective is named twice")
    if not 2 <= len(names) <= 3:
        raise ConfigError(
            f"--objectives {text}: give two or three objectives (one is the study's usual score)"
        )
    if sum(name in COSTS for name in names) > 1:
        raise ConfigError(f"--objectives {text}: at most one cost ({' or '.join(COSTS)})")
    return names


def metrics_and_modes(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The trial metrics and directions Optuna optimises, in the order given."""
    chosen = [OBJECTIVES[name] for name in names]
    return [o.metric for o in chosen], [o.mode for o in chosen]


def scores(result: Mapping[str, Any], names: Sequence[str]) -> dict[str, float]:
    """A trial's value of each objective, by objective name."""
    return {name: float(result[OBJECTIVES[name].metric]) for name in names}


def pareto_front(points: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> list[str]:
    """The keys of `points` (objective values by name) that no other point dominates: at least
    as good on every objective and better on one. In the order given."""
    signs = {name: 1.0 if OBJECTIVES[name].mode == "max" else -1.0 for name in names}

    def better_or_equal(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
        return all(signs[n] * a[n] >= signs[n] * b[n] for n in names)

    return [
        key
        for key, point in points.items()
        if not any(
            other_key != key and better_or_equal(other, point) and other != point
            for other_key, other in points.items()
        )
    ]
