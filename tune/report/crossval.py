"""`python -m tune.evaluate RUN_DIR --folds 5`: best and hand-tuned configs, cross-validated.

One test split of a few dozen subjects is a thin basis for "the tuned config is better". This
retrains the study's best config and the original report's hand-tuned configs (within the study's
budget, as in the report) on k subject-disjoint folds: each fold's validation part, carved from its
training subjects, drives early stopping and the AU thresholds; its test subjects are never seen.
The linear baseline (24 px pixels) and the linear probe (the frozen FER2013 mini-Xception's
features, computed once for every fold) are fitted on the same folds.
Writes RUN_DIR/cv.json and cv.csv (one row per config and fold); the report shows the table.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.cli import Parser, backbone_weights, epochs, exits_cleanly, float_in, int_in, seed
from core.data.dataset import TrainingData
from core.data.split import fold_splits
from core.errors import ConfigError, DataError
from core.files import replace_atomically, write_json_atomically
from core.folder_lock import folder_lock
from core.images.preprocess import PreparedData

from .comparison import CV_FILE
from .handtuned import (
    HAND_TUNED,
    HEADLINE,
    LINEAR,
    LINEAR_PROBE,
    Candidate,
    best_candidate,
    hand_tuned,
    headline,
    linear_candidate,
    linear_probe_candidate,
    score_candidate,
)
from .inputs import load_settings

CV_TABLE = "cv.csv"
CONFIG_NAMES = ("best", *HAND_TUNED, LINEAR, LINEAR_PROBE)


def cross_validate(
    candidates: Sequence[Candidate],
    prepared: PreparedData,
    splits: Sequence[Any],
    on_result: Any = None,
) -> dict[str, dict[str, Any]]:
    """Per config: its config, notes, per-fold scores, and their mean and sample std."""
    results: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        rows = []
        for fold, split in enumerate(splits, start=1):
            report = score_candidate(candidate, TrainingData(prepared, split))
            row = {
                "fold": fold,
                "n_train": int(len(split.train)),
                "n_val": int(len(split.val)),
                "n_test": int(len(split.test)),
                "epochs": report["training"]["epochs"],
                **headline(report),
            }
            rows.append(row)
            print(
                f"{candidate.name} fold {fold}/{len(splits)}: "
                + ", ".join(f"{HEADLINE[k]} {_fmt(row[k])}" for k in HEADLINE),
                flush=True,
            )
        results[candidate.name] = {
            "config": candidate.config,
            "notes": candidate.notes,
            "per_fold": rows,
            **summarise(rows),
        }
        if on_result is not None:
            on_result(results)
    return results


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and sample standard deviation (ddof 1) of each headline metric over folds."""
    mean, std = {}, {}
    for key in HEADLINE:
        values = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
        values = values[~np.isnan(values)]
        mean[key] = float(values.mean()) if len(values) else None
        std[key] = float(values.std(ddof=1)) if len(values) > 1 else 0.0 if len(values) else None
    return {"mean": mean, "std": std}


def format_table(configs: Mapping[str, Mapping[str, Any]]) -> str:
    """mean ± std of each headline metric, one line per config, for the terminal."""
    width = max([len("config"), *(len(name) for name in configs)])
    header = f"{'config':<{width}}" + "".join(f"{label:>22}" for label in HEADLINE.values())
    lines = [header]
    for name, result in configs.items():
        cells = [f"{_fmt(result['mean'][key])} ± {_fmt(result['std'][key])}" for key in HEADLINE]
        lines.append(f"{name:<{width}}" + "".join(f"{cell:>22}" for cell in cells))
    return "\n".join(lines)


