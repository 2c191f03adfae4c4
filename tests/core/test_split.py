"""Subject-disjoint splits and folds, oversampling of the training part only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.split import fold_splits, fresh_splits, oversample, split_by_subject, subject_folds


def synthetic_labels(n_subjects: int, per_subject: int, seed: int):
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"S{i:03d}" for i in range(n_subjects)], per_subject)
    emotions = rng.choice(3, size=len(subjects), p=[0.54, 0.21, 0.25])
    return emotions, subjects


@settings(max_examples=60, deadline=None)
@given(
    n_subjects=st.integers(8, 80),
    per_subject=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_split_never_shares_a_subject(n_subjects: int, per_subject: int, seed: int):
    emotions, subjects = synthetic_labels(n_subjects, per_subject, seed)
    split = split_by_subject(emotions, subjects, seed=seed)
    parts = [set(subjects[part]) for part in (split.train, split.val, split.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    every = np.sort(np.concatenate([split.train, split.val, split.test]))
    np.testing.assert_array_equal(every, np.arange(len(emotions)))
    assert len(split.val) and len(split.test)


def test_split_sizes_follow_the_fractions_and_the_seed():
    emotions, subjects = synthetic_labels(120, 5, 0)
    split = split_by_subject(emotions, subjects, seed=3)
    n = len(emotions)
    assert abs(len(split.test) / n - 0.15) < 0.04 and abs(len(split.val) / n - 0.15) < 0.04
    again = split_by_subject(emotions, subjects, seed=3)
    np.testing.assert_array_equal(split.test, again.test)
    other = split_by_subject(emotions, subjects, seed=4)
    assert not np.array_equal(split.test, other.test)
    for part in (split.train, split.val, split.test):
        shares = np.bincount(emotions[part], minlength=3) / len(part)
        assert np.allclose(shares, np.bincount(emotions, minlength=3) / n, atol=0.08)


@settings(max_examples=25, deadline=None)
@given(n_subjects=st.integers(5, 40), folds=st.integers(2, 5), seed=st.integers(0, 999))
def test_subject_folds_are_disjoint_and_cover_everyone(n_subjects: int, folds: int, seed: int):
    emotions, subjects = synthetic_labels(n_subjects, 3, seed)
    seen = []
    for train, test in subject_folds(emotions, subjects, folds=folds, seed=seed):
        assert not set(subjects[train]) & set(subjects[test])
        seen.extend(test)
    assert sorted(seen) == list(range(len(subjects)))


def test_oversampling_balances_classes_and_keeps_every_original():
    emotions = np.array([0] * 10 + [1] * 3 + [2] * 5)
    train = np.arange(18)
    drawn = oversample(train, emotions, seed=1)
    assert np.bincount(emotions[drawn]).tolist() == [10, 10, 10]
    assert set(drawn) == set(train)
    sized = oversample(train, emotions, sample_size=4, seed=1)
    assert np.bincount(emotions[sized]).tolist() == [4, 4, 4]
    assert set(sized[emotions[sized] == 1]) == {10, 11, 12}


def test_oversampling_draws_only_from_the_given_indices():
    emotions = np.array([0, 1, 2] * 10)
    train = np.arange(0, 15)
    assert set(oversample(train, emotions, sample_size=20)) <= set(train)


def test_nested_folds_never_test_the_selection_subjects():
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"S{i:03d}" for i in range(40)], 3)
    emotions = rng.choice(3, size=len(subjects), p=[0.5, 0.25, 0.25])
    selection = np.flatnonzero(np.isin(subjects, ["S001", "S007", "S020", "S033"]))
    splits = fold_splits(emotions, subjects, folds=4, seed=1, held_out=selection)
    tested = np.concatenate([split.test for split in splits])
    assert not set(subjects[tested]) & set(subjects[selection])
    assert sorted(tested) == sorted(set(range(len(subjects))) - set(selection))
    for split in splits:
        assert set(selection) <= set(split.train) | set(split.val)
        parts = [set(subjects[p]) for p in (split.train, split.val, split.test)]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]


def test_fresh_splits_keep_the_test_part_and_draw_new_validation_subjects():
    emotions, subjects = synthetic_labels(60, 3, seed=2)
    study = split_by_subject(emotions, subjects, seed=5)
    splits = fresh_splits(emotions, subjects, study, repeats=8, seed=5)
    assert len(splits) == 8
    validation_sets = []
    for split in splits:
        np.testing.assert_array_equal(split.test, study.test)  # test is never touched
        assert sorted([*split.train, *split.val]) == sorted([*study.train, *study.val])
        parts = [set(subjects[p]) for p in (split.train, split.val, split.test)]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert 0.1 < len(split.val) / (len(split.train) + len(split.val)) < 0.25
        validation_sets.append(frozenset(parts[1]))
    first_draw = validation_sets[:6]  # one k-fold: no two repeats share a validation subject
    assert all(not a & b for i, a in enumerate(first_draw) for b in first_draw[i + 1 :])
    assert frozenset(subjects[study.val]) not in validation_sets
    assert len(set(validation_sets)) == 8  # the 7th and 8th come from a new draw
    again = fresh_splits(emotions, subjects, study, repeats=8, seed=5)
    assert all(np.array_equal(a.val, b.val) for a, b in zip(splits, again, strict=True))
    other = fresh_splits(emotions, subjects, study, repeats=1, seed=6)
    assert not np.array_equal(other[0].val, splits[0].val)
