"""Subject-level bootstrap intervals: whole subjects, honest coverage, degenerate figures."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.intervals import N_RESAMPLES, subject_bootstrap

# The built-in set's test split: 79 images of 18 subjects.
SIZES = np.array([4, 4, 5, 5, 3, 4, 4, 5, 4, 3, 5, 5, 5, 3, 5, 5, 4, 6])
SUBJECTS = np.repeat([f"S{i:03d}" for i in range(len(SIZES))], SIZES)


def test_every_resample_takes_whole_subjects():
    shuffled = np.random.default_rng(0).permutation(SUBJECTS)  # a subject's images need not touch
    boot = subject_bootstrap(shuffled, n_resamples=300, seed=1)
    weights = boot.weights(boot.draws)
    assert weights.shape == (300, len(SUBJECTS))
    for subject in np.unique(shuffled):
        mine = weights[:, shuffled == subject]
        assert (mine == mine[:, :1]).all()  # all of a subject's images, or none, equally often
    _, first = np.unique(shuffled, return_index=True)
    assert (weights[:, first].sum(axis=1) == len(SIZES) - 1).all()  # S - 1 subjects drawn
    counts = np.stack([np.bincount(row, minlength=len(SIZES)) for row in boot.draws])
    sizes = np.bincount(boot.codes)
    assert (weights.sum(axis=1) == counts @ sizes).all()


def test_one_test_set_is_resampled_alike_for_every_model():
    first, again = subject_bootstrap(SUBJECTS), subject_bootstrap(SUBJECTS.copy())
    assert first.draws.shape == (N_RESAMPLES, len(SIZES) - 1)
    assert np.array_equal(first.draws, again.draws) and np.array_equal(first.codes, again.codes)
    assert subject_bootstrap(["S1"] * 5) is None  # one subject: nothing to resample


def test_the_interval_covers_the_true_accuracy_in_93_to_97_percent_of_simulated_sets():
    """1000 test sets like the built-in one, correctness clustered by subject (each subject's
    accuracy drawn from Beta(3.5, 1.5): mean 0.7, within-subject correlation 1/6). Ten groups
    of 100 sets, each group with its own resamples (2000 each), so that the resamples' own luck
    does not move all 1000 verdicts together."""
    truth, rng = 0.7, np.random.default_rng(7)
    codes = np.repeat(np.arange(len(SIZES)), SIZES)
    covered = []
    for group in range(10):
        accuracy = rng.beta(5 * truth, 5 * (1 - truth), size=(100, len(SIZES)))
        correct = (rng.random((100, len(codes))) < accuracy[:, codes]).astype(float)
        boot = subject_bootstrap(SUBJECTS, seed=group)
        intervals = np.array(boot.intervals(accuracies(correct)))
        covered += list((intervals[:, 0] <= truth) & (truth <= intervals[:, 1]))
    assert len(covered) == 1000
    assert 0.93 <= np.mean(covered) <= 0.97


def accuracies(correct: np.ndarray):
    """The statistic: each simulated set's accuracy (rows of `correct`) at each row of weights."""
    return lambda weights: (weights @ correct.T / weights.sum(axis=1)[:, None]).T


def test_a_figure_without_spread_has_its_value_as_interval_and_an_undefined_one_none():
    boot = subject_bootstrap(SUBJECTS, n_resamples=200)

    def statistic(weights: np.ndarray) -> np.ndarray:
        rows = len(weights)
        return np.stack([np.full(rows, 0.25), np.full(rows, np.nan), weights[:, 0] / 10])

    constant, undefined, varied = boot.intervals(statistic)
    assert constant == [0.25, 0.25]
    assert undefined is None
    assert varied[0] < varied[1]


def test_an_interval_always_holds_its_figure():
    """1 on the whole test set, 0 on every resample (none draws all 18 subjects): the interval
    reaches the figure instead of excluding it."""
    boot = subject_bootstrap(SUBJECTS, n_resamples=200)
    (interval,) = boot.intervals(lambda weights: (weights > 0).all(axis=1)[None].astype(float))
    assert interval == [0.0, 1.0]


@pytest.mark.parametrize("subjects", [np.array([], dtype=str), np.array(["A", "A"])])
def test_fewer_than_two_subjects_give_no_bootstrap(subjects):
    assert subject_bootstrap(subjects) is None
