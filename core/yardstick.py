"""What a run is judged against, said where the user reads it: the floors of the targets before
training, and the baselines beside the model's test scores after.

A figure without its floor misleads: AU binary accuracy 0.79 is what predicting no AU scores,
AU macro F1 0.35 what predicting every AU scores. Both `core.train` and `tune.run` print the
floors before the first epoch and warn about a target a trivial model already meets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .baselines import baseline_reports, floor_warnings, linear_report, metric_floors

if TYPE_CHECKING:
    from .dataset import TrainingData

# (report key path, label) of the three headline figures, as `format_beside_baselines` shows them.
HEADLINES = (
    (("emotion", "accuracy"), "emotion acc"),
    (("au_tuned_on_val", "f1_macro"), "AU macro F1 (tuned)"),
    (("au_tuned_on_val", "mAP"), "AU mAP"),
)
LINEAR_PROBE = "linear_probe"
BASELINE_LABELS = {
    "linear": "linear (logistic regression, 24 px)",
    LINEAR_PROBE: "linear probe (frozen FER2013 mini-Xception)",
    "majority": "majority emotion, no AU",
    "all_present": "majority emotion, every AU",
}


def validation_floors(data: TrainingData) -> dict[str, float]:
    """The target metrics' floors on the validation split, from its labels alone."""
    val = data.split.val
    return metric_floors(data.prepared.emotions[val], data.prepared.aus[val])


def announce_floors(targets: Mapping[str, float], floors: Mapping[str, float]) -> list[str]:
    """Print the floors (stdout) and one warning per target at or below its floor (stderr);
    returns the warnings. A user who insists keeps the target: this only says what it means."""
    shown = ", ".join(f"{name} {value:.3f}" for name, value in floors.items())
    print(f"floors on validation (a trivial model scores): {shown}", flush=True)
    warnings = floor_warnings(targets, floors)
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    return warnings


def baselines_on(
    data: TrainingData, seed: int = 0, probe_weights: Path | None = None
) -> dict[str, dict[str, Any]]:
    """majority, all_present, linear and, given the FER2013 weights, linear_probe: test reports
    in the CNN's own shape, on `data.split`."""
    from .labels import au_names

    prepared = data.prepared
    reports = baseline_reports(
        prepared.images,
        prepared.emotions,
        prepared.aus,
        data.split,
        au_names(prepared.au_list),
        seed=seed,
    )
    if probe_weights is not None:
        reports[LINEAR_PROBE] = linear_probe_on(data, probe_weights, seed)
    return reports


def linear_probe_on(data: TrainingData, weights: Path, seed: int = 0) -> dict[str, Any]:
    """The linear probe's test report: `fit_linear` on the frozen FER2013 mini-Xception's
    features (computed once per image set, however many splits ask)."""
    from .labels import au_names
    from .probe import frozen_features

    prepared = data.prepared
    features = frozen_features(prepared.images, weights)
    return linear_report(
        features, prepared.emotions, prepared.aus, data.split, au_names(prepared.au_list), seed=seed
    )


def add_baselines(report: dict[str, Any], data: TrainingData, seed: int = 0) -> dict[str, Any]:
    """`report` with "floors" (validation) and "baselines" (`baselines_on` the same split); a
    baseline that cannot run here (the probe without cached weights) is named, with why, in
    "baselines_not_run"."""
    from .probe import find_weights

    weights, why = find_weights()
    report["floors"] = {"validation": validation_floors(data)}
    report["baselines"] = baselines_on(data, seed, weights)
    if why is not None:
        report["baselines_not_run"] = {LINEAR_PROBE: why}
    return report


def headline_values(report: Mapping[str, Any]) -> list[float | None]:
    """The headline figures of one test report, in HEADLINES' order."""
    return [report.get(part, {}).get(key) for (part, key), _ in HEADLINES]


def beside_baselines(report: Mapping[str, Any], name: str) -> list[tuple[str, list[float | None]]]:
    """(label, headline figures) of the model, then of each baseline its report carries."""
    baselines = report.get("baselines", {})
    return [(name, headline_values(report))] + [
        (label, headline_values(baselines[key]))
        for key, label in BASELINE_LABELS.items()
        if key in baselines
    ]


def not_run_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per baseline the report could not carry, e.g. "linear probe: not run (why)"."""
    return [
        f"{key.replace('_', ' ')}: not run ({why})"
        for key, why in report.get("baselines_not_run", {}).items()
    ]


def format_beside_baselines(report: Mapping[str, Any], name: str = "this model") -> str:
    """The model's headline test figures beside the baselines' (linear ones, trivial ones), and
    a line for each baseline that could not run."""
    rows = beside_baselines(report, name)
    width = max(len(label) for label, _ in rows) + 2
    header = f"{'test, beside the baselines':<{width}}" + "".join(
        f"{label:>22}" for _, label in HEADLINES
    )
    lines = [header]
    for label, values in rows:
        cells = "".join(f"{'n/a' if v is None else f'{v:.3f}':>22}" for v in values)
        lines.append(f"{label:<{width}}{cells}")
    return "\n".join(lines + not_run_lines(report))
