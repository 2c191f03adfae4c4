"""`python -m tune.report RUN_DIR`: the study as a page a person reads (RUN_DIR/report/index.html).

Offline and self-contained: plain HTML and PNGs beside it, no script, no CDN. Sections: the data,
the study (Optuna's view and the trials table), the best trial on test, the original report's
hand-tuned configs beside the best on the same test split, and the cross-validated comparison
when `python -m tune.evaluate` has written cv.json. `tune.run` builds it at the end of every study
without training the hand-tuned configs (that takes minutes); this command trains them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.cli import Parser, exits_cleanly, positive_int
from core.errors import ConfigError, DataError
from core.labels import EMOTIONS
from core.train import TrainingData

from . import report_figures as figures
from . import report_html as html
from .baselines import HEADLINE, Candidate, hand_tuned, headline, study_budget, train_and_test
from .results import TABLE_METRICS
from .study import STUDY_FILE, StudySettings, describe_caps

REPORT_DIR = "report"
INDEX = "index.html"
BASELINES_FILE = "baselines.json"
CV_FILE = "cv.json"


def build_report(
    run_dir: Path,
    *,
    data: TrainingData | None = None,
    baselines: bool = True,
    backbone_weights: str | None = None,
    baseline_epochs: int | None = None,
) -> Path:
    """Write RUN_DIR/report/index.html and its figures; returns the page's path."""
    run_dir = Path(run_dir)
    settings = load_settings(run_dir)
    table = read_results(run_dir)
    out = run_dir / REPORT_DIR
    out.mkdir(exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    data_problem = None
    if data is None:
        data, data_problem = _load_data(settings)
    best = _read_json(run_dir / "best_config.json")
    best_report = _read_json(run_dir / "best" / "report.json")
    parts = [
        overview(settings, table, run_dir),
        data_section(data, data_problem, best, out),
        study_section(run_dir, settings, table, best, out),
        best_section(run_dir, best, best_report, out),
        comparison_section(
            settings, data, best, best_report, out, baselines, backbone_weights, baseline_epochs
        ),
        cv_section(run_dir, out),
    ]
    page = out / INDEX
    temporary = out / (INDEX + ".tmp")
    temporary.write_text(html.page(f"Study {settings.name}", parts))
    os.replace(temporary, page)
    return page


def report_after_study(run_dir: Path, data: TrainingData) -> Path | None:
    """The automatic report at the end of tune.run: fast (no baselines), never fails the study."""
    try:
        page = build_report(run_dir, data=data, baselines=False)
    except Exception as error:  # the study's results are safe; the page can be rebuilt later
        print(f"warning: report not written ({type(error).__name__}: {error}); "
              f"rebuild it with: python -m tune.report {run_dir}", file=sys.stderr)  # fmt: skip
        return None
    print(f"report: {page}  (hand-tuned comparison: python -m tune.report {run_dir})", flush=True)
    return page


# --- inputs ----------------------------------------------------------------------------------


def load_settings(run_dir: Path) -> StudySettings:
    if not (run_dir / STUDY_FILE).is_file():
        raise DataError(f"{run_dir}: not a study folder ({STUDY_FILE} is missing)")
    try:
        return StudySettings(**json.loads((run_dir / STUDY_FILE).read_text()))
    except (ValueError, TypeError) as error:
        raise DataError(f"{run_dir / STUDY_FILE}: damaged ({error})") from None


def read_results(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; the study has not finished once yet")
    return pd.read_csv(path, dtype={"trial_id": str, "node_id": str})  # hex ids stay text


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _load_data(settings: StudySettings) -> tuple[TrainingData | None, str | None]:
    """The study's data and split (same seed); a source that is gone only loses its sections."""
    from core.dataset import load_training_data
    from core.labels import DEFAULT_AUS

    try:
        data = load_training_data(
            settings.data,
            seed=settings.seed,
            aus=tuple(settings.aus or DEFAULT_AUS),
            progress=False,
        )
    except DataError as error:
        return None, str(error)
    return data, None


# --- sections --------------------------------------------------------------------------------


def overview(settings: StudySettings, table: pd.DataFrame, run_dir: Path) -> str:
    counts = table["status"].value_counts().to_dict() if "status" in table else {}
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    facts = [
        html.paragraph(
            f"Space {settings.space}, {len(table)} trials ({statuses}); data "
            f"{settings.data or 'built-in synthetic set'}; split seed {settings.seed}; "
            f"{settings.cpus_per_trial:g} CPU + {settings.gpus_per_trial:g} GPU per trial."
        )
    ]
    if settings.caps:
        facts.append(
            html.note(f"This study ran on CPU only under the caps {describe_caps(settings.caps)}.")
        )
    facts.append(html.paragraph("TensorBoard (per-epoch scalars of every trial):"))
    facts.append(html.code(f"tensorboard --logdir {run_dir} --host 127.0.0.1"))
    return "\n".join(facts)


def data_section(
    data: TrainingData | None, problem: str | None, best: dict | None, out: Path
) -> str:
    if data is None:
        return html.section("data", "Data", [html.note(f"Data not available: {problem}")])
    from core.labels import au_names
    from core.preprocess import crop_and_resize

    prepared = data.prepared
    config = best or {"crop_fraction": 1.0, "input_size": prepared.size}
    squares, views, captions = [], [], []
    for emotion in range(len(EMOTIONS)):
        found = np.flatnonzero(prepared.emotions == emotion)
        if not len(found):
            squares.append(None)
            views.append(None)
            captions.append("")
            continue
        index = int(found[0])
        square = prepared.images[index]
        view = crop_and_resize(
            square[None], float(config["crop_fraction"]), int(config["input_size"])
        )[0]
        squares.append(square)
        views.append(view)
        captions.append(f"{prepared.subjects[index]} {Path(prepared.paths[index]).name}")
    emotion_counts = dict(
        zip(EMOTIONS, np.bincount(prepared.emotions, minlength=3).tolist(), strict=True)
    )
    au_counts = dict(
        zip(au_names(prepared.au_list), prepared.aus.sum(axis=0).astype(int).tolist(), strict=True)
    )
    sizes = split_table(data)
    parts = [
        html.paragraph(
            f"{len(prepared)} images of {len(set(prepared.subjects))} subjects, prepared to "
            f"{prepared.size} px squares (grey, face-centred crop: a face was found in "
            f"{prepared.face_found.mean():.0%}, the others use the centre square)."
        ),
        html.figure(
            figures.samples(squares, views, captions, out / "data_samples.png"),
            "One image per emotion after preparation (core.preprocess.prepare_image), and the "
            f"best config's model input (centre crop {float(config['crop_fraction']):g}, "
            f"resized to {int(config['input_size'])} px)",
        ),
        html.figure(
            figures.bars(emotion_counts, "Images per emotion", out / "data_emotions.png"),
            "Images per emotion",
        ),
        html.figure(
            figures.bars(au_counts, "Images per AU", out / "data_aus.png", rotate=True),
            "Images per Action Unit (multi-label: an image counts once for each AU it shows)",
        ),
        html.figure(
            figures.split_sizes(sizes, out / "data_split.png"),
            "Split sizes per emotion; no subject is in two parts; only training is oversampled",
        ),
        html.table(sizes.reset_index().rename(columns={"index": "emotion"})),
    ]
    return html.section("data", "Data", parts)


def split_table(data: TrainingData) -> pd.DataFrame:
    """Images per emotion (rows) in train / val / test (columns), before oversampling."""
    emotions = data.prepared.emotions
    columns = {
        part: np.bincount(emotions[indices], minlength=len(EMOTIONS))
        for part, indices in data.split.as_dict().items()
    }
    return pd.DataFrame(columns, index=list(EMOTIONS))


def study_section(
    run_dir: Path, settings: StudySettings, table: pd.DataFrame, best: dict | None, out: Path
) -> str:
    from .report_study import load_study, study_figures

    if table.empty:
        return html.section("study", "Study", [html.note("No trial has reported yet.")])
    space = settings.resolved_space()
    study = load_study(run_dir, space, table)
    drawn, notes = study_figures(study, out)
    parts = [html.figure(path, title) for title, path in drawn]
    parts += [html.note(text) for text in notes]
    shown = ["trial_id", "status", *space.params, "epochs", "best_epoch", *TABLE_METRICS, "seconds"]
    trials = table[[c for c in shown if c in table]]
    best_id = (best or {}).get("trial_id")
    parts.append(html.heading("Trials (sorted by score; bold: the best)"))
    parts.append(html.table(trials, highlight=list(trials["trial_id"] == best_id)))
    parts.append(
        html.paragraph(
            "status: met-targets = stopped by the target stopper; pruned = stopped early by ASHA; "
            "finished = ran to patience or its epoch limit; cut-short = stopped by the study's "
            "time budget or --stop-on-target; score = best validation "
            "0.5 x emotion accuracy + 0.5 x AU macro F1 so far."
        )
    )
    return html.section("study", "Study", parts)


def best_section(run_dir: Path, best: dict | None, report: dict | None, out: Path) -> str:
    if best is None or report is None:
        return html.section("best", "Best trial", [html.note("No best trial with a checkpoint.")])
    trial_id = best["trial_id"]
    parts = [html.paragraph(f"Trial {trial_id}, best epoch {report.get('best_epoch')}; test set.")]
    progress = _progress(run_dir / f"trial_{trial_id}" / "progress.csv")
    if progress is not None:
        parts.append(
            html.figure(
                figures.training_curves(
                    progress, report.get("best_epoch"), out / "best_curves.png"
                ),
                "Training (solid) and validation (dashed) curves of both heads; dotted: the best "
                "epoch, whose weights are the exported model",
            )
        )
    else:
        parts.append(html.note(f"trial_{trial_id}/progress.csv not found: no curves."))
    emotion, fixed, tuned = report["emotion"], report["au_at_0.5"], report["au_tuned_on_val"]
    parts += [
        html.figure(
            figures.confusion(emotion, out / "best_confusion.png"),
            f"Emotion confusion matrix on test: accuracy {emotion['accuracy']:.3f}, weighted F1 "
            f"{emotion['f1_weighted']:.3f}, macro F1 {emotion['f1_macro']:.3f}",
        ),
        html.figure(
            figures.au_f1(fixed, tuned, out / "best_au_f1.png"),
            "Per-AU F1 on test: each AU thresholded on its own (multi-label, never argmax), at "
            "thresholds tuned on validation and at 0.5",
        ),
        html.figure(
            figures.au_accuracy(fixed, tuned, out / "best_au_accuracy.png"),
            f"AU binary accuracy on test beside predicting no AU at all "
            f"({tuned['no_au_baseline_accuracy']:.3f}): accuracy near the baseline means little",
        ),
        html.heading("Per-AU scores on test (validation-tuned thresholds)"),
        html.table(per_au_table(tuned)),
        html.paragraph(
            f"AU macro F1 {tuned['f1_macro']:.3f}, micro F1 {tuned['f1_micro']:.3f}, mAP "
            f"{_fmt(tuned['mAP'])}; at 0.5: macro F1 {fixed['f1_macro']:.3f}. AP is undefined "
            f"for AUs absent from test: {', '.join(tuned['ap_undefined']) or 'none'}."
        ),
    ]
    return html.section("best", "Best trial", parts)


def per_au_table(au: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "AU": name,
            "threshold": scores["threshold"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "F1": scores["f1"],
            "AP": scores["average_precision"],
            "support": scores["support"],
        }
        for name, scores in au["per_au"].items()
    ]
    return pd.DataFrame(rows)


def _progress(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    if "epoch" not in frame or frame.empty:
        return None
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch")


def comparison_section(
    settings: StudySettings,
    data: TrainingData | None,
    best: dict | None,
    best_report: dict | None,
    out: Path,
    train_baselines: bool,
    backbone_weights: str | None,
    max_epochs: int | None,
) -> str:
    title = "The original hand-tuned configurations beside the best"
    candidates = hand_tuned(settings, backbone_weights, max_epochs)
    budget = study_budget(settings)
    parts = [
        html.paragraph(
            "base, large_sample and transfer are the original report's hand-tuned models (each "
            "space's fixed values with its start point), trained here on the study's split and "
            "scored on the same test set as the best trial. They get no more than the study's "
            f"trials could: {describe_caps(budget)}"
            + (f"; epochs capped at {max_epochs} for this report" if max_epochs else "")
            + "."
        )
    ]
    if settings.caps:
        parts.append(
            html.note(
                "CPU only: the study ran under the caps "
                f"{describe_caps(settings.caps)}, and the same caps apply to these configs."
            )
        )
    rows = []
    if best is not None and best_report is not None:
        rows.append(_comparison_row(f"best ({best['trial_id']})", best, best_report, []))
    done = baseline_reports(candidates, data, out / BASELINES_FILE, train_baselines)
    for candidate in candidates:
        if candidate.config is None:
            parts.append(html.note(f"{candidate.name}: {'; '.join(candidate.notes)}"))
        elif candidate.name in done:
            entry = done[candidate.name]
            rows.append(
                _comparison_row(
                    candidate.name, entry["config"], entry["report"], entry.get("notes", [])
                )
            )
    if not done and any(c.config is not None for c in candidates):
        reason = "no data" if data is None else "not trained (the quick report skips them)"
        parts.append(
            html.note(
                f"Hand-tuned configs: {reason}. Train and compare them with: python -m "
                f"tune.report {out.parent} (add --baseline-epochs N to make it quicker)."
            )
        )
    if rows:
        frame = pd.DataFrame(rows)
        if len(rows) > 1:
            metrics = frame.set_index("configuration")[list(HEADLINE.values())].T
            parts.append(
                html.figure(
                    figures.comparison(
                        metrics, "Test scores on the study's split", out / "baselines.png"
                    ),
                    "Hand-tuned configurations beside the best trial, same test set",
                )
            )
        parts.append(html.table(frame, highlight=[i == 0 for i in range(len(frame))]))
    return html.section("baselines", title, parts)


def baseline_reports(
    candidates: list[Candidate], data: TrainingData | None, cache: Path, train: bool
) -> dict[str, dict[str, Any]]:
    """name -> {config, notes, report} of the hand-tuned configs, kept in `cache`.

    Training reuses a cached result only for an unchanged config; without training, whatever
    the cache holds is shown (it was trained on this study's split, perhaps with other epochs).
    """
    stored = _read_json(cache) or {}
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
            cache.write_text(json.dumps(stored, indent=2))
    return done


def _comparison_row(name: str, config: Mapping, report: Mapping, notes: list[str]) -> dict:
    scores = headline(report)
    tuned = report["au_tuned_on_val"]
    training = report.get("training", {})
    return {
        "configuration": name,
        "input_size": config.get("input_size"),
        "alpha": config.get("alpha"),
        "sample_size": config.get("sample_size") or "majority",
        "epochs": training.get("epochs", config.get("max_epochs")),
        **{HEADLINE[key]: value for key, value in scores.items()},
        "AU binary accuracy": tuned["binary_accuracy"],
        "no-AU baseline": tuned["no_au_baseline_accuracy"],
        "changed to fit the budget": "; ".join(notes) or "-",
    }


def cv_section(run_dir: Path, out: Path) -> str:
    title = "Cross-validated comparison (subject-disjoint folds)"
    cv = _read_json(run_dir / CV_FILE)
    if cv is None:
        return html.section(
            "cv",
            title,
            [
                html.paragraph("Not run yet. One split is a thin basis for a claim; run:"),
                html.code(f"python -m tune.evaluate {run_dir} --folds 5"),
            ],
        )
    means, stds, rows = cv_tables(cv)
    parts = [
        html.paragraph(
            f"{cv['folds']} folds by subject (seed {cv['seed']}); each fold's validation part is "
            "carved from its training subjects for early stopping and AU thresholds. "
            "Mean ± sample standard deviation over folds"
            + (f"; epochs capped at {cv['max_epochs']}" if cv.get("max_epochs") else "")
            + ". Hand-tuned configs are held to the study's budget, as above."
        ),
        html.figure(
            figures.comparison(
                means, "Cross-validated test scores (mean ± std)", out / "cv.png", errors=stds
            ),
            "Cross-validated scores: bars are fold means, whiskers one standard deviation",
        ),
        html.table(rows),
    ]
    parts += [html.note(f"{name}: {text}") for name, text in cv.get("skipped", {}).items()]
    return html.section("cv", title, parts)


def cv_tables(cv: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(means, stds) as metric x configuration frames, and the mean ± std table for the page."""
    configs = cv["configs"]
    means = pd.DataFrame({name: c["mean"] for name, c in configs.items()}).loc[list(HEADLINE)]
    stds = pd.DataFrame({name: c["std"] for name, c in configs.items()}).loc[list(HEADLINE)]
    means.index = stds.index = [HEADLINE[key] for key in HEADLINE]
    rows = pd.DataFrame(
        {
            "configuration": list(configs),
            **{
                label: [f"{means.at[label, n]:.3f} ± {stds.at[label, n]:.3f}" for n in configs]
                for label in means.index
            },
            "changed to fit the budget": [
                "; ".join(c.get("notes", [])) or "-" for c in configs.values()
            ],
        }
    )
    return means, stds, rows


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- command line ----------------------------------------------------------------------------


def build_parser() -> Parser:
    import argparse

    parser = Parser(prog="python -m tune.report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a study folder (STORAGE/NAME)")
    parser.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train the original hand-tuned configs for the comparison (default: yes; results "
        "are kept in report/baselines.json and reused while the configs are unchanged)",
    )
    parser.add_argument(
        "--baseline-epochs",
        type=positive_int,
        help="cap the hand-tuned configs' epochs (default: the study's own epoch limit)",
    )
    parser.add_argument("--backbone-weights", help="MobileNet weights file for 'transfer'")
    return parser


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.run_dir.is_dir():
        raise DataError(f"{args.run_dir}: no such study folder")
    weights = args.backbone_weights
    if weights and weights != "imagenet" and not Path(weights).expanduser().is_file():
        raise ConfigError(f"--backbone-weights {weights}: file does not exist")
    if weights and weights != "imagenet":
        weights = str(Path(weights).expanduser().resolve())
    page = build_report(
        args.run_dir,
        baselines=args.baselines,
        backbone_weights=weights,
        baseline_epochs=args.baseline_epochs,
    )
    print(f"report: {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
