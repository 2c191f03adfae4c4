"""Finalists confirmed on fresh splits: the pick (means over the splits every finalist
finished), and a real study that confirms, is interrupted mid-confirmation and goes on."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import start_study
from tune.confirmation import Confirmation, Finalist


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


@pytest.mark.slow
def test_finalists_are_confirmed_on_fresh_splits_and_a_resume_goes_on_mid_confirmation(
    small_synthetic: Path, tmp_path: Path
):
    args = ["--smoke-test", "--data", str(small_synthetic), "--storage", str(tmp_path)]
    args += ["--name", "final", "--num-samples", "2", "--finalists", "2", "--confirm", "2"]
    args += ["--no-report"]  # the page's table: test_the_report_shows_the_finalists
    driver = start_study(args)
    saved = tmp_path / "final" / "confirmation.json"

    def first_scores() -> list | None:
        with contextlib.suppress(OSError, ValueError):
            scores = [f["scores"] for f in json.loads(saved.read_text())["finalists"]]
            return scores if any(s is not None for row in scores for s in row) else None
        return None

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None and first_scores() is None:
        time.sleep(0.2)
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=180)
    assert driver.returncode == 130, output
    assert "confirming 2 finalists (the top 2 by score)" in output, output
    cut = json.loads(saved.read_text())
    assert not cut["complete"]
    done_before = {
        (f["trial_id"], r): s for f in cut["finalists"] for r, s in enumerate(f["scores"]) if s
    }
    assert 0 < len(done_before) < 2 * len(cut["finalists"])

    resumed = start_study(["--resume", "--name", "final", "--storage", str(tmp_path)])
    output, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, output
    assert f"going on after {len(done_before)} saved" in output, output
    final = json.loads(saved.read_text())
    assert final["complete"] and final["cut_by_budget"] == 0
    assert [f["trial_id"] for f in final["finalists"]] == [f["trial_id"] for f in cut["finalists"]]
    for (trial_id, repeat), score in done_before.items():  # kept, not trained again
        (kept,) = [f["scores"][repeat] for f in final["finalists"] if f["trial_id"] == trial_id]
        assert kept == score
    for run_line in re.findall(r"confirm (\w+) split (\d)/2: score", output):
        assert (run_line[0], int(run_line[1]) - 1) not in done_before
    # The study names its best by the confirmed mean, and best/ holds that trial.
    best = json.loads((tmp_path / "final" / "best_config.json").read_text())
    rows = best["confirmation"]
    assert len(rows) == len(final["finalists"]) and best["picked_by"] == "confirmed mean"
    assert sum(r["hand_tuned_start"] for r in rows) == 1
    for row in rows:
        assert len(row["confirmed_scores"]) == 2 and None not in row["confirmed_scores"]
        assert row["confirmed_mean"] == pytest.approx(sum(row["confirmed_scores"]) / 2)
        assert row["val_above_confirmed"] == pytest.approx(row["val_score"] - row["confirmed_mean"])
    top = max(rows, key=lambda r: (r["confirmed_mean"], r["val_score"]))
    assert best["trial_id"] == top["trial_id"]
    report = json.loads((tmp_path / "final" / "best" / "report.json").read_text())
    assert report["trial_id"] == top["trial_id"]
    # ... and the terminal says, paired on the test images, how it compares with the start.
    (start,) = [r["trial_id"] for r in rows if r["hand_tuned_start"]]
    assert report["hand_tuned_start"]["trial_id"] == start
    against = {row["against"] for row in report["comparisons"]}
    if start == top["trial_id"]:
        assert f"best trial {start} is the hand-tuned start itself" in output
        assert "hand_tuned_start" not in against
    else:
        assert "hand_tuned_start" in against
        assert f"best trial {top['trial_id']} vs hand tuned start: emotion acc " in output
    table = pd.read_csv(tmp_path / "final" / "results.csv", dtype={"trial_id": str})
    confirmed = table.dropna(subset=["confirmed_mean"])
    assert sorted(confirmed["trial_id"]) == sorted(r["trial_id"] for r in rows)


def test_runs_go_repeat_by_repeat_with_the_hand_tuned_start_last():
    from tune.confirm import run_order

    top = finalist("top", 0.8, [None, None])
    second = finalist("second", 0.7, [0.6, None])
    start = finalist("start", 0.4, [None, None], start=True)
    order = [(f.trial_id, r) for f, r in run_order(Confirmation(2, 0, [top, start, second]))]
    assert order == [("top", 0), ("top", 1), ("second", 1), ("start", 0), ("start", 1)]


def test_the_report_shows_the_finalists_beside_their_single_split_scores():
    from tune.report.page import confirmation_part

    lucky = finalist("lucky", 0.80, [0.60, 0.62])
    start = finalist("start", 0.70, [0.68, None], start=True)
    best = {
        "picked_by": "confirmed mean",
        "confirmation": Confirmation(2, 0, [lucky, start]).rows(),
    }
    heading, sentence, table = confirmation_part(best)
    assert "Finalists confirmed on fresh splits" in heading
    assert "picked by: confirmed mean" in sentence
    assert "start (hand-tuned start)" in table and "0.600, 0.620" in table and "0.680, -" in table
    assert confirmation_part({"trial_id": "x"}) == []  # --confirm 0: no table
