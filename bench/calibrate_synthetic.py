"""How hard is the built-in set? The linear 24 px baseline under k-fold subject-grouped CV.

The yardstick asks that a logistic regression on 24x24 prepared crops stay at or below 0.70
emotion accuracy and 0.40 AU macro F1 on the built-in set, so that a tuned CNN has room to show
what tuning finds. Each fold holds out whole subjects for test (StratifiedGroupKFold on the
emotion, grouped by subject); the rest is split again by subject into training and a validation
part (one fold of the same kind), which picks the regression strength C and the AU thresholds.
The majority (no AU) and all-present floors are scored on the same folds.

    python bench/calibrate_synthetic.py [--seed 0] [--folds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.dataset import load_training_data
from core.data.split import Split
from core.evaluation.baselines import DEFAULT_SIZE, baseline_reports
from core.images.faces import DEFAULT_DETECTOR, DETECTORS
from core.labels import au_names

MODELS = ("majority", "all_present", "linear")
GOALS = {"emotion_accuracy": 0.70, "au_f1_macro_tuned": 0.40}


def folds(emotions: np.ndarray, subjects: np.ndarray, n_folds: int, seed: int) -> list[Split]:
    """Subject-disjoint train/val/test positions: each test fold once, val one fold of the rest."""
    outer = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    splits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
        for fold, (rest, test) in enumerate(outer.split(emotions, emotions, subjects)):
            inner = StratifiedGroupKFold(n_folds - 1, shuffle=True, random_state=seed + fold)
            train, val = next(inner.split(rest, emotions[rest], subjects[rest]))
            splits.append(Split(train=rest[train], val=rest[val], test=test))
    return splits


def scores(report: dict) -> dict[str, float]:
    return {
        "emotion_accuracy": report["emotion"]["accuracy"],
        "au_f1_macro_tuned": report["au_tuned_on_val"]["f1_macro"],
        "au_f1_macro_at_0.5": report["au_at_0.5"]["f1_macro"],
    }


def calibrate(
    data: str | None, seed: int, n_folds: int, size: int, prepared_size: int, detector: str
) -> dict:
    started = time.perf_counter()
    loaded = load_training_data(
        data, seed=seed, prepared_size=prepared_size, detector=detector, progress=False
    )
    prepared = loaded.prepared
    images = np.asarray(prepared.images)
    names = au_names(prepared.au_list)
    per_fold: dict[str, list[dict[str, float]]] = {model: [] for model in MODELS}
    for split in folds(prepared.emotions, prepared.subjects, n_folds, seed):
        reports = baseline_reports(
            images, prepared.emotions, prepared.aus, split, names, seed=seed, size=size
        )
        for model in MODELS:
            per_fold[model].append(scores(reports[model]))
    summary = {
        model: {
            key: {
                "mean": float(np.mean([fold[key] for fold in rows])),
                "std": float(np.std([fold[key] for fold in rows])),
            }
            for key in rows[0]
        }
        for model, rows in per_fold.items()
    }
    return {
        "data": data or "built-in synthetic set",
        "images": len(prepared),
        "subjects": len(set(prepared.subjects.tolist())),
        "face_found_rate": float(np.mean(prepared.face_found)),
        "detector": detector,
        "seed": seed,
        "folds": n_folds,
        "size": size,
        "prepared_size": prepared_size,
        "per_fold": per_fold,
        "summary": summary,
        "goals": GOALS,
        "seconds": time.perf_counter() - started,
    }


def format_table(result: dict) -> str:
    lines = [
        f"{result['data']}: {result['images']} images, {result['subjects']} subjects, "
        f"faces found by {result['detector']} {result['face_found_rate']:.1%}; "
        f"{result['folds']}-fold subject-grouped "
        f"CV, seed {result['seed']}, {result['size']} px; {os.cpu_count()} cores, "
        f"{result['seconds']:.0f} s",
        f"{'model':<12} {'emotion acc':>15} {'AU F1 (val thr)':>17} {'AU F1 (0.5)':>15}",
    ]
    for model, row in result["summary"].items():
        cells = [
            f"{row[key]['mean']:.3f} +- {row[key]['std']:.3f}"
            for key in ("emotion_accuracy", "au_f1_macro_tuned", "au_f1_macro_at_0.5")
        ]
        lines.append(f"{model:<12} {cells[0]:>15} {cells[1]:>17} {cells[2]:>15}")
    linear = result["summary"]["linear"]
    for key, goal in GOALS.items():
        mean = linear[key]["mean"]
        verdict = "met" if mean <= goal else "NOT met"
        lines.append(f"goal: linear {key} <= {goal:.2f}: {mean:.3f} ({verdict})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CK+ folder or CSV manifest (default: the built-in set)")
    parser.add_argument("--seed", type=int, default=0, help="folds' and models' seed")
    parser.add_argument("--folds", type=int, default=5, help="number of test folds (>= 3)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="linear input side (px)")
    parser.add_argument("--prepared-size", type=int, default=480, help="prepared square side")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR)
    parser.add_argument("--json", type=Path, help="also write the full result here")
    args = parser.parse_args(argv)
    if args.folds < 3:
        parser.error("--folds must be at least 3 (one for test, one for validation, training)")
    result = calibrate(
        args.data, args.seed, args.folds, args.size, args.prepared_size, args.detector
    )
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
