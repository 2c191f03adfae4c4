"""The comparison sections of the page: hand-tuned configs beside the best, and k-fold scores.

Drawing only: the hand-tuned configs are trained by `handtuned`, before the page is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from core.evaluation.metrics import figure_text, with_interval
from core.evaluation.outputs import outputs_in
from core.evaluation.verdicts import COMPARED, compare, same_images
from core.evaluation.yardstick import BASELINE_LABELS, not_run_lines

from ..study import StudySettings, describe_caps
from . import figures, html
from .handtuned import FIGURE, HEADLINE, Candidate, headline, study_budget
from .inputs import read_json

CV_FILE = "cv.json"


def comparison_section(
    settings: StudySettings,
    candidates: list[Candidate],
    done: Mapping[str, Mapping[str, Any]],
    best: dict | None,
    best_report: dict | None,
    out: Path,
    max_epochs: int | None,
    missing_reason: str,
) -> str:
    """The hand-tuned configs' test scores (trained by `handtuned`) and the baselines' (linear,
    linear probe, majority, every AU) beside the best trial's, with 95% intervals, and the best
    paired with each hand-tuned config (its verdicts against the baselines are in the best
    trial's section)."""
    title = "The best beside the original hand-tuned configurations and the baselines"
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
    rows, reports = [], []

    def add(name: str, config: Mapping, report: Mapping, notes: list[str]) -> None:
        rows.append(_comparison_row(name, config, report, notes))
        reports.append(report)

    if best is not None and best_report is not None:
        add(f"best ({best['trial_id']})", best, best_report, [])
    for candidate in candidates:
        if candidate.config is None:
            parts.append(html.note(f"{candidate.name}: {'; '.join(candidate.notes)}"))
        elif candidate.name in done:
            entry = done[candidate.name]
            add(candidate.name, entry["config"], entry["report"], entry.get("notes", []))
    for key, label in BASELINE_LABELS.items():
        baseline = (best_report or {}).get("baselines", {}).get(key)
        if baseline is not None:
            add(label, {}, baseline, ["no training budget: a baseline"])
    parts += [html.note(line) for line in not_run_lines(best_report or {})]
    if not done and any(c.config is not None for c in candidates):
        parts.append(
            html.note(
                f"Hand-tuned configs: {missing_reason}. Train and compare them with: python -m "
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
                    "Hand-tuned configurations and the baselines beside the best trial, same test "
                    "set",
                )
            )
        shown = frame.assign(
            **{
                label: [figure_text(report, FIGURE[key]) for report in reports]
                for key, label in HEADLINE.items()
            }
        )
        parts.append(html.table(shown, highlight=[i == 0 for i in range(len(frame))]))
        parts += interval_notes(best_report or {})
    paired, why_not = hand_tuned_comparisons(best_report or {}, done)
    parts += verdicts_part(paired, "each hand-tuned configuration")
    parts += [html.note(line) for line in why_not]
    return html.section("baselines", title, parts)


def hand_tuned_comparisons(
    best_report: Mapping[str, Any], done: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The best against each trained hand-tuned config, paired on the study's test images (both
    reports keep their per-image outputs), and a line for each that cannot be paired, with why."""
    best = outputs_in(best_report)
    rows: list[dict[str, Any]] = []
    why_not = []
    for name, entry in done.items():
        other = outputs_in(entry["report"])
        if best is None:
            why = "best/report.json keeps no per-image test outputs (written before they were)"
        elif other is None:
            why = (
                "its cached report keeps no per-image test outputs; delete report/baselines.json "
                "and rebuild the report to train it again"
            )
        elif not same_images(best, other):
            why = "it was tested on other images than the best"
        else:
            rows += compare(best, other, name)
            continue
        why_not.append(f"best vs {name}: no paired comparison: {why}.")
    return rows, why_not


def interval_notes(report: Mapping[str, Any]) -> list[str]:
    """How the report's 95% intervals were made, as a note (none without intervals)."""
    method = report.get("bootstrap", {}).get("method")
    return [html.note(f"[lo, hi]: 95% intervals, {method}.")] if method else []


def verdicts_part(rows: list[Mapping[str, Any]], what: str) -> list[str]:
    """A heading, a sentence and the table of the best's paired comparisons with `what`."""
    if not rows:
        return []
    frame = pd.DataFrame(
        [
            {
                "against": row["against"],
                "figure": COMPARED[row["metric"]],
                "best minus it [95% interval]": with_interval(
                    row["difference"], row["interval"], "+"
                ),
                "verdict": row["verdict"],
            }
            for row in rows
        ]
    )
    sentence = (
        "On the same test images: the best's figure minus the other's, with the 95% interval of "
        "a subject-level bootstrap that resamples the same subjects for both. Better or worse "
        "only when the interval excludes 0."
    )
    return [html.heading(f"Paired with {what}"), html.paragraph(sentence), html.table(frame)]


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
    """cv.json of `tune.evaluate` as a table and a bar chart, or how to make it."""
    title = "Cross-validated comparison (subject-disjoint folds)"
    cv = read_json(run_dir / CV_FILE)
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
            + ". Hand-tuned configs are held to the study's budget, as above; linear is the "
            "logistic-regression baseline on 24 px crops, linear_probe the same regressions on "
            "the frozen FER2013 mini-Xception's features (transfer learning's yardstick: a "
            "fine-tuned network should beat it)." + _selection_note(cv)
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


def _selection_note(cv: Mapping[str, Any]) -> str:
    held = cv.get("selection_held_out")
    if not held:
        return " The best config was chosen on subjects that also sit in these test folds."
    return (
        f" Nested: the {held['subjects']} subjects of the study's validation split, on which the "
        "best config was chosen, never sit in a test fold; they only train and validate."
    )


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
