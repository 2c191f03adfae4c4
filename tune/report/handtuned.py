"""The original report's three hand-tuned configs, held to the study's own compute budget.

A comparison is fair only when the hand-tuned configs get no more than the study's trials got: no
larger input, wider network, bigger sample or more epochs than the study's space allowed (on a
CPU-only study that is its CPU caps). Trained here, on one split for the report (kept in
report/baselines.json) and on k folds for tune.evaluate; drawn by `comparison`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.dataset import TrainingData
from core.errors import DataError
from core.evaluation.metrics import figure_of
from core.evaluation.yardstick import LINEAR_PROBE
from core.files import write_json_atomically
from search_spaces import Choice, get

from ..study import StudySettings
from .inputs import BEST_CONFIG_FILE, read_best_config, read_json

HAND_TUNED = ("base", "large_sample", "transfer")
BUDGET_KEYS = ("input_size", "alpha", "sample_size", "max_epochs", "min_epochs", "patience")
HEADLINE = {
    "emotion_accuracy": "emotion accuracy",
    "emotion_f1_weighted": "emotion weighted F1",
    "au_f1_macro": "AU macro F1",
    "au_mAP": "AU mAP",
}
# Each headline's figure in a report (core.evaluation.metrics.FIGURES; its interval has the same
# key).
FIGURE = {
    "emotion_accuracy": "emotion_accuracy",
    "emotion_f1_weighted": "emotion_f1_weighted",
    "au_f1_macro": "au_f1_macro_tuned",
    "au_mAP": "au_mAP",
}


@dataclass
class Candidate:
    """A configuration to compare; `config` None: skipped. `notes`: why, or what was changed."""

    name: str
    config: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def study_budget(settings: StudySettings) -> dict[str, Any]:
    """The largest value of each budget key the study's trials could use (caps included)."""
    space = settings.resolved_space()
    budget: dict[str, Any] = {}
    for key in BUDGET_KEYS:
        if key in space.params:
            domain = space.params[key]
            budget[key] = max(domain.values) if isinstance(domain, Choice) else domain.high
        elif space.fixed.get(key) is not None:
            budget[key] = space.fixed[key]
    return budget


def hand_tuned(
    settings: StudySettings,
    backbone_weights: str | None = None,
    max_epochs: int | None = None,
) -> list[Candidate]:
    """base, large_sample and transfer (`.fixed` + `.start`), within the study's budget."""
    budget = study_budget(settings)
    weights = backbone_weights or settings.backbone_weights
    candidates = []
    for name in HAND_TUNED:
        space = get(name)
        if name == "transfer" and weights not in (None, "none"):  # the study's own weights
            pinned: dict[str, Any] = {"backbone_weights": weights}
            if settings.backbone:
                pinned["backbone"] = settings.backbone
            space = space.with_fixed(pinned)
        config = space.first_config()
        if settings.targets:
            config["targets"] = dict(settings.targets)
        candidates.append(within_budget(name, config, budget, max_epochs))
    return candidates


def within_budget(
    name: str, config: dict[str, Any], budget: Mapping[str, Any], max_epochs: int | None = None
) -> Candidate:
    """`config` with every budget key lowered to the budget; the changes are noted."""
    limits = dict(budget)
    if max_epochs is not None:
        limits["max_epochs"] = min(limits.get("max_epochs", max_epochs), max_epochs)
    notes = []
    capped = dict(config)
    for key, limit in limits.items():
        value = capped.get(key)
        if value is None or value <= limit:
            continue
        if key == "alpha" and capped.get("backbone_weights"):
            notes.append(f"alpha kept at {value:g} (must match the weights file)")
            continue
        capped[key] = limit
    if capped.get("min_epochs", 0) > capped.get("max_epochs", 1):
        capped["min_epochs"] = capped["max_epochs"]
    notes += [
        f"{key} {config[key]:g} -> {capped[key]:g}"
        for key in BUDGET_KEYS
        if capped.get(key) != config.get(key)
    ]
    return Candidate(name, capped, notes)


