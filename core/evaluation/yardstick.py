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

from .baselines import baseline_outputs, floor_warnings, linear_outputs, metric_floors
from .metrics import figure_text
from .outputs import TestOutputs, outputs_in
from .verdicts import COMPARED, by_baseline, comparisons, scored_report, verdict_line

if TYPE_CHECKING:
    from ..data.dataset import TrainingData

# (figure, label) of the three headline figures, as `format_beside_baselines` shows them: the
# figures the paired comparisons judge.
HEADLINES = tuple(COMPARED.items())
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
    in the CNN's own shape, with intervals, on `data.split`."""
    return _reports(baseline_outputs_on(data, seed, probe_weights), data)


def baseline_outputs_on(
    data: TrainingData, seed: int = 0, probe_weights: Path | None = None
) -> dict[str, TestOutputs]:
    """The baselines' per-image test outputs (see `baselines_on`), in BASELINE_LABELS' order;
    computed once per data set, split and seed (`baseline_cache`)."""
    from .baseline_cache import cached_outputs

    def compute() -> dict[str, TestOutputs]:
        prepared = data.prepared
        outputs = baseline_outputs(
            prepared.images,
            prepared.emotions,
            prepared.aus,
            data.split,
            prepared.subjects,
            seed=seed,
        )
        if probe_weights is not None:
            outputs[LINEAR_PROBE] = linear_probe_outputs(data, probe_weights, seed)
        return {key: outputs[key] for key in BASELINE_LABELS if key in outputs}

    return cached_outputs(data, seed, probe_weights, compute)


def linear_probe_on(data: TrainingData, weights: Path, seed: int = 0) -> dict[str, Any]:
    """The linear probe's test report, with intervals."""
    return scored_report(linear_probe_outputs(data, weights, seed), _au_names(data))


def linear_probe_outputs(data: TrainingData, weights: Path, seed: int = 0) -> TestOutputs:
    """The linear probe's test outputs: `fit_linear` on the frozen FER2013 mini-Xception's
    features (computed once per image set, however many splits ask)."""
    from .probe import frozen_features

    prepared = data.prepared
    features = frozen_features(prepared.images, weights)
    return linear_outputs(
        features, prepared.emotions, prepared.aus, data.split, prepared.subjects, seed=seed
    )


def add_baselines(report: dict[str, Any], data: TrainingData, seed: int = 0) -> dict[str, Any]:
    """`report` with "floors" (validation), "baselines" (`baselines_on` the same split) and, when
    the report keeps its "test_outputs", "comparisons": the model against each baseline, paired
    on the same test images (`core.evaluation.verdicts`). A baseline that cannot run here (the probe
    without cached weights) is named, with why, in "baselines_not_run"."""
    from .probe import find_weights

    weights, why = find_weights()
    report["floors"] = {"validation": validation_floors(data)}
    outputs = baseline_outputs_on(data, seed, weights)
    report["baselines"] = _reports(outputs, data)
    model = outputs_in(report)
    if model is not None:
        report["comparisons"] = comparisons(model, outputs)
        report["test_outputs"] = report.pop("test_outputs")  # last: thousands of numbers
    if why is not None:
        report["baselines_not_run"] = {LINEAR_PROBE: why}
    return report


def beside_baselines(report: Mapping[str, Any], name: str) -> list[tuple[str, list[str]]]:
    """(label, headline figures as text, each with its interval where the report has one) of
    the model, then of each baseline its report carries."""
    baselines = report.get("baselines", {})
    return [(name, headline_texts(report))] + [
        (label, headline_texts(baselines[key]))
        for key, label in BASELINE_LABELS.items()
        if key in baselines
    ]


def headline_texts(report: Mapping[str, Any]) -> list[str]:
    """The headline figures of one test report, in HEADLINES' order: "0.709 [0.61, 0.80]"."""
    return [figure_text(report, key) for key, _ in HEADLINES]


def not_run_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per baseline the report could not carry, e.g. "linear probe: not run (why)"."""
    return [
        f"{key.replace('_', ' ')}: not run ({why})"
        for key, why in report.get("baselines_not_run", {}).items()
    ]


def verdict_lines(report: Mapping[str, Any], name: str = "this model") -> list[str]:
    """The paired comparisons in words, one line per baseline: "this model vs linear: emotion
    acc +0.152 [+0.05, +0.25] better; ..."."""
    return [
        f"{name} vs {against.replace('_', ' ')}: {verdict_line(rows)}"
        for against, rows in by_baseline(report).items()
    ]


def format_beside_baselines(report: Mapping[str, Any], name: str = "this model") -> str:
    """The model's headline test figures beside the baselines' (linear ones, trivial ones), with
    their 95% intervals and how they were made, the paired verdicts against each baseline, and a
    line for each baseline that could not run."""
    rows = beside_baselines(report, name)
    width = max(len(label) for label, _ in rows) + 2
    header = f"{'test, beside the baselines':<{width}}" + "".join(
        f"{label:>22}" for _, label in HEADLINES
    )
    lines = [header] + [
        f"{label:<{width}}" + "".join(f"{cell:>22}" for cell in cells) for label, cells in rows
    ]
    if "method" in report.get("bootstrap", {}):
        lines.append(f"[lo, hi]: 95% intervals, {report['bootstrap']['method']}")
    return "\n".join(lines + verdict_lines(report, name) + not_run_lines(report))


def _reports(outputs: Mapping[str, TestOutputs], data: TrainingData) -> dict[str, dict[str, Any]]:
    return {name: scored_report(out, _au_names(data)) for name, out in outputs.items()}


def _au_names(data: TrainingData) -> list[str]:
    from ..labels import au_names

    return au_names(data.prepared.au_list)
