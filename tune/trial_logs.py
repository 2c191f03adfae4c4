"""Each trial's progress.csv and result.json hold every epoch once.

A study stopped by Ctrl-C saves Tune's state, then stops its trials; a trial's last report can
still reach Tune's loggers after that save, so the resumed trial starts again from the checkpoint
before it and reports that epoch a second time. Tune's own loggers append it again; these keep
the first report of an epoch and skip a repeat, as the Optuna journal does (tune.search).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ray.air.constants import EXPR_PROGRESS_FILE, EXPR_RESULT_FILE
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback


def last_csv_epoch(path: Path) -> int:
    """The highest epoch a progress.csv holds (0 for none; unreadable rows are passed over)."""
    if not path.is_file():
        return 0
    with path.open(newline="") as file:
        return max((_epoch(row.get("epoch")) for row in csv.DictReader(file)), default=0)


def last_json_epoch(path: Path) -> int:
    """The highest epoch a result.json (one JSON object a line) holds."""
    if not path.is_file():
        return 0
    epochs = [0]
    for line in path.read_text().splitlines():
        try:
            epochs.append(_epoch(json.loads(line).get("epoch")))
        except (ValueError, AttributeError):  # a line cut short by a crash
            continue
    return max(epochs)


def _epoch(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


class EpochsOnce:
    """Mixin for a Tune logger callback: a result whose epoch the trial's file holds is skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.last_epoch: dict[str, int] = {}

    def open_and_read(self, trial: Any) -> int:
        """Open the trial's file as Tune does (restoring it from remote storage) and return the
        highest epoch it holds."""
        raise NotImplementedError

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial.trial_id not in self.last_epoch:
            self.last_epoch[trial.trial_id] = self.open_and_read(trial)
        epoch = _epoch(result.get("epoch"))
        if epoch and epoch <= self.last_epoch[trial.trial_id]:
            return
        super().log_trial_result(iteration, trial, result)
        self.last_epoch[trial.trial_id] = epoch


class ProgressCsvOnce(EpochsOnce, CSVLoggerCallback):
    """progress.csv, every epoch once."""

    def open_and_read(self, trial: Any) -> int:
        if trial not in self._trial_files:
            self._setup_trial(trial)
        return last_csv_epoch(Path(trial.local_path, EXPR_PROGRESS_FILE))


class ResultJsonOnce(EpochsOnce, JsonLoggerCallback):
    """result.json, every epoch once."""

    def open_and_read(self, trial: Any) -> int:
        if trial not in self._trial_files:
            self.log_trial_start(trial)
        return last_json_epoch(Path(trial.local_path, EXPR_RESULT_FILE))