def write_outputs(run_dir: Path, payload: Mapping[str, Any]) -> None:
    """cv.json (everything) and cv.csv (one row per config and fold), each whole or not at all."""
    write_json_atomically(run_dir / CV_FILE, payload)
    rows = [
        {"config": name, **row}
        for name, result in payload["configs"].items()
        for row in result["per_fold"]
    ]
    table = pd.DataFrame(rows)
    replace_atomically(run_dir / CV_TABLE, lambda path: table.to_csv(path, index=False))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _config_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIG_NAMES]
    if unknown or not names:
        raise ConfigError(
            f"--configs {text!r}: expected names from {', '.join(CONFIG_NAMES)}, comma-separated"
        )
    return names


def build_parser() -> Parser:
    """The options of `python -m tune.evaluate`."""
    parser = Parser(prog="python -m tune.evaluate", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("run_dir", type=Path, help="a study folder (STORAGE/NAME)")
    add("--folds", type=int_in(2, 100), default=5, help="subject-disjoint folds (default 5)")
    add("--configs", type=_config_names, default=list(CONFIG_NAMES), help="e.g. best,base")
    add("--epochs", type=epochs, help="cap every config's epochs (default: as the study)")
    add(
        "--val-fraction",
        type=float_in(0, 0.9),
        default=0.2,
        help="of each fold's training subjects",
    )
    add("--seed", type=seed, help="fold seed (default: the study's seed)")
    add("--backbone-weights", help="weights for 'transfer' (fer2013, or a local file)")
    return parser


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Retrain the chosen configs on k subject-disjoint folds; cv.json grows after each."""
    args = build_parser().parse_args(argv)
    if not args.run_dir.is_dir():
        raise DataError(f"{args.run_dir}: no such study folder")
    with folder_lock(args.run_dir, "tune.evaluate"):  # not while the study (or a report) writes
        return evaluate(args)


def evaluate(args: argparse.Namespace) -> int:
    """The work of `main` on a study folder it holds."""
    run_dir = args.run_dir
    settings = load_settings(run_dir)
    weights = backbone_weights(args.backbone_weights)
    candidates = []
    if "best" in args.configs:
        candidates.append(best_candidate(run_dir, args.epochs))
    candidates += [c for c in hand_tuned(settings, weights, args.epochs) if c.name in args.configs]
    from core.model.pretrained import fetch_named_in

    for candidate in candidates:  # before the probe looks for the weights in the cache
        fetch_named_in((candidate.config or {}).get("backbone_weights"))
    if LINEAR in args.configs:
        candidates.append(linear_candidate())
    if LINEAR_PROBE in args.configs:
        candidates.append(linear_probe_candidate())
    skipped = {c.name: "; ".join(c.notes) for c in candidates if c.config is None}
    candidates = [c for c in candidates if c.config is not None]
    if not candidates:
        raise ConfigError(f"--configs: nothing to evaluate ({'; '.join(skipped.values())})")
    data = settings.load_data()
    seed = settings.seed if args.seed is None else args.seed
    prepared = data.prepared
    # Nested: the best config was chosen on the study's validation subjects, so they never sit
    # in a test fold here (they only train and validate); every other subject is tested once.
    selection = data.split.val
    splits = fold_splits(
        prepared.emotions,
        prepared.subjects,
        folds=args.folds,
        seed=seed,
        val_fraction=args.val_fraction,
        held_out=selection,
    )
    payload: dict[str, Any] = {
        "folds": args.folds,
        "seed": seed,
        "val_fraction": args.val_fraction,
        "max_epochs": args.epochs,
        "skipped": skipped,
        "selection_held_out": {
            "subjects": len(set(prepared.subjects[selection])),
            "images": len(selection),
            "why": "the study chose its best config on these subjects' validation scores, so "
            "they never sit in a test fold (they only train and validate)",
        },
        "configs": {},
    }

    def save(results: dict[str, dict[str, Any]]) -> None:
        write_outputs(run_dir, {**payload, "configs": results})

    for name, reason in skipped.items():
        print(f"{name}: {reason}")
    results = cross_validate(candidates, prepared, splits, on_result=save)
    print(format_table(results))
    print(f"written: {run_dir / CV_FILE}, {run_dir / CV_TABLE}")
    return 0
