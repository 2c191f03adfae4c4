"""The original report's three hand-tuned configs, held to the study's own compute budget.

A comparison is fair only when the hand-tuned configs get no more than the study's trials got: no
larger input, wider network, bigger sample or more epochs than the study's space allowed (on a
CPU-only study that is its CPU caps). Used by the report (one split) and tune.evaluate (folds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.train import TrainingData
from search_spaces import Choice, get

from .study import StudySettings

HAND_TUNED = ("base", "large_sample", "transfer")
BUDGET_KEYS = ("input_size", "alpha", "sample_size", "max_epochs", "min_epochs", "patience")
HEADLINE = {
    "emotion_accuracy": "emotion accuracy",
    "emotion_f1_weighted": "emotion weighted F1",
    "au_f1_macro": "AU macro F1",
    "au_mAP": "AU mAP",
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
        config = dict(get(name).first_config())
        if settings.targets:
            config["targets"] = dict(settings.targets)
        if name == "transfer":
            if not weights:
                candidates.append(
                    Candidate(
                        name,
                        None,
                        [
                            "skipped: the transfer config needs a local MobileNet weights file "
                            "(alpha 1.0, include_top=False); pass --backbone-weights PATH"
                        ],
                    )
                )
                continue
            config["backbone_weights"] = weights
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
    import json

    from core.errors import DataError

    path = run_dir / "best_config.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; the study has no best trial yet")
    config = {k: v for k, v in json.loads(path.read_text()).items() if k != "trial_id"}
    if max_epochs is None:
        return Candidate("best", config)
    return within_budget("best", config, {}, max_epochs)


def train_and_test(config: Mapping[str, Any], data: TrainingData) -> dict[str, Any]:
    """Train one config on `data.split`, test it there (thresholds tuned on its validation part)."""
    import keras

    from core.train import evaluate, train, training_summary

    result = train(config, data, verbose=False)
    report = evaluate(result.model, result.config, data)
    report["training"] = training_summary(result)
    del result
    keras.backend.clear_session()  # many trainings in one process: free each graph
    return report


def headline(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The four numbers a comparison rests on: emotion accuracy, weighted F1, AU macro F1, mAP."""
    tuned = report["au_tuned_on_val"]
    return {
        "emotion_accuracy": report["emotion"]["accuracy"],
        "emotion_f1_weighted": report["emotion"]["f1_weighted"],
        "au_f1_macro": tuned["f1_macro"],
        "au_mAP": tuned["mAP"],
    }