def best_candidate(run_dir: Path, max_epochs: int | None = None) -> Candidate:
    """The study's best config from best_config.json (epochs capped only when asked)."""
    best = read_best_config(run_dir)
    if best is None:
        raise DataError(f"{run_dir / BEST_CONFIG_FILE}: missing; the study has no best trial yet")
    # A multi-objective study's file also holds its front: the best by score is what is trained.
    if max_epochs is None:
        return Candidate("best", best.config)
    return within_budget("best", best.config, {}, max_epochs)


def train_and_test(config: Mapping[str, Any], data: TrainingData) -> dict[str, Any]:
    """Train one config on `data.split`, test it there (thresholds tuned on its validation part)."""
    from core.quiet import import_tensorflow

    import_tensorflow()
    import keras

    from core.config import train_config
    from core.pretrained import fetch_named_in
    from core.training.loop import evaluate_on_test, train, training_summary

    checked = train_config(config)  # the run's one check
    fetch_named_in(checked.model.backbone_weights)  # a report made elsewhere than the study
    result = train(checked, data, verbose=False)
    report = evaluate_on_test(result.model, result.config, data)
    report["training"] = training_summary(result)
    del result
    keras.backend.clear_session()  # many trainings in one process: free each graph
    return report


LINEAR = "linear"


def linear_candidate() -> Candidate:
    """The linear baseline as one more configuration of a comparison."""
    return Candidate(LINEAR, {}, ["logistic regression on 24 px crops: no CNN, no tuning"])


def linear_probe_candidate() -> Candidate:
    """The linear probe as one more configuration; skipped, with why, where the FER2013 weights
    are not cached (a baseline never fetches)."""
    from core.evaluation.probe import find_weights

    weights, why = find_weights()
    if weights is None:
        return Candidate(LINEAR_PROBE, None, [f"skipped: {why}"])
    notes = ["logistic regression on the frozen FER2013 mini-Xception's features: no fine-tuning"]
    return Candidate(LINEAR_PROBE, {"backbone_weights": str(weights)}, notes)


def score_candidate(candidate: Candidate, data: TrainingData) -> dict[str, Any]:
    """The test report of a candidate on `data.split`: a CNN trained, or a linear baseline."""
    from core.evaluation.yardstick import baselines_on, linear_probe_on

    if candidate.name == LINEAR:
        report = baselines_on(data)[LINEAR]
    elif candidate.name == LINEAR_PROBE:
        report = linear_probe_on(data, Path((candidate.config or {})["backbone_weights"]))
    else:
        return train_and_test(candidate.config or {}, data)
    return {**report, "training": {"epochs": 0}}


def headline(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The four numbers a comparison rests on: emotion accuracy, weighted F1, AU macro F1, mAP."""
    return {key: figure_of(report, FIGURE[key]) for key in HEADLINE}


def hand_tuned_reports(
    candidates: list[Candidate], data: TrainingData | None, cache: Path, train: bool
) -> dict[str, dict[str, Any]]:
    """name -> {config, notes, report} of the hand-tuned configs, kept in `cache`.

    Training reuses a cached result only for an unchanged config; without training, whatever
    the cache holds is shown (it was trained on this study's split, perhaps with other epochs).
    """
    stored = read_json(cache) or {}
    done: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        if candidate.config is None:
            continue
        kept = stored.get(candidate.name)
        if kept and (not train or kept.get("config") == _jsonable(candidate.config)):
            done[candidate.name] = kept
        elif train and data is not None:
            print(f"training hand-tuned config {candidate.name} ...", flush=True)
            done[candidate.name] = stored[candidate.name] = {
                "config": _jsonable(candidate.config),
                "notes": candidate.notes,
                "report": train_and_test(candidate.config, data),
            }
            write_json_atomically(cache, stored)
    return done


def _jsonable(value: Any) -> Any:
    """The value as JSON gives it back (tuples become lists): configs compare as stored."""
    return json.loads(json.dumps(value))
