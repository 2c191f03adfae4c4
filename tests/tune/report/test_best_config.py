"""best_config.json read back (tune.report.inputs): its config checked as every config is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import DataError
from tune.report.handtuned import best_candidate
from tune.report.inputs import BEST_CONFIG_FILE, read_best_config

BEST = {"trial_id": "abc", "input_size": 64, "max_epochs": 5, "picked_by": "confirmed mean"}


def written(folder: Path, payload: object) -> Path:
    (folder / BEST_CONFIG_FILE).write_text(json.dumps(payload))
    return folder


def test_the_best_config_is_checked_and_keeps_how_it_was_picked(tmp_path: Path):
    weights = str(tmp_path / "elsewhere.weights.h5")  # the study ran on another machine
    best = read_best_config(written(tmp_path, {**BEST, "backbone_weights": weights}))
    assert best is not None and best.payload["picked_by"] == "confirmed mean"
    assert best.config == {"input_size": 64, "max_epochs": 5, "backbone_weights": weights}
    assert best.checked.model.input_size == 64 and best.checked.crop_fraction == 1.0
    assert best_candidate(tmp_path, max_epochs=2).config == {**best.config, "max_epochs": 2}
    assert read_best_config(tmp_path / "none") is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**BEST, "input_size": "64"}, "input_size='64': expected a whole number >= 32"),
        ({**BEST, "zooom": 0.1}, "config: unknown key(s) zooom"),
        ([BEST], "holds a list, not an object"),
    ],
)
def test_a_damaged_best_config_is_one_line_naming_the_file(tmp_path: Path, payload, message):
    with pytest.raises(DataError) as caught:
        read_best_config(written(tmp_path, payload))
    assert str(caught.value).startswith(f"{tmp_path / BEST_CONFIG_FILE}: {message}")
    assert "\n" not in str(caught.value)
