"""Multi-objective studies: the objectives a user may name, and the Pareto front."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from tune.objectives import metrics_and_modes, pareto_front, parse_objectives


def test_two_or_three_objectives_with_at_most_one_cost():
    assert parse_objectives("emotion,au,latency") == ["emotion", "au", "latency"]
    assert metrics_and_modes(["emotion", "params"]) == (
        ["best_val_emotion_accuracy", "model_params"],
        ["max", "min"],
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("emotion", "give two or three objectives"),
        ("emotion,au,params,latency", "give two or three objectives"),
        ("emotion,emotion", "an objective is named twice"),
        ("emotion,speed", "unknown objective 'speed'; known: emotion, au, params, latency"),
        ("emotion,params,latency", "at most one cost (params or latency)"),
    ],
)
def test_a_wrong_list_is_refused_naming_the_problem(text: str, message: str):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_objectives(text)


def test_the_front_keeps_every_trial_no_other_beats_on_all_objectives():
    points = {
        "small-good": {"emotion": 0.80, "params": 200_000},
        "big-better": {"emotion": 0.85, "params": 3_000_000},
        "big-worse": {"emotion": 0.75, "params": 3_000_000},  # beaten by small-good on both
        "tie": {"emotion": 0.80, "params": 200_000},  # equal to small-good: neither beats it
        "small-worse": {"emotion": 0.70, "params": 200_000},  # same size, less accurate
    }
    assert pareto_front(points, ["emotion", "params"]) == ["small-good", "big-better", "tie"]
