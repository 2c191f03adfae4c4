"""The study as a page a person reads: RUN_DIR/report/index.html and the PNGs beside it.

Offline and self-contained: plain HTML and PNGs beside it, no script, no CDN. Sections: the data,
the study (Optuna's view and the trials table), the best trial on test, the original report's
hand-tuned configs beside the best on the same test split, and the cross-validated comparison
when `python -m tune.evaluate` has written cv.json. `tune.run` builds it at the end of every study
without training the hand-tuned configs (that takes minutes); this command trains them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.config import TrainConfig
from core.data.dataset import TrainingData
from core.evaluation.metrics import figure_text
from core.evaluation.yardstick import HEADLINES, beside_baselines, not_run_lines
from core.files import folder_in_place
from core.labels import EMOTIONS

from ..results import TABLE_METRICS
from ..study import StudySettings, describe_caps
from . import figures, html
from .comparison import comparison_section, cv_section, interval_notes, verdicts_part
from .handtuned import hand_tuned, hand_tuned_reports
from .inputs import load_data, load_settings, read_best_config, read_json, read_results

HEADLINE_LABELS = [label for _, label in HEADLINES]
REPORT_DIR = "report"
INDEX = "index.html"
BASELINES_FILE = "baselines.json"


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
    data_problem = None
    if data is None:
        data, data_problem = load_data(settings)
    best_file = read_best_config(run_dir)
    best = best_file.payload if best_file else None
    best_report = read_json(run_dir / "best" / "report.json")
    candidates = hand_tuned(settings, backbone_weights, baseline_epochs)
    # The whole folder is built aside and takes the old one's place at the end, or not at all.
    with folder_in_place(run_dir / REPORT_DIR, replace=True, keep=(BASELINES_FILE,)) as out:
        trained = hand_tuned_reports(candidates, data, out / BASELINES_FILE, baselines)
        missing = "no data" if data is None else "not trained (the quick report skips them)"
        parts = [
            overview(settings, table, run_dir),
            data_section(data, data_problem, best_file.checked if best_file else None, out),
            study_section(run_dir, settings, table, best, out),
            best_section(run_dir, best, best_report, out),
            comparison_section(
                settings, candidates, trained, best, best_report, out, baseline_epochs, missing
            ),
            cv_section(run_dir, out),
        ]
        (out / INDEX).write_text(html.page(f"Study {settings.name}", parts))
    return run_dir / REPORT_DIR / INDEX


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


def overview(settings: StudySettings, table: pd.DataFrame, run_dir: Path) -> str:
    """The study in a few lines: space, trials by status, data, split seed, TensorBoard command."""
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
    facts.append(html.heading("Targets and their floors (validation)"))
    facts.append(html.table(targets_table(settings.effective_targets(), settings.floors)))
    facts.append(
        html.paragraph(
            "A floor is what a trivial model scores on the study's validation split, from the "
            "labels alone: the majority emotion, no AU, every AU, or a constant AU score. A "
            "target at or below its floor is met by a model that has learnt nothing."
        )
    )
    facts.append(html.paragraph("TensorBoard (per-epoch scalars of every trial):"))
    facts.append(html.code(f"tensorboard --logdir {run_dir} --host 127.0.0.1"))
    return "\n".join(facts)


def targets_table(targets: Mapping[str, float], floors: Mapping[str, float]) -> pd.DataFrame:
    """One row per metric with a target or a floor: the target, the floor, and the verdict."""
    rows = []
    for name in dict.fromkeys([*targets, *floors]):
        target, floor = targets.get(name), floors.get(name)
        verdict = (
            "-"
            if target is None or floor is None
            else ("above its floor" if target > floor else "AT OR BELOW ITS FLOOR: meaningless")
        )
        rows.append({"metric": name, "target": target, "floor": floor, "target vs floor": verdict})
    return pd.DataFrame(rows)


def data_section(
    data: TrainingData | None, problem: str | None, best: TrainConfig | None, out: Path
) -> str:
    """What the trials learnt from: sample images, counts per emotion and AU, split sizes."""
    if data is None:
        return html.section("data", "Data", [html.note(f"Data not available: {problem}")])
    from core.images.preprocess import crop_and_resize
    from core.labels import au_names

    prepared = data.prepared
    crop, size = (best.crop_fraction, best.model.input_size) if best else (1.0, prepared.size)
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
        view = crop_and_resize(square[None], crop, size)[0]
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
            f"{prepared.size} px squares (grey, face-centred crop: {prepared.detector} found a "
            f"face in {prepared.face_found.mean():.0%}, the others use the centre square)."
        ),
        html.figure(
            figures.samples(squares, views, captions, out / "data_samples.png"),
            "One image per emotion after preparation (core.preprocess.prepare_images), and the "
            f"best config's model input (centre crop {crop:g}, resized to {size} px)",
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
    """Optuna's view of the study and the trials table, best first."""
    from .optuna_history import load_study, study_figures

    if table.empty:
        return html.section("study", "Study", [html.note("No trial has reported yet.")])
    space = settings.resolved_space()
    study = load_study(run_dir, space, table)
    drawn, notes = study_figures(study, out)
    parts = front_parts(settings, study, best, out)
    parts += [html.figure(path, title) for title, path in drawn]
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


