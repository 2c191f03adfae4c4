"""The honest yardstick: presets whose targets no trivial model meets, floors said before
training, and cross-validation that never tests a config on the subjects that chose it."""

from __future__ import annotations

import pytest

from core.config import DEFAULT_TARGETS, TARGET_PRESETS, targets_from_options
from core.errors import ConfigError
from core.evaluation.yardstick import announce_floors, format_beside_baselines, validation_floors


def test_default_targets_pair_emotion_accuracy_with_au_macro_f1():
    assert set(DEFAULT_TARGETS) == {"val_emotion_accuracy", "val_au_f1_macro"}
    assert TARGET_PRESETS["report"] == {
        "val_emotion_accuracy": 0.80,
        "val_au_binary_accuracy": 0.70,
    }


@pytest.mark.parametrize(
    ("preset", "items", "expected"),
    [
        (None, [], DEFAULT_TARGETS),
        ("report", [], TARGET_PRESETS["report"]),
        (None, ["val_au_pr_auc=0.4"], {"val_au_pr_auc": 0.4}),  # alone: the whole set
        (
            "report",
            ["val_emotion_accuracy=0.9"],
            {**TARGET_PRESETS["report"], "val_emotion_accuracy": 0.9},
        ),
    ],
)
def test_targets_from_presets_and_items(preset, items, expected):
    assert targets_from_options(preset, items) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("val_loss=0.5", "lower is better there; a target is a minimum"),
        ("val_emotion_accuracy=1.5", r"expected a number in \[0, 1\]"),
        ("val_emotion_accuracy=nan", r"expected a number in \[0, 1\]"),
        ("val_au_f1_macro=-0.1", r"expected a number in \[0, 1\]"),
    ],
)
def test_targets_that_cannot_mean_what_they_say_are_refused(item: str, message: str):
    with pytest.raises(ConfigError, match=message):
        targets_from_options(None, [item])


def test_floors_are_printed_and_a_weak_target_warns_on_stderr(capsys):
    floors = {"val_emotion_accuracy": 0.53, "val_au_binary_accuracy": 0.786}
    warnings = announce_floors(TARGET_PRESETS["report"], floors)
    out, err = capsys.readouterr()
    assert "floors on validation" in out and "val_au_binary_accuracy 0.786" in out
    assert len(warnings) == 1 and err.splitlines() == warnings
    assert "val_au_binary_accuracy=0.7 is at or below its floor 0.786" in err
    assert announce_floors(DEFAULT_TARGETS, {**floors, "val_au_f1_macro": 0.35}) == []


def test_beside_baselines_shows_every_baseline_and_na_for_undefined():
    def report(acc, f1, ap):
        return {"emotion": {"accuracy": acc}, "au_tuned_on_val": {"f1_macro": f1, "mAP": ap}}

    model = report(0.9, 0.6, 0.7)
    model["baselines"] = {"linear": report(0.6, 0.3, 0.4), "majority": report(0.5, None, 0.2)}
    lines = format_beside_baselines(model).splitlines()
    assert len(lines) == 4  # header, the model, linear, majority (all_present absent)
    assert lines[1].split()[-3:] == ["0.900", "0.600", "0.700"]
    assert lines[2].startswith("linear") and lines[2].split()[-3:] == ["0.600", "0.300", "0.400"]
    assert lines[3].startswith("majority") and lines[3].split()[-3:] == ["0.500", "n/a", "0.200"]


def test_the_terminal_shows_each_interval_and_says_each_verdict_in_words():
    def report(acc, f1, ap, width):
        figures = {"emotion_accuracy": acc, "au_f1_macro_tuned": f1, "au_mAP": ap}
        return {
            "emotion": {"accuracy": acc},
            "au_tuned_on_val": {"f1_macro": f1, "mAP": ap},
            "intervals": {key: [v - width, v + width] for key, v in figures.items()},
        }

    model = report(0.9, 0.6, 0.7, 0.05)
    model["bootstrap"] = {"method": "subject-level bootstrap"}
    model["baselines"] = {"linear": report(0.6, 0.3, 0.4, 0.1)}
    model["comparisons"] = [
        {"against": "linear", "metric": "emotion_accuracy", "difference": 0.3,
         "interval": [0.12, 0.45], "verdict": "better"},
        {"against": "linear", "metric": "au_mAP", "difference": -0.02,
         "interval": [-0.1, 0.07], "verdict": "no clear difference"},
    ]  # fmt: skip
    lines = format_beside_baselines(model).splitlines()
    assert lines[1].endswith("0.900 [0.85, 0.95]    0.600 [0.55, 0.65]    0.700 [0.65, 0.75]")
    assert lines[2].startswith("linear") and "0.600 [0.50, 0.70]" in lines[2]
    assert lines[3] == "[lo, hi]: 95% intervals, subject-level bootstrap"
    assert lines[4] == (
        "this model vs linear: emotion acc +0.300 [+0.12, +0.45] better; "
        "AU mAP -0.020 [-0.10, +0.07] no clear difference"
    )


@pytest.mark.slow
def test_on_the_built_in_set_the_report_preset_warns_and_the_default_does_not():
    from core.data.dataset import load_training_data
    from core.evaluation.baselines import floor_warnings

    data = load_training_data(None, prepared_size=64, progress=False)
    floors = validation_floors(data)
    weak = floor_warnings(TARGET_PRESETS["report"], floors)
    assert len(weak) == 1 and "val_au_binary_accuracy=0.7" in weak[0]
    assert floor_warnings(DEFAULT_TARGETS, floors) == []
