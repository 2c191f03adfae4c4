"""The race's uncertainty: each tool's anytime median with a bootstrap interval over seeds, and
ours against each peer paired by seed (one seed is one split, one draw of the machine's noise for
both), "ahead" or "behind" only when the paired interval excludes 0.

A seed's best-so-far before any epoch is -inf in the table ("none yet"); for a difference it is
the no-learning floor (a tool with no model yet is no better than one that learnt nothing).

A percentile bootstrap over n seeds only ever draws those n values: with three seeds, three
positive differences give an interval above 0 though an exact sign test puts them at p = 0.25.
So a verdict needs at least MIN_SEEDS seeds (five all one way: p = 0.06); fewer are "too few
seeds", whatever the interval says.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

RESAMPLES = 2000
MIN_SEEDS = 5
AHEAD, BEHIND, UNCLEAR, TOO_FEW = "ahead", "behind", "no clear difference", "too few seeds"


def median_interval(values: Sequence[float]) -> list[float] | None:
    """95% percentile-bootstrap interval of the median over seeds; None with fewer than two
    seeds or a value that is not finite (nothing found yet)."""
    sample = np.asarray(values, dtype=float)
    if len(sample) < 2 or not np.isfinite(sample).all():
        return None
    return _interval((sample,), np.median, paired=False)


def paired_difference(
    ours: dict[int, float], peer: dict[int, float], floor: float
) -> dict[str, Any] | None:
    """Median over seeds of ours - peer, its paired 95% bootstrap interval (seeds resampled
    together) and the verdict; None without a seed both ran."""
    seeds = sorted(set(ours) & set(peer))
    if not seeds:
        return None
    a = np.array([_or_floor(ours[s], floor) for s in seeds])
    b = np.array([_or_floor(peer[s], floor) for s in seeds])
    difference = float(np.median(a - b))
    interval = None
    if len(seeds) >= 2:
        interval = _interval((a, b), lambda x, y, axis=-1: np.median(x - y, axis=axis), paired=True)
    verdict = UNCLEAR
    if len(seeds) < MIN_SEEDS:
        verdict = TOO_FEW
    elif interval is not None and interval[0] > 0:
        verdict = AHEAD
    elif interval is not None and interval[1] < 0:
        verdict = BEHIND
    return {"seeds": seeds, "difference": difference, "interval": interval, "verdict": verdict}


def _or_floor(value: float, floor: float) -> float:
    return value if math.isfinite(value) else floor


def _interval(samples: tuple, statistic: Callable, paired: bool) -> list[float]:
    """scipy's percentile bootstrap (BCa needs more than a handful of seeds), seeded; a sample
    with no spread has a zero-width interval."""
    if all(np.ptp(sample) == 0 for sample in samples) or (
        paired and np.ptp(samples[0] - samples[1]) == 0
    ):
        value = float(statistic(*samples, axis=-1) if paired else statistic(samples[0]))
        return [value, value]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "degenerate" warnings on a few seeds: the interval holds
        result = stats.bootstrap(
            samples,
            statistic,
            paired=paired,
            vectorized=True,
            n_resamples=RESAMPLES,
            confidence_level=0.95,
            method="percentile",
            random_state=np.random.default_rng(0),
        )
    low, high = result.confidence_interval
    return [float(low), float(high)]


def shown_interval(interval: list[float] | None, signed: bool = False) -> str:
    """` [lo, hi]` for a table cell, or nothing without an interval."""
    if interval is None:
        return ""
    sign = "+" if signed else ""
    return f" [{interval[0]:{sign}.3f}, {interval[1]:{sign}.3f}]"


def format_paired(rows: list[dict[str, Any]], points: Sequence[float]) -> str:
    """The paired differences as a markdown table: a column per budget point and the end."""
    columns = [f"{fraction:.0%}" for fraction in points]
    lines = [
        "| ours − peer (paired by seed) | " + " | ".join(columns) + " | run's end |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for row in rows:
        cells = []
        for point in (*points, "end"):
            cell = row[point]
            cells.append(
                "n/a"
                if cell is None
                else f"{cell['difference']:+.3f}{shown_interval(cell['interval'], signed=True)} "
                f"{cell['verdict']}"
            )
        lines.append(f"| {row['peer']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ahead_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The paired verdict at 100% of the budget against each peer: "ahead" only when the
    interval excludes 0 (and enough seeds ran)."""
    lines = []
    for row in rows:
        cell = row[1.0]
        if cell is not None:
            lines.append(
                f"ours vs {row['peer']} at 100% of the budget: {cell['difference']:+.3f}"
                f"{shown_interval(cell['interval'], signed=True)} over {len(cell['seeds'])} "
                f"seeds, {cell['verdict']}"
            )
    return lines


def jsonable(value: Any) -> Any:
    """Strict JSON: keys as text, a value that is not finite (nothing found yet) as null."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
