"""Figures on resamples, reports with intervals, and paired comparisons with their verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluation.metrics import FIGURES, figure_of, test_report_at
from core.evaluation.outputs import TestOutputs, outputs_in, test_outputs
from core.evaluation.verdicts import BETTER, UNCLEAR, WORSE, compare, scored_report, verdict

SIZES = [4, 4, 5, 5, 3, 4, 4, 5, 4, 3, 5, 5, 5, 3, 5, 5, 4, 6]
SUBJECTS = np.repeat([f"S{i:03d}" for i in range(len(SIZES))], SIZES)
N, N_AUS = len(SUBJECTS), 5


def outputs(right: np.ndarray, seed: int = 0) -> TestOutputs:
    """Outputs on one fixed test set whose emotion is right where `right` is True; AU scores
    are the truth blurred by `right` too (a right image scores its AUs on the right side)."""
    rng = np.random.default_rng(0)
    emotions = rng.integers(0, 3, N)
    aus = (rng.random((N, N_AUS)) < 0.3).astype(int)
    aus[:, 4] = 0  # no positive on test: left out of the AU means
    guess = np.where(right, emotions, (emotions + 1) % 3)
    noise = np.random.default_rng(seed).random((N, N_AUS)) * 0.4
    au_prob = np.where(right[:, None] == aus.astype(bool), 0.55 + noise, 0.45 - noise)
    return TestOutputs(SUBJECTS, emotions, np.eye(3)[guess], aus, au_prob, (0.5,) * N_AUS)


def test_figures_on_a_resample_equal_core_metrics_on_its_images():
    rng = np.random.default_rng(3)
    truth = (rng.random((N, N_AUS)) < 0.25).astype(int)
    truth[:, 2] = 0
    model = test_outputs(
        SUBJECTS,
        rng.integers(0, 3, N),
        rng.dirichlet(np.ones(3), N),
        truth,
        np.round(rng.random((N, N_AUS)), 1),  # tied scores: one step of the AP curve
        (rng.random((40, N_AUS)) < 0.3).astype(int),
        rng.random((40, N_AUS)),
    )
    boot = model.bootstrap
    for row in boot.draws[:20]:
        images = np.concatenate([np.flatnonzero(boot.codes == s) for s in row])
        report = test_report_at(
            model.emotion_true[images],
            model.emotion_prob[images],
            model.au_true[images],
            model.au_prob[images],
            model.thresholds,
        )
        expected = [figure_of(report, key) for key in FIGURES]
        got = model.figures(boot.weights(row[None]))[:, 0]
        np.testing.assert_allclose(got, np.array(expected, dtype=float), rtol=1e-12)


def test_a_report_gives_each_figure_an_interval_around_it_and_says_how():
    report = scored_report(outputs(np.arange(N) % 3 > 0), keep_outputs=True)
    assert set(report["intervals"]) == set(FIGURES)
    for key, (low, high) in report["intervals"].items():
        assert low <= figure_of(report, key) <= high and low < high
    assert report["bootstrap"]["resamples"] == 2000 and report["bootstrap"]["subjects"] == 18
    assert len(report["test_outputs"]["subjects"]) == N


def test_a_model_against_itself_is_no_clear_difference_with_interval_zero():
    model = outputs(np.arange(N) % 3 > 0)
    rows = compare(model, model, "itself")
    assert [row["metric"] for row in rows] == ["emotion_accuracy", "au_f1_macro_tuned", "au_mAP"]
    for row in rows:
        assert row["difference"] == 0.0 and row["interval"] == [0.0, 0.0]
        assert row["verdict"] == UNCLEAR


def test_a_model_right_on_every_image_beats_one_always_wrong():
    right, wrong = outputs(np.ones(N, bool)), outputs(np.zeros(N, bool))
    rows = {row["metric"]: row for row in compare(right, wrong, "wrong")}
    assert rows["emotion_accuracy"]["difference"] == 1.0
    assert rows["emotion_accuracy"]["interval"] == [1.0, 1.0]
    assert all(row["verdict"] == BETTER for row in rows.values())
    assert all(row["verdict"] == WORSE for row in compare(wrong, right, "right"))


def test_a_small_net_gain_is_no_clear_difference_and_a_large_one_is_better():
    rng = np.random.default_rng(5)
    base = rng.random(N) < 0.6
    gains = rng.choice(np.flatnonzero(~base), 6, replace=False)
    losses = rng.choice(np.flatnonzero(base), 4, replace=False)
    mixed = base.copy()
    mixed[gains], mixed[losses] = True, False  # 2 images of 79 net: within the noise
    mostly = base | (rng.random(N) < 0.9)
    small = compare(outputs(mixed, 1), outputs(base, 2), "base")[0]
    assert small["difference"] == pytest.approx(2 / N) and small["verdict"] == UNCLEAR
    large = compare(outputs(mostly, 1), outputs(base, 2), "base")[0]
    low, high = large["interval"]
    assert 0 < low <= large["difference"] <= high and large["verdict"] == BETTER


@pytest.mark.parametrize(
    ("interval", "expected"),
    [([0.01, 0.2], BETTER), ([-0.3, -0.02], WORSE), ([-0.1, 0.1], UNCLEAR), ([0.0, 0.2], UNCLEAR)],
)
def test_better_or_worse_only_when_the_interval_excludes_zero(interval, expected):
    assert verdict(interval) == expected


def test_outputs_come_back_from_report_json_exactly():
    model = outputs(np.arange(N) % 2 == 0, seed=4)
    report = json.loads(json.dumps(scored_report(model, keep_outputs=True)))
    again = outputs_in(report)
    assert np.array_equal(again.au_prob, model.au_prob) and again.thresholds == model.thresholds
    assert scored_report(again)["intervals"] == report["intervals"]
    assert outputs_in({"emotion": {}}) is None


def test_outputs_on_other_test_images_are_not_compared():
    model = outputs(np.ones(N, bool))
    other = TestOutputs(
        SUBJECTS[::-1], model.emotion_true, model.emotion_prob, model.au_true, model.au_prob, ()
    )
    with pytest.raises(ValueError, match="not the same test images"):
        compare(model, other, "other")