def front_parts(settings: StudySettings, study, best: dict | None, out: Path) -> list[str]:
    """A multi-objective study's Pareto front: Optuna's figure and the front's trials."""
    from ..objectives import OBJECTIVES
    from .optuna_history import pareto_figure

    if not settings.objectives:
        return []
    labels = [OBJECTIVES[name].label for name in settings.objectives]
    parts = [html.heading(f"Pareto front: {', '.join(labels)}")]
    if len(study.directions) == len(labels) and study.trials:
        figure = pareto_figure(study, labels, out / "pareto_front.png")
        parts.append(
            html.figure(figure, "Every trial; the front (no trial beats it on all) marked")
        )
    front = (best or {}).get("front") or []
    if not front:
        return [*parts, html.note("No trial has finished with every objective yet.")]
    rows = [
        {
            "trial_id": m["trial_id"],
            **{OBJECTIVES[n].label: m["scores"][n] for n in settings.objectives},
        }
        for m in front
    ]
    parts.append(html.table(pd.DataFrame(rows)))
    parts.append(
        html.paragraph(
            "Quality objectives are read at each trial's best epoch (the model it keeps); "
            "best_config.json lists the front with each member's config. best/ holds the "
            "trial with the best combined score."
        )
    )
    return parts


def best_section(run_dir: Path, best: dict | None, report: dict | None, out: Path) -> str:
    """The best trial's curves and its test scores: confusion matrix and per-AU F1 and AP."""
    if best is None or report is None:
        return html.section("best", "Best trial", [html.note("No best trial with a checkpoint.")])
    trial_id = best["trial_id"]
    parts = [html.paragraph(f"Trial {trial_id}, best epoch {report.get('best_epoch')}; test set.")]
    parts += confirmation_part(best)
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

    def shown(key: str) -> str:
        return figure_text(report, key)

    parts += [
        html.figure(
            figures.confusion(emotion, out / "best_confusion.png"),
            f"Emotion confusion matrix on test: accuracy {shown('emotion_accuracy')}, weighted "
            f"F1 {shown('emotion_f1_weighted')}, macro F1 {shown('emotion_f1_macro')}",
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
            f"AU macro F1 {shown('au_f1_macro_tuned')}, micro F1 {tuned['f1_micro']:.3f}, mAP "
            f"{shown('au_mAP')}; at 0.5: macro F1 {shown('au_f1_macro_at_0.5')}. AUs absent "
            f"from test are left out of both means (F1 and AP are undefined there): "
            f"{', '.join(tuned['ap_undefined']) or 'none'}."
        ),
        html.heading("Beside the baselines (same test set)"),
        html.table(beside_baselines_table(report, f"best ({trial_id})")),
        *[html.note(line) for line in not_run_lines(report)],
        *interval_notes(report),
        *verdicts_part(report.get("comparisons", []), "each baseline"),
    ]
    return html.section("best", "Best trial", parts)


def confirmation_part(best: Mapping[str, Any]) -> list[str]:
    """The finalists' single-split scores beside their means on fresh splits: which one the
    study named its best, and how far the single split flattered each (the winner's curse)."""
    rows = best.get("confirmation")
    if not rows:
        return []
    table = pd.DataFrame(
        {
            "trial": [
                r["trial_id"] + (" (hand-tuned start)" if r["hand_tuned_start"] else "")
                for r in rows
            ],
            "single-split score": [r["val_score"] for r in rows],
            "fresh-split scores": [
                ", ".join("-" if v is None else f"{v:.3f}" for v in r["confirmed_scores"])
                for r in rows
            ],
            "confirmed mean": [r["confirmed_mean"] for r in rows],
            "single split above the mean": [r["val_above_confirmed"] for r in rows],
        }
    )
    return [
        html.heading("Finalists confirmed on fresh splits"),
        html.paragraph(
            "After the search, the top trials by validation score and the hand-tuned start were "
            "trained again on new train/validation partitions of the non-test subjects (test "
            f"untouched). The best is picked by: {best.get('picked_by', 'confirmed mean')}."
        ),
        html.table(table),
    ]


def beside_baselines_table(report: Mapping[str, Any], name: str) -> pd.DataFrame:
    """The headline test figures of a model, the linear baselines and the trivial models, each
    with its 95% interval."""
    return pd.DataFrame(
        [
            {"model": label, **dict(zip(HEADLINE_LABELS, cells, strict=True))}
            for label, cells in beside_baselines(report, name)
        ]
    )


def per_au_table(au: Mapping[str, Any]) -> pd.DataFrame:
    """One row per AU: threshold, precision, recall, F1, AP and support."""
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


# --- command line ----------------------------------------------------------------------------
