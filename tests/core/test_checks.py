"""The one checker (core.checks): its rules, their words, and the readers that use it."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from core.checks import Flag, Number, Numbers, OfType, OneOf, Texts, Whole, check, is_number
from core.config import (
    KNOWN_KEYS,
    MODEL_RULES,
    TRAIN_RULES,
    ModelConfig,
    TrainConfig,
    as_train_config,
    train_config,
)
from core.errors import ConfigError, DataError
from core.evaluation.thresholds import read_thresholds


@pytest.mark.parametrize("value", [True, False, math.nan, math.inf, "1", None, [1]])
def test_a_number_is_finite_and_never_a_bool(value):
    assert not is_number(value)


@pytest.mark.parametrize("value", [0, 1.5, -2, np.float32(0.5), np.int64(3)])
def test_numpy_and_python_numbers_are_numbers(value):
    assert is_number(value)


@pytest.mark.parametrize(
    ("rule", "good", "bad", "expected"),
    [
        (
            Whole(1, 4096),
            [1, 4096, np.int64(8)],
            [0, 4097, 8.0, True, "8"],
            "a whole number from 1 to 4096",
        ),
        (Whole(0), [0, 10**9], [-1, 0.5], "a whole number >= 0"),
        (
            Number(0.0, 1.0, low_open=True),
            [1, 0.5],
            [0, 1.01, math.nan, False],
            "a number in (0, 1]",
        ),
        (Number(0.0, 1.0, high_open=True), [0, 0.99], [1, -0.1], "a number in [0, 1)"),
        (Number(0.0, low_open=True), [1e-9], [0, -1], "a number > 0"),
        (
            Numbers(Number(0.0, 1.0)),
            [[], [0.5, 1]],
            [5, [0.5, None], ["0.5"]],
            "a list of numbers in [0, 1]",
        ),
        (Texts("AU names"), [["AU1"]], [[], ["AU1", 2], "AU1"], "a non-empty list of AU names"),
        (OneOf(("mtcnn", "haar")), ["haar"], ["dlib", None, ["haar"], 3], "one of mtcnn, haar"),
        (Flag(), [True, False], [1, "yes", None], "True or False"),
        (OfType(int), [3], [3.0, "3", True], "int"),
        (OfType(float), [3, 3.5], [True, math.nan, "3"], "float"),
        (OfType(str | None), ["a", None], [3], "str | None"),
        (OfType(dict[str, float]), [{"a": 1}], [{"a": "1"}, {1: 1.0}, []], "dict[str, float]"),
        (OfType(list[int] | None), [[1], None], [[1.5], (1,)], "list[int] | None"),
    ],
)
def test_each_rule_accepts_what_it_says_and_says_what_it_expects(rule, good, bad, expected):
    assert all(rule.fault(value) is None for value in good)
    for value in bad:
        fault = rule.fault(value)
        assert fault is not None and fault.expected == expected, value


def test_a_sided_whole_number_names_the_bound_it_breaks():
    rule = Whole(48, 1024, sided=True)
    assert rule.fault(16).expected == "a whole number >= 48"
    assert rule.fault(48.5).expected == "a whole number >= 48"
    assert rule.fault(100_000).expected == "a whole number <= 1024"


def test_one_of_each_shows_the_first_unknown_item_and_keeps_the_choice():
    rule = OneOf(("emotion", "au", "params"), each=True)
    assert rule.fault(["emotion", "speed", "time"]).value == "speed"
    assert OneOf((0.25, 0.5)).convert(0.5000000001) == 0.5


def test_check_says_the_first_fault_in_the_readers_words_and_converts_the_rest():
    rules = {"size": Whole(1, 10), "share": Number(0.0, 1.0)}
    assert check(rules, {"size": np.int64(3), "other": "x"}, "", ValueError) == {"size": 3}
    with pytest.raises(ValueError) as caught:
        check(
            rules,
            {"size": 30, "share": 2},
            "{where}: {key} is {shown} ({expected})",
            ValueError,
            where="f.json",
        )
    assert str(caught.value) == "f.json: size is 30 (a whole number from 1 to 10)"


# --- the readers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a whole number from 1 to 4096, got 0"),
        ({"crop_fraction": "0.5"}, "crop_fraction must be a number in (0, 1], got '0.5'"),
        ({"seed": True}, "seed must be a whole number >= 0, got True"),
        ({"mixed_precision": 1}, "mixed_precision must be True or False, got 1"),
        ({"au_weighting": "double"}, "au_weighting must be one of none, balanced, got 'double'"),
        ({"input_size": 16}, "input_size=16: expected a whole number >= 32"),
        (
            {"backbone": "mini_xception", "input_size": 40},
            "input_size=40: expected a whole number >= 48",
        ),
        ({"alpha": 0.3}, "alpha=0.3: expected one of 0.25, 0.5, 0.75, 1.0 (mobilenet's widths)"),
        (
            {"unfreeze_top_blocks": 14},
            "unfreeze_top_blocks=14: expected a whole number <= 13 (mobilenet has 13 blocks)",
        ),
        (
            {"targets": {"val_emotion_accuracy": 1.5}},
            "target val_emotion_accuracy=1.5: expected a number in [0, 1]",
        ),
        ({"targets": [0.8]}, "targets must be a mapping of metric to value, got [0.8]"),
    ],
)
def test_a_bad_config_is_one_line_naming_key_value_and_expectation(config, message):
    with pytest.raises(ConfigError) as caught:
        train_config(config)
    assert str(caught.value) == message


def test_a_config_is_frozen_typed_and_none_means_the_default():
    config = train_config({"alpha": 0.5 + 1e-12, "batch_size": None, "au_pos_weights": [2, 3]})
    assert config.model.alpha == 0.5 and config.batch_size == 16
    assert config.au_pos_weights == (2.0, 3.0)
    assert dict(config.targets) == {"val_emotion_accuracy": 0.8, "val_au_f1_macro": 0.4}
    assert as_train_config(config) is config  # checked once, passed on as it is
    with pytest.raises(AttributeError):
        config.batch_size = 4  # type: ignore[misc]


def test_the_weights_file_is_looked_for_only_when_asked(tmp_path: Path):
    gone = str(tmp_path / "gone.weights.h5")
    with pytest.raises(ConfigError, match=r"gone\.weights\.h5: no such file"):
        train_config({"backbone_weights": gone})
    assert (
        train_config({"backbone_weights": gone}, check_files=False).model.backbone_weights == gone
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"face_margin": 9}, "face_margin is 9; expected a number in [1, 4]"),
        ({"crop_fraction": True}, "crop_fraction is true; expected a number in (0, 1]"),
        ({"emotions": []}, "emotions is []; expected a non-empty list of emotion names"),
    ],
)
def test_thresholds_json_is_read_through_the_checker(tmp_path: Path, change, message):
    good = {"au_names": ["AU1"], "thresholds": [0.5], "input_size": 96, "crop_fraction": 1.0}
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({**good, "prepared_size": 480, **change}))
    with pytest.raises(DataError) as caught:
        read_thresholds(path)
    assert str(caught.value) == f"{path}: {message}"


def test_every_field_of_the_typed_config_has_a_rule_and_is_a_known_key():
    run = {f.name for f in fields(TrainConfig)} - {"model", "targets"}
    model = {f.name for f in fields(ModelConfig)} - {"backbone_weights"}  # checked apart
    assert run == set(TRAIN_RULES) and model == set(MODEL_RULES)
    assert run | model | {"backbone_weights", "targets"} == KNOWN_KEYS
