"""What a finished study left on disk, read back for the report and cross-validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from core.dataset import TrainingData
from core.errors import DataError

from ..study import STUDY_FILE, StudySettings

BEST_CONFIG_FILE = "best_config.json"


def load_settings(run_dir: Path) -> StudySettings:
    """study.json of a study folder; a missing or damaged one is a one-line DataError."""
    if not (run_dir / STUDY_FILE).is_file():
        raise DataError(f"{run_dir}: not a study folder ({STUDY_FILE} is missing)")
    try:
        return StudySettings(**json.loads((run_dir / STUDY_FILE).read_text()))
    except (ValueError, TypeError) as error:
        raise DataError(f"{run_dir / STUDY_FILE}: damaged ({error})") from None


def read_results(run_dir: Path) -> pd.DataFrame:
    """results.csv, one row a trial."""
    path = run_dir / "results.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; the study has not finished once yet")
    return pd.read_csv(path, dtype={"trial_id": str, "node_id": str})  # hex ids stay text


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file the study wrote, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_data(settings: StudySettings) -> tuple[TrainingData | None, str | None]:
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
