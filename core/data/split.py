"""Subject-disjoint splits stratified on emotion, and oversampling of the training split only."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ..errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Indices of the train / validation / test parts; no subject is in two of them."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """The parts by name, for reports and sizes."""
        return {"train": self.train, "val": self.val, "test": self.test}


def _one_fold(
    emotions: np.ndarray, subjects: np.ndarray, n_splits: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held_out) positions: the first fold of a shuffled stratified group k-fold.

    Tiny sets where every class is smaller than `n_splits` get fewer, larger folds.
    """
    n_splits = max(2, min(n_splits, int(np.bincount(emotions).max())))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only N members"
        rest, held_out = next(splitter.split(np.zeros(len(emotions)), emotions, subjects))
    return rest, held_out


def split_by_subject(
    emotions: np.ndarray,
    subjects: np.ndarray,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> Split:
    """Train/val/test positions, no subject on two sides, each part close to its fraction."""
    emotions, subjects = np.asarray(emotions), np.asarray(subjects)
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"split fractions val={val_fraction} test={test_fraction} must be in (0, 1) "
            "and leave room for training"
        )
    test_splits = max(2, round(1 / test_fraction))
    val_splits = max(2, round((1 - test_fraction) / val_fraction))
    n_subjects = len(np.unique(subjects))
    needed = max(test_splits, val_splits + 1)
    if n_subjects < needed:
        raise ConfigError(
            f"a subject-disjoint split needs at least {needed} subjects, got {n_subjects}"
        )
    rest, test = _one_fold(emotions, subjects, test_splits, seed)
    train, val = _one_fold(emotions[rest], subjects[rest], val_splits, seed + 1)
    return Split(train=np.sort(rest[train]), val=np.sort(rest[val]), test=np.sort(test))


def subject_folds(
    emotions: np.ndarray, subjects: np.ndarray, *, folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions for k-fold cross-validation by subject, stratified on emotion."""
    subjects = np.asarray(subjects)
    n_subjects = len(np.unique(subjects))
    if folds < 2 or folds > n_subjects:
        raise ConfigError(f"folds must be between 2 and the {n_subjects} subjects, got {folds}")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(len(subjects)), np.asarray(emotions), subjects))


def oversample(
    indices: np.ndarray, emotions: np.ndarray, *, sample_size: int | None = None, seed: int = 0
) -> np.ndarray:
    """`sample_size` training positions per emotion (default: the majority class count).

    A short class keeps every image once and is filled up by drawing with replacement; a class
    larger than `sample_size` is subsampled without replacement. Only ever call this on train.
    """
    indices = np.asarray(indices)
    labels = np.asarray(emotions)[indices]
    classes, counts = np.unique(labels, return_counts=True)
    target = int(counts.max()) if sample_size is None else int(sample_size)
    if target <= 0:
        raise ConfigError(f"sample_size must be positive, got {sample_size}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in classes:
        members = indices[labels == label]
        if len(members) >= target:
            chosen.append(rng.choice(members, size=target, replace=False))
        else:
            extra = rng.choice(members, size=target - len(members), replace=True)
            chosen.append(np.concatenate([members, extra]))
    result = np.concatenate(chosen)
    rng.shuffle(result)
    return result


def fold_splits(
    emotions: np.ndarray,
    subjects: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    val_fraction: float = 0.2,
    held_out: np.ndarray | None = None,
) -> list[Split]:
    """Cross-validation by subject: each fold's test part, and a validation part carved from its
    training subjects (for early stopping and AU thresholds), so no subject sits on two sides.

    `held_out`: positions whose subjects never enter a test fold (they only train and validate).
    A config chosen on some subjects' scores must not be tested on them again: pass those.
    """
    emotions, subjects = np.asarray(emotions), np.asarray(subjects)
    if not 0 < val_fraction < 1:
        raise ConfigError(f"validation fraction must be in (0, 1), got {val_fraction}")
    held = np.zeros(len(subjects), dtype=bool)
    if held_out is not None and len(held_out):
        held = np.isin(subjects, subjects[np.asarray(held_out)])
    open_ = np.flatnonzero(~held)
    splits = []
    open_folds = subject_folds(emotions[open_], subjects[open_], folds=folds, seed=seed)
    for fold, (open_rest, open_test) in enumerate(open_folds):
        rest = np.sort(np.concatenate([open_[open_rest], np.flatnonzero(held)]))
        test = open_[open_test]
        val_splits = max(2, round(1 / val_fraction))
        if len(np.unique(subjects[rest])) < val_splits:
            raise ConfigError(
                f"fold {fold + 1}: {len(np.unique(subjects[rest]))} training subjects cannot "
                f"spare a subject-disjoint validation part of {val_fraction:g}"
            )
        train, val = _one_fold(emotions[rest], subjects[rest], val_splits, seed + 1 + fold)
        splits.append(Split(train=np.sort(rest[train]), val=np.sort(rest[val]), test=np.sort(test)))
    return splits


def fresh_splits(
    emotions: np.ndarray,
    subjects: np.ndarray,
    study_split: Split,
    *,
    repeats: int,
    seed: int = 0,
    val_fraction: float = 0.15,
) -> list[Split]:
    """`repeats` new train/validation partitions of the study's non-test subjects, its test part
    untouched: a config chosen on one validation split is scored again on others.

    The validation parts come from one shuffled stratified group k-fold of those subjects, drawn
    with a seed of their own, so no two repeats share a validation subject (past k repeats a new
    k-fold is drawn).
    """
    emotions, subjects = np.asarray(emotions), np.asarray(subjects)
    rest = np.sort(np.concatenate([study_split.train, study_split.val]))
    n_splits = max(2, round((1 - val_fraction) / val_fraction))  # as split_by_subject's
    n_splits = max(2, min(n_splits, int(np.bincount(emotions[rest]).max())))
    if len(np.unique(subjects[rest])) < n_splits:
        raise ConfigError(
            f"{len(np.unique(subjects[rest]))} non-test subjects cannot spare {n_splits} "
            "subject-disjoint validation parts"
        )
    splits: list[Split] = []
    draw = 0
    while len(splits) < repeats:
        splitter = StratifiedGroupKFold(
            n_splits=n_splits, shuffle=True, random_state=(seed + 7919 * (draw + 1)) % 2**32
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            folds = splitter.split(np.zeros(len(rest)), emotions[rest], subjects[rest])
            for train, val in folds:
                if len(splits) < repeats:
                    splits.append(Split(np.sort(rest[train]), np.sort(rest[val]), study_split.test))
        draw += 1
    return splits
