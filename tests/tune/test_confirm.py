"""The pick among confirmed finalists: means over the splits every finalist finished."""

from __future__ import annotations

import json

import pytest

from tune.confirm import Confirmation, Finalist


def finalist(trial_id: str, val_score: float, scores, start: bool = False) -> Finalist:
    return Finalist(trial_id, val_score, {"input_size": 32}, start, True, list(scores))


def test_the_best_confirmed_mean_is_picked_not_the_best_single_split():
    lucky = finalist("lucky", 0.80, [0.60, 0.62])
    steady = finalist("steady", 0.70, [0.68, 0.70], start=True)
    confirmation = Confirmation(repeats=2, seed=0, finalists=[lucky, steady])
    assert confirmation.pick() is steady
    rows = {row["trial_id"]: row for row in confirmation.rows()}
    assert rows["lucky"]["confirmed_mean"] == pytest.approx(0.61)
    assert rows["lucky"]["val_above_confirmed"] == pytest.approx(0.19)  # the winner's curse
    assert rows["steady"]["hand_tuned_start"] is True
    json.dumps(confirmation.to_json())  # confirmation.json is plain JSON
    assert Confirmation.from_json(json.loads(json.dumps(confirmation.to_json()))) == confirmation


def test_finalists_compare_on_the_splits_all_of_them_finished():
    # split 2 is missing for b (cut by the budget): a's better split 2 must not count for a.
    a = finalist("a", 0.7, [0.50, 0.90])
    b = finalist("b", 0.7, [0.55, None])
    confirmation = Confirmation(repeats=2, seed=0, finalists=[a, b])
    assert confirmation.common_repeats() == [0]
    assert confirmation.pick() is b
    assert confirmation.mean_of(a) == pytest.approx(0.50)


def test_a_finalist_that_never_finished_is_left_out_and_none_finished_picks_nothing():
    a = finalist("a", 0.7, [0.50, 0.60])
    failed = finalist("failed", 0.9, [None, None])
    assert Confirmation(2, 0, [a, failed]).pick() is a
    assert (
        Confirmation(2, 0, [finalist("x", 0.7, [None]), finalist("y", 0.6, [None])]).pick() is None
    )


def test_ties_go_to_the_better_single_split_score():
    a = finalist("a", 0.60, [0.5])
    b = finalist("b", 0.65, [0.5])
    assert Confirmation(1, 0, [a, b]).pick() is b
