"""The end of a study: results table, best config, best model and its test report, TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.dataset import TrainingData
from core.files import replace_atomically, write_json_atomically
from search_spaces import get

from .objectives import OBJECTIVES, pareto_front
from .ray_compat import grid_trials
from .storage import write_into
from .study import StudySettings

TABLE_METRICS = (
    "val_emotion_accuracy",
    "val_au_binary_accuracy",
    "val_au_f1_macro",
    "val_au_pr_auc",
    "score",
)


def trial_status(trial, ended: bool = False) -> str:
    """met-targets / pruned / finished / cut-short / errored / unfinished, from what the trial
    last said. A trial Tune ended itself (ASHA, the stopper) has `done` in its last result; one
    stopped from outside (the study's time budget, --stop-on-target) has not: cut-short.

    `ended`: Tune is completing the trial but has not updated its status yet (callbacks).
    """
    last = trial.last_result or {}
    if trial.status == "ERROR":
        return "errored"
    if trial.status in ("PENDING", "PAUSED") or (trial.status == "RUNNING" and not ended):
        return "unfinished"
    if last.get("targets_met"):
        return "met-targets"
    if last.get("stopped_by") in ("patience", "max_epochs"):
        return "finished"
    if not last:
        return "not-started"
    return "pruned" if last.get("done") else "cut-short"


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


def export_best(trial, data: TrainingData, out: Path, seed: int = 0) -> dict | None:
    """The best trial's best-epoch model and its test report (thresholds tuned on validation)."""
    checkpoint = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
    if checkpoint is None:
        return None
    from core.quiet import import_tensorflow

    import_tensorflow()
    import keras

    import core.models  # noqa: F401  registers the custom loss and AU metrics load_model needs
    from core.loop import evaluate_on_test
    from core.metrics import format_report
    from core.thresholds import write_thresholds
    from core.yardstick import add_baselines, format_beside_baselines

    from .trainable import CHECKPOINT_MODEL

    with checkpoint.checkpoint.as_directory() as folder:
        model = keras.models.load_model(Path(folder) / CHECKPOINT_MODEL, safe_mode=True)
    report = add_baselines(evaluate_on_test(model, trial.config, data), data, seed=seed)
    report["trial_id"] = trial.trial_id
    report["best_epoch"] = trial.last_result.get("best_epoch")
    replace_atomically(out / "model.keras", model.save)
    write_json_atomically(out / "report.json", report)
    write_thresholds(out, report, trial.config, data.prepared)
    print(format_report(report))
    print(format_beside_baselines(report, name=f"best trial {trial.trial_id}"))
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
    settings: StudySettings, grid, data: TrainingData, wall_seconds: float
) -> Path | None:
    """Write results.csv, best_config.json, best/ (model + report); print the summary.

    Returns the local study folder, or None when the storage is remote (files uploaded there).
    """
    searched = list(get(settings.space).params)
    table = results_table(grid, searched, settings.objectives)
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
    best = best_trial(grid)

    def write(out: Path) -> None:
        replace_atomically(out / "results.csv", lambda path: table.to_csv(path, index=False))
        if best is None:
            return
        best_config = {"trial_id": best.trial_id, **_shareable(best.config)}
        if settings.objectives:  # the best by score (exported to best/) and the whole front
            best_config["objectives"] = list(settings.objectives)
            best_config["front"] = front_payload(table, grid, settings.objectives)
            print(format_front(best_config["front"], settings.objectives))
        write_json_atomically(out / "best_config.json", best_config)
        (out / "best").mkdir(exist_ok=True)
        report = export_best(best, data, out / "best", seed=settings.seed)
        print(f"best trial {best.trial_id}: score {best.last_result['score']:.4f}")
        print(f"best config: {json.dumps({k: best.config.get(k) for k in searched})}")
        if report is not None:
            print(f"best model: {settings.experiment_path}/best/model.keras")

    run_dir = write_into(settings.experiment_path, write)
    print(f"results table: {settings.experiment_path}/results.csv")
    print(f"TensorBoard: tensorboard --logdir {settings.experiment_path} --host 127.0.0.1")
    return run_dir
