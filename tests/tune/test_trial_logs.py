"""A resumed trial that reports an epoch again leaves it once in progress.csv and result.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tune.trial_logs import ProgressCsvOnce, ResultJsonOnce, last_csv_epoch, last_json_epoch


@dataclass(eq=False)
class TrialFolder:
    """What Tune's loggers read of a trial: its id and local folder."""

    trial_id: str
    local_path: str
    config: dict = field(default_factory=dict)
    checkpoint: None = None  # nothing to copy back from remote storage

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)


def log(loggers, trial: TrialFolder, epochs: list[int]) -> None:
    for epoch in epochs:
        for logger in loggers:
            logger.log_trial_result(epoch, trial, {"epoch": epoch, "score": epoch / 10})
    for logger in loggers:
        logger.log_trial_end(trial)


def test_an_epoch_reported_again_after_a_resume_is_written_once(tmp_path: Path):
    trial = TrialFolder("t1", str(tmp_path / "trial_t1"))
    log([ProgressCsvOnce(), ResultJsonOnce()], trial, [1, 2, 3])
    # The resumed driver: new loggers, the trial restarted from epoch 2's checkpoint.
    log([ProgressCsvOnce(), ResultJsonOnce()], trial, [3, 4])
    progress = pd.read_csv(tmp_path / "trial_t1" / "progress.csv")
    assert progress["epoch"].tolist() == [1, 2, 3, 4]
    lines = (tmp_path / "trial_t1" / "result.json").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_last_epochs_pass_over_a_line_cut_short(tmp_path: Path):
    results = tmp_path / "result.json"
    results.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    assert last_json_epoch(results) == 2
    progress = tmp_path / "progress.csv"
    progress.write_text("score,epoch\n0.1,1\n0.2,2\n0.3,")
    assert last_csv_epoch(progress) == 2
    assert last_csv_epoch(tmp_path / "none.csv") == last_json_epoch(tmp_path / "none.json") == 0
