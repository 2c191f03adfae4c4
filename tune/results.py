"""The end of a study: results table, best config, best model and its test report, TensorBoard."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from core.train import TrainingData, write_json_atomically
from search_spaces import get

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


def results_table(grid, searched: list[str]) -> pd.DataFrame:
    """One row a trial: config, status, best epoch, metrics, seconds, node, retries."""
    rows = []
    trials = grid._experiment_analysis.trials  # Trial objects carry status and retries
    for order, trial in enumerate(trials):
        last = trial.last_result or {}
        row: dict[str, Any] = {
            "trial_id": trial.trial_id,
            "order": order,  # creation order: 0 is the space's hand-tuned start
            "status": trial_status(trial),
        }
        row.update({key: trial.config.get(key) for key in searched})
        row["epochs"] = last.get("epoch", 0)
        row["best_epoch"] = last.get("best_epoch")
        row.update({key: last.get(key) for key in TABLE_METRICS})
        row["seconds"] = round(float(last.get("time_total_s", 0.0)), 1)
        row["retries"] = trial.run_metadata.num_failures
        row["node_id"] = last.get("node_id")
        row["trial_dir"] = trial.path
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values("score", ascending=False, na_position="last")
    return table.reset_index(drop=True)


def best_trial(grid):
    scored = [t for t in grid._experiment_analysis.trials if (t.last_result or {}).get("score")]
    return max(scored, key=lambda t: t.last_result["score"], default=None)


def export_best(trial, settings: StudySettings, data: TrainingData, out: Path) -> dict | None:
    """The best trial's best-epoch model and its test report (thresholds tuned on validation)."""
    checkpoint = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
    if checkpoint is None:
        return None
    import keras

    import core.models  # noqa: F401  registers the custom loss and AU metrics load_model needs
    from core.metrics import format_report
    from core.thresholds import write_thresholds
    from core.train import evaluate

    from .trainable import CHECKPOINT_MODEL

    with checkpoint.checkpoint.as_directory() as folder:
        model = keras.models.load_model(Path(folder) / CHECKPOINT_MODEL, safe_mode=True)
    report = evaluate(model, trial.config, data)
    report["trial_id"] = trial.trial_id
    report["best_epoch"] = trial.last_result.get("best_epoch")
    temporary = out / "model.tmp.keras"
    model.save(temporary)
    os.replace(temporary, out / "model.keras")
    write_json_atomically(out / "report.json", report)
    write_thresholds(out, report, trial.config, data.prepared.size)
    print(format_report(report))
    return report


def finish_study(
    settings: StudySettings, grid, data: TrainingData, wall_seconds: float
) -> Path | None:
    """Write results.csv, best_config.json, best/ (model + report); print the summary."""
    searched = list(get(settings.space).params)
    table = results_table(grid, searched)
    remote = "://" in settings.storage
    out = Path(tempfile.mkdtemp()) if remote else Path(settings.experiment_path)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "results.csv.tmp", index=False)
    os.replace(out / "results.csv.tmp", out / "results.csv")
    counts = table["status"].value_counts().to_dict() if not table.empty else {}
    shown = ["trial_id", "status", *searched, "epochs", "best_epoch", *TABLE_METRICS, "seconds"]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[[c for c in shown if c in table]].to_string(index=False, float_format="%.4g"))
    print(
        f"{len(table)} trials in {wall_seconds:.0f} s: "
        + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    )
    best = best_trial(grid)
    if best is not None:
        best_config = {k: v for k, v in best.config.items() if not k.startswith("gpu")}
        write_json_atomically(out / "best_config.json", {"trial_id": best.trial_id, **best_config})
        (out / "best").mkdir(exist_ok=True)
        report = export_best(best, settings, data, out / "best")
        print(f"best trial {best.trial_id}: score {best.last_result['score']:.4f}")
        print(f"best config: {json.dumps({k: best.config.get(k) for k in searched})}")
        if report is not None:
            print(f"best model: {settings.experiment_path}/best/model.keras")
    if remote:
        _upload(out, settings.experiment_path)
        shutil.rmtree(out, ignore_errors=True)
    print(f"results table: {settings.experiment_path}/results.csv")
    print(f"TensorBoard: tensorboard --logdir {settings.experiment_path} --host 127.0.0.1")
    return None if remote else out


def _upload(folder: Path, uri: str) -> None:
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    pyarrow.fs.copy_files(str(folder), path, destination_filesystem=filesystem)
