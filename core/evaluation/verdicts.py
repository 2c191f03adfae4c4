"""Test reports with their uncertainty, and paired comparisons that say "better" only when it is.

With 79 test images from 18 subjects, a gap of 0.05 in accuracy is within the noise of one split.
Every figure of a report gets a 95% subject-level bootstrap interval (`core.evaluation.intervals`);
a model is compared with another on the same test images and the same resamples (paired: a subject
both models find hard moves both figures together), and the difference's interval gives the verdict:
"better" or "worse" when it excludes 0, "no clear difference" otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .metrics import FIGURES, with_interval
from .outputs import TestOutputs

# The figures a comparison judges (the headlines, with the labels the terminal and the page use),
# and the words a verdict uses.
COMPARED = {
    "emotion_accuracy": "emotion acc",
    "au_f1_macro_tuned": "AU macro F1 (tuned)",
    "au_mAP": "AU mAP",
}
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"
FIGURES_INDEX = {key: i for i, key in enumerate(FIGURES)}


def scored_report(
    outputs: TestOutputs, au_names: Sequence[str] | None = None, *, keep_outputs: bool = False
) -> dict[str, Any]:
    """The test report of `outputs` with "intervals" (a [lo, hi] per FIGURES key, None where the
    figure is undefined or the test set has one subject) and how they were made ("bootstrap");
    `keep_outputs` adds the per-image "test_outputs" a later comparison needs. Without subjects
    (a caller that only wants the figures): the plain report."""
    report = outputs.report(au_names)
    boot = outputs.bootstrap
    if outputs.subjects is None:
        return report
    if boot is None:
        report["intervals"] = dict.fromkeys(FIGURES)
        report["bootstrap"] = {"method": "none: one test subject, nothing to resample"}
    else:
        bounds = boot.intervals(outputs.figures, outputs.distribution)
        report["intervals"] = dict(zip(FIGURES, bounds, strict=True))
        report["bootstrap"] = boot.describe()
    if keep_outputs:
        report["test_outputs"] = outputs.to_json()
    return report


def comparisons(model: TestOutputs, others: Mapping[str, TestOutputs]) -> list[dict[str, Any]]:
    """The model against each of `others` on the COMPARED figures, in `others`' order."""
    return [row for name, other in others.items() for row in compare(model, other, name)]


def compare(model: TestOutputs, other: TestOutputs, against: str) -> list[dict[str, Any]]:
    """model - other on each COMPARED figure, with the paired 95% interval and the verdict.

    Both must be outputs on the same test images. A figure undefined on this test set (no AU
    with a positive) is left out; with one test subject the interval is None and the verdict
    "no clear difference".
    """
    if not same_images(model, other):
        raise ValueError(f"{against}: not the same test images; a paired comparison needs them")
    rows = [FIGURES_INDEX[key] for key in COMPARED]
    ones = np.ones((1, len(model.subjects)))
    difference = (model.figures(ones) - other.figures(ones))[rows, 0]
    intervals: list[list[float] | None] = [None] * len(rows)
    if model.bootstrap is not None:
        paired = model.distribution[rows] - other.distribution[rows]
        intervals = model.bootstrap.intervals(
            lambda w: model.figures(w)[rows] - other.figures(w)[rows], paired
        )
    return [
        {
            "against": against,
            "metric": key,
            "difference": float(d),
            "interval": interval,
            "verdict": verdict(interval),
        }
        for key, d, interval in zip(COMPARED, difference, intervals, strict=True)
        if not np.isnan(d)
    ]


def same_images(model: TestOutputs, other: TestOutputs) -> bool:
    """Whether two models' outputs are on the same test images (by subject, in order, and by
    label): what a paired comparison needs."""
    return (
        model.subjects is not None
        and other.subjects is not None
        and np.array_equal(model.subjects, other.subjects)
        and np.array_equal(model.emotion_true, other.emotion_true)
        and np.array_equal(model.au_true, other.au_true)
    )


def verdict(interval: Sequence[float] | None) -> str:
    """The verdict on a difference: "better" or "worse" when its interval excludes 0, else "no
    clear difference"."""
    if interval is None:
        return UNCLEAR
    lo, hi = interval
    return BETTER if lo > 0 else WORSE if hi < 0 else UNCLEAR


def verdict_line(rows: Sequence[Mapping[str, Any]]) -> str:
    """One comparison in words: "emotion acc +0.152 [+0.05, +0.25] better; ..."."""
    return "; ".join(
        f"{COMPARED.get(row['metric'], row['metric'])} "
        f"{with_interval(row['difference'], row['interval'], '+')} {row['verdict']}"
        for row in rows
    )


def by_baseline(report: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The report's comparisons grouped by what the model was compared with, in order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in report.get("comparisons", []):
        grouped.setdefault(row["against"], []).append(row)
    return grouped
