"""The end of a study: results table, best config, best model and its test report, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.data.dataset import TrainingData
from core.files import replace_atomically, scratch_folder, write_json_atomically
from search_spaces import get

from .confirm import hand_tuned_start, retrain_on_study_split
from .confirmation import Confirmation
from .objectives import OBJECTIVES, pareto_front
from .ray_compat import grid_trials
from .storage import write_into
from .study import StudySettings
from .trial_status import trial_status

TABLE_METRICS = (
    "val_emotion_accuracy",
    "val_au_binary_accuracy",
    "val_au_f1_macro",
    "val_au_pr_auc",
    "score",
)


def results_table(grid, searched: list[str], objectives: list[str] | None = None) -> pd.DataFrame:
    """One row a trial: config, status, best epoch, metrics (and the objectives' values, with
    whether the trial is on the Pareto front), seconds, node, retries."""
    objectives = objectives or []
    rows = []
    trials = grid_trials(grid)  # Trial objects carry status and retries
    for order, trial in enumerate(trials):
        last = trial.last_result or {}
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "order": order,  # creation order: 0 is the hand-tuned start (unless skipped)
            "status": trial_status(trial),
        }
        row.update({key: trial.config.get(key) for key in searched})
        row["epochs"] = last.get("epoch", 0)
        row["best_epoch"] = last.get("best_epoch")
        row.update({key: last.get(key) for key in TABLE_METRICS})
        row.update(
            {OBJECTIVES[name].metric: last.get(OBJECTIVES[name].metric) for name in objectives}
        )
        row["seconds"] = round(float(last.get("time_total_s", 0.0)), 1)
        row["retries"] = trial.run_metadata.num_failures
        row["node_id"] = last.get("node_id")
        row["trial_dir"] = trial.path
        rows.append(row)
    table = pd.DataFrame(rows)
    if objectives and not table.empty:
        table["on_front"] = table["trial_id"].isin(front_ids(table, objectives))
    if not table.empty:
        # Stable: tied scores keep creation order, so the first row is best_trial's choice.
        table = table.sort_values("score", ascending=False, na_position="last", kind="stable")
    return table.reset_index(drop=True)


def with_confirmation(table: pd.DataFrame, confirmation: Confirmation | None) -> pd.DataFrame:
    """The table with each finalist's confirmed scores, mean, and how far its single-split score
    sat above the mean (empty for the other trials)."""
    if confirmation is None or table.empty:
        return table
    rows = {row["trial_id"]: row for row in confirmation.rows()}
    table = table.copy()
    for column in CONFIRMATION_COLUMNS:
        table[column] = [
            _cell(rows[trial_id][column]) if trial_id in rows else None
            for trial_id in table["trial_id"]
        ]
    return table


CONFIRMATION_COLUMNS = ("confirmed_mean", "val_above_confirmed", "confirmed_scores")


def _cell(value: Any) -> Any:
    """A list as its JSON text (one CSV cell); other values as they are."""
    return json.dumps(value) if isinstance(value, list) else value


def front_ids(table: pd.DataFrame, objectives: list[str]) -> list[str]:
    """The trials on the Pareto front: every trial that reported all objectives and ran (an
    errored or unfinished one has no final values)."""
    columns = [OBJECTIVES[name].metric for name in objectives]
    ran = table[~table["status"].isin(("errored", "unfinished", "not-started"))].dropna(
        subset=columns
    )
    points = {
        row["trial_id"]: {name: float(row[OBJECTIVES[name].metric]) for name in objectives}
        for _, row in ran.iterrows()
    }
    return pareto_front(points, objectives)


def front_payload(table: pd.DataFrame, grid, objectives: list[str]) -> list[dict[str, Any]]:
    """best_config.json's front: each member's trial id, objective values and config, in the
    order of the first objective, best first."""
    configs = {t.trial_id: t.config for t in grid_trials(grid)}
    first = OBJECTIVES[objectives[0]]
    members = table[table["on_front"]].sort_values(
        first.metric, ascending=first.mode == "min", kind="stable"
    )
    return [
        {
            "trial_id": row["trial_id"],
            "scores": {name: float(row[OBJECTIVES[name].metric]) for name in objectives},
            "config": _shareable(configs[row["trial_id"]]),
        }
        for _, row in members.iterrows()
    ]


def _shareable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not k.startswith("gpu")}


def best_trial(grid):
    """The trial with the best best-so-far score, or None when none reported one."""
    scored = [t for t in grid_trials(grid) if (t.last_result or {}).get("score")]
    return max(scored, key=lambda t: t.last_result["score"], default=None)


def checkpoint_model(checkpoint):
    """The model a trial's checkpoint holds (its best epoch's), loaded safely."""
    from core.model.best_weights import load_model_with_weights

    from .trainable import CHECKPOINT_MODEL, CHECKPOINT_WEIGHTS

    with checkpoint.checkpoint.as_directory() as folder:
        return load_model_with_weights(
            Path(folder) / CHECKPOINT_MODEL, Path(folder) / CHECKPOINT_WEIGHTS
        )


HAND_TUNED_START = "hand_tuned_start"


def compare_with_start(report: dict, best, start, data: TrainingData) -> None:
    """The best against the study's hand-tuned start on the same test images, paired, added to
    the report's comparisons (the terminal and the page say it in words); "hand_tuned_start"
    names the trial, how its training ended, and its test figures."""
    from core.config import train_config
    from core.evaluation.outputs import outputs_in
    from core.evaluation.verdicts import compare
    from core.training.loop import evaluate_on_test

    report["hand_tuned_start"] = {"trial_id": start.trial_id, "status": trial_status(start)}
    checkpoint = start.run_metadata.checkpoint_manager.latest_checkpoint_result
    if start.trial_id == best.trial_id or checkpoint is None:
        return
    config = train_config(start.config, check_files=False)  # its weights are in the checkpoint
    theirs = evaluate_on_test(checkpoint_model(checkpoint), config, data)
    ours = outputs_in(report)
    if ours is not None:
        report["comparisons"] = report.get("comparisons", []) + compare(
            ours, outputs_in(theirs), HAND_TUNED_START
        )
    report["hand_tuned_start"]["test"] = {
        key: theirs[key] for key in ("emotion", "au_tuned_on_val", "intervals") if key in theirs
    }


def export_best(
    trial,
    data: TrainingData,
    out: Path,
    seed: int = 0,
    model_file: Path | None = None,
    start=None,
) -> dict | None:
    """The best trial's best-epoch model and its test report (thresholds tuned on validation),
    paired with the hand-tuned `start` trial's when given.
    `model_file`: its model trained again to its end (a pruned trial the confirmation picked)."""
    checkpoint = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
    if checkpoint is None and model_file is None:
        return None
    from core.quiet import import_tensorflow

    import_tensorflow()
    import keras

    import core.model.builders  # noqa: F401  registers the custom loss and AU metrics load_model needs
    from core.config import train_config
    from core.evaluation.metrics import format_report
    from core.evaluation.thresholds import write_thresholds
    from core.evaluation.yardstick import add_baselines, format_beside_baselines
    from core.training.loop import evaluate_on_test

    if model_file is not None:
        model = keras.models.load_model(model_file, safe_mode=True)
    else:
        model = checkpoint_model(checkpoint)
    config = train_config(trial.config, check_files=False)  # its weights are in the model
    report = add_baselines(evaluate_on_test(model, config, data), data, seed=seed)
    if start is not None:
        compare_with_start(report, trial, start, data)
    report["trial_id"] = trial.trial_id
    report["best_epoch"] = trial.last_result.get("best_epoch")
    replace_atomically(out / "model.keras", model.save)
    write_json_atomically(out / "report.json", report)
    write_thresholds(out, report, config, data.prepared)
    print(format_report(report))
    print(format_beside_baselines(report, name=f"best trial {trial.trial_id}"))
    if report.get("hand_tuned_start", {}).get("trial_id") == trial.trial_id:
        print(f"best trial {trial.trial_id} is the hand-tuned start itself")
    return report


def format_front(front: list[dict[str, Any]], objectives: list[str]) -> str:
    """The Pareto front as the terminal shows it: one line a member."""
    lines = [
        f"Pareto front ({len(front)} trials): " + ", ".join(OBJECTIVES[n].label for n in objectives)
    ]
    for member in front:
        values = ", ".join(f"{name} {member['scores'][name]:.4g}" for name in objectives)
        lines.append(f"  {member['trial_id']}: {values}")
    return "\n".join(lines)


def finish_study(
    settings: StudySettings,
    grid,
    data: TrainingData,
    wall_seconds: float,
    confirmation: Confirmation | None = None,
) -> Path | None:
    """Write results.csv, best_config.json, best/ (model + report); print the summary. The best
    is the confirmation's pick when it has one, else the best single-split score.

    Returns the local study folder, or None when the storage is remote (files uploaded there).
    """
    searched = list(get(settings.space).params)
    table = with_confirmation(results_table(grid, searched, settings.objectives), confirmation)
    counts = table["status"].value_counts().to_dict() if not table.empty else {}
    objective_columns = [OBJECTIVES[name].metric for name in settings.objectives]
    shown = ["trial_id", "status", *searched, "epochs", "best_epoch", *TABLE_METRICS]
    shown += [*objective_columns, "on_front", "seconds"]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[[c for c in shown if c in table]].to_string(index=False, float_format="%.4g"))
    print(
        f"{len(table)} trials in {wall_seconds:.0f} s: "
        + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    )
    pick = confirmation.pick() if confirmation is not None else None
    trials = grid_trials(grid)
    by_id = {t.trial_id: t for t in trials}
    best = by_id[pick.trial_id] if pick is not None else best_trial(grid)

    def write(out: Path) -> None:
        replace_atomically(out / "results.csv", lambda path: table.to_csv(path, index=False))
        if best is None:
            return
        best_config = {"trial_id": best.trial_id, **_shareable(best.config)}
        if confirmation is not None:
            best_config["picked_by"] = (
                "confirmed mean" if pick is not None else "single-split score (none confirmed)"
            )
            best_config["confirmation"] = confirmation.rows()
        if settings.objectives:  # the best by score (exported to best/) and the whole front
            best_config["objectives"] = list(settings.objectives)
            best_config["front"] = front_payload(table, grid, settings.objectives)
            print(format_front(best_config["front"], settings.objectives))
        write_json_atomically(out / "best_config.json", best_config)
        (out / "best").mkdir(exist_ok=True)
        with scratch_folder("retrained") as scratch:
            model_file = None
            if pick is not None and not pick.ended:
                print(
                    f"training {pick.trial_id} to its end on the study's split (it was cut short)"
                )
                model_file = retrain_on_study_split(settings, data, pick, scratch)
            start = hand_tuned_start(trials, settings)
            report = export_best(best, data, out / "best", settings.seed, model_file, start)
        confirmed = confirmation.mean_of(pick) if pick is not None else None
        mean = "" if confirmed is None else f", confirmed mean {confirmed:.4f} on fresh splits"
        print(f"best trial {best.trial_id}: score {best.last_result['score']:.4f}{mean}")
        print(f"best config: {json.dumps({k: best.config.get(k) for k in searched})}")
        if report is not None:
            print(f"best model: {settings.experiment_path}/best/model.keras")

    run_dir = write_into(settings.experiment_path, write)
    print(f"results table: {settings.experiment_path}/results.csv")
    print(f"TensorBoard: tensorboard --logdir {settings.experiment_path} --host 127.0.0.1")
    return run_dir
