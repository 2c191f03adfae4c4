"""What a finished study left on disk, read back for the report and cross-validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.config import TrainConfig, train_config
from core.data.dataset import TrainingData
from core.errors import ConfigError, DataError, first_line
from core.files import TEXT_BYTES_LIMIT, read_bounded

from ..study import STUDY_FILE, StudySettings

BEST_CONFIG_FILE = "best_config.json"
# best_config.json's keys that are not the config: which trial, how it was picked, the front.
BEST_CONFIG_EXTRAS = ("trial_id", "picked_by", "confirmation", "objectives", "front")
# What the report reads of every row (tune.results writes them all).
RESULT_COLUMNS = ("trial_id", "order", "status", "epochs", "score")


def load_settings(run_dir: Path) -> StudySettings:
    """study.json of a study folder; a missing or damaged one is a one-line error."""
    path = run_dir / STUDY_FILE
    if not path.is_file():
        raise DataError(f"{run_dir}: not a study folder ({STUDY_FILE} is missing)")
    try:
        text = read_bounded(path, TEXT_BYTES_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot be read ({first_line(error)})") from None
    return StudySettings.parse(text, str(path))


def read_results(run_dir: Path) -> pd.DataFrame:
    """results.csv, one row a trial."""
    path = run_dir / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; the study has not finished once yet")
    try:
        table = pd.read_csv(path, dtype={"trial_id": str, "node_id": str})  # hex ids stay text
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: damaged ({first_line(error)})") from None
    missing = [column for column in RESULT_COLUMNS if column not in table.columns]
    if missing:
        raise DataError(f"{path}: damaged (no column {', '.join(missing)})")
    return table


@dataclass(frozen=True)
class BestConfig:
    """best_config.json: all of it (`payload`: the config and how it was picked), the best
    trial's config as Tune gave it (plain values, to train again) and that config checked."""

    payload: dict[str, Any]
    config: dict[str, Any]
    checked: TrainConfig


def read_best_config(run_dir: Path) -> BestConfig | None:
    """best_config.json of a study folder, its config checked as every config is (its weights
    file is not looked for: the study may have run elsewhere); None when there is none yet; a
    damaged one is a one-line error naming the file."""
    path = run_dir / BEST_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(read_bounded(path, TEXT_BYTES_LIMIT).decode("utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable best config ({first_line(error)})") from None
    if not isinstance(payload, dict):
        raise DataError(f"{path}: holds a {type(payload).__name__}, not an object")
    config = {k: v for k, v in payload.items() if k not in BEST_CONFIG_EXTRAS}
    try:
        return BestConfig(payload, config, train_config(config, check_files=False))
    except ConfigError as error:
        raise DataError(f"{path}: {error}") from None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file the study wrote, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_data(settings: StudySettings) -> tuple[TrainingData | None, str | None]:
    """The study's data and split (same seed); a source that is gone only loses its sections."""
    try:
        data = settings.load_data(progress=False)
    except DataError as error:
        return None, str(error)
    return data, None
