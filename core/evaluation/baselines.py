"""Floors and baselines: what a model scores without learning anything, or with a linear model.

A target or a test score means little until it is set beside these. `metric_floors` gives, from a
split's labels alone, what a trivial predictor scores on each validation metric that targets use
(majority emotion, no AU, every AU, a constant AU score); `floor_warnings` names the targets that
such a predictor already meets. `baseline_reports` gives test reports in the CNN's own shape
(`core.evaluation.metrics.test_report`, with intervals) for two constant predictors and a logistic
regression on downscaled pixels, so a tuned network can be judged against a model that needs no
GPU and no tuning. `baseline_outputs` keeps each test image's probabilities, which the paired
comparisons with the model need (`core.evaluation.verdicts`); `linear_outputs` fits the same
regressions on any features (`core.evaluation.probe`'s for the linear probe).

Macro AU scores follow `core.evaluation.metrics`' rule: an AU with no positive in the evaluated
labels is left out of the mean (its F1 and AP are undefined there); with no AU defined, the Keras
metrics (and so these floors) read 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..data.split import Split
from ..labels import EMOTIONS
from .outputs import TestOutputs, test_outputs
from .verdicts import scored_report

DEFAULT_SIZE = 24
C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
MAX_ITER = 500  # lbfgs converges within this on the built-in set at every C of the grid

# What a trivial predictor does to score each floor, for the warning.
TRIVIAL: dict[str, str] = {
    "val_emotion_accuracy": "a model that always predicts the majority emotion",
    "val_au_binary_accuracy": "a model that predicts no AU",
    "val_au_f1_macro": "a model that predicts every AU",
    "val_au_pr_auc": "a model that gives every AU a constant score",
}


def metric_floors(emotions: np.ndarray, aus: np.ndarray) -> dict[str, float]:
    """What a trivial predictor scores on each target metric, from one split's labels.

    Keyed by the Keras validation metric names targets use. Emotion accuracy: the majority class's
    share. AU binary accuracy: predicting no AU. AU macro F1: predicting every AU (an AU of
    prevalence p scores 2p / (1 + p)). AU PR-AUC: a constant score, whose AP is the prevalence.
    The two AU macro scores average the AUs with a positive only (0 when there is none).
    """
    emotions = np.asarray(emotions, dtype=int).ravel()
    aus = np.asarray(aus, dtype=float)
    if aus.ndim != 2 or len(aus) != len(emotions) or len(emotions) == 0:
        raise ValueError(
            f"need n emotions and an (n, n_aus) AU matrix with n > 0: "
            f"{emotions.shape} vs {aus.shape}"
        )
    prevalence = aus.mean(axis=0)
    defined = prevalence[prevalence > 0]
    return {
        "val_emotion_accuracy": float(np.bincount(emotions).max() / len(emotions)),
        "val_au_binary_accuracy": float(1.0 - aus.mean()),
        "val_au_f1_macro": float(np.mean(2 * defined / (1 + defined))) if len(defined) else 0.0,
        "val_au_pr_auc": float(defined.mean()) if len(defined) else 0.0,
    }


def floor_warnings(targets: Mapping[str, float], floors: Mapping[str, float]) -> list[str]:
    """One line for each target a trivial predictor already meets (target at or below its floor).

    Such a target stops a trial that has learnt nothing, so it cannot rank configurations.
    Targets without a known floor are not judged.
    """
    lines = []
    for name, target in targets.items():
        floor = floors.get(name)
        if floor is None or float(target) > floor:
            continue
        who = TRIVIAL.get(name, "a trivial model")
        lines.append(
            f"warning: target {name}={float(target):g} is at or below its floor {floor:.3f} "
            f"({who} scores that on validation); it cannot tell a good model from a trivial one"
        )
    return lines


def downscale(images: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """(n, size*size) float32 pixels: each prepared grey square shrunk with INTER_AREA.

    Area averaging keeps a small image's mean brightness per region, which is what a linear model
    on pixels can use; the result is flattened, ready for scikit-learn.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (n, side, side) grey, got shape {images.shape}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    out = np.empty((len(images), size * size), dtype=np.float32)
    for i, image in enumerate(images):
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = small.astype(np.float32).ravel()
    return out


@dataclass
class LinearBaseline:
    """A standardiser, one multinomial emotion model and one binary model per AU.

    An AU that has one class in training is a constant (its training prevalence), a float in
    `au_models`; so is the emotion model when training holds one class (its one-hot).
    """

    scaler: StandardScaler
    emotion_model: LogisticRegression | np.ndarray
    au_models: list[LogisticRegression | float]
    emotion_c: float | None
    au_c: float | None

    def predict_proba(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(emotion (n, 3), AU (n, n_aus)) probabilities for features made like training's."""
        z = self.scaler.transform(_flat(x))
        return _emotion_proba(self.emotion_model, z), _au_proba(self.au_models, z)


def fit_linear(
    train_x: np.ndarray,
    train_e: np.ndarray,
    train_a: np.ndarray,
    val_x: np.ndarray,
    val_e: np.ndarray,
    val_a: np.ndarray,
    seed: int = 0,
    c_grid: Sequence[float] = C_GRID,
) -> LinearBaseline:
    """Logistic regressions fitted on training only, their strength C chosen on validation.

    Class weights ("balanced") stand in for oversampling. Emotion: C with the best validation
    accuracy (the target metric; ties: the stronger regularisation). AUs: one C for all, with the
    best validation mAP (threshold-free; the thresholds are tuned on validation afterwards).
    `x` is any (n, ...) array, e.g. from `downscale`; it is flattened. BLAS runs on one thread:
    these problems are small, and several BLAS threads on a shared machine made the fits 25x
    slower (39 s instead of 1.5 s for the AU models of the built-in set on 2 busy cores).
    """
    train_z, val_z, scaler = _standardise(train_x, val_x)
    train_e, val_e = np.asarray(train_e, dtype=int), np.asarray(val_e, dtype=int)
    train_a, val_a = np.asarray(train_a).astype(int), np.asarray(val_a).astype(int)
    grid = sorted(float(c) for c in c_grid)
    with threadpool_limits(1):
        emotion_model, emotion_c = _fit_emotion(train_z, train_e, val_z, val_e, grid, seed)
        au_models, au_c = _fit_aus(train_z, train_a, val_z, val_a, grid, seed)
    return LinearBaseline(scaler, emotion_model, au_models, emotion_c, au_c)


def baseline_reports(
    images: np.ndarray,
    emotions: np.ndarray,
    aus: np.ndarray,
    split: Split,
    au_names: Sequence[str],
    *,
    subjects: np.ndarray | None = None,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
) -> dict[str, dict[str, Any]]:
    """Test reports, in the CNN's shape, of `baseline_outputs`; with each image's `subjects`
    (all images, not only the test part), every figure has its 95% interval."""
    outputs = baseline_outputs(images, emotions, aus, split, subjects, seed=seed, size=size)
    return {name: scored_report(out, au_names) for name, out in outputs.items()}


def baseline_outputs(
    images: np.ndarray,
    emotions: np.ndarray,
    aus: np.ndarray,
    split: Split,
    subjects: np.ndarray | None,
    *,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
) -> dict[str, TestOutputs]:
    """Per-image test outputs of three models that a tuned CNN has to beat.

    "majority": the majority training emotion and no AU; "all_present": the majority emotion and
    every AU; "linear": `fit_linear` on `downscale`d prepared crops (train fits, validation picks
    C and the AU thresholds, test is reported).
    """
    emotions = np.asarray(emotions, dtype=int)
    aus = np.asarray(aus).astype(int)
    majority = int(np.bincount(emotions[split.train], minlength=len(EMOTIONS)).argmax())
    outputs = {
        name: _constant_outputs(emotions, aus, split, subjects, majority, au_value)
        for name, au_value in (("majority", 0.0), ("all_present", 1.0))
    }
    outputs["linear"] = linear_outputs(
        downscale(images, size), emotions, aus, split, subjects, seed=seed
    )
    return outputs


def linear_outputs(
    x: np.ndarray,
    emotions: np.ndarray,
    aus: np.ndarray,
    split: Split,
    subjects: np.ndarray | None,
    *,
    seed: int = 0,
) -> TestOutputs:
    """The test outputs of `fit_linear` on per-image features `x` (pixels, or a frozen network's
    features for the linear probe): train fits, validation picks C and the AU thresholds."""
    emotions = np.asarray(emotions, dtype=int)
    aus = np.asarray(aus).astype(int)
    t, v, s = split.train, split.val, split.test
    model = fit_linear(x[t], emotions[t], aus[t], x[v], emotions[v], aus[v], seed=seed)
    test_e, test_a = model.predict_proba(x[s])
    _, val_a = model.predict_proba(x[v])
    return test_outputs(_part(subjects, s), emotions[s], test_e, aus[s], test_a, aus[v], val_a)


def _constant_outputs(
    emotions: np.ndarray,
    aus: np.ndarray,
    split: Split,
    subjects: np.ndarray | None,
    emotion: int,
    au_value: float,
) -> TestOutputs:
    def probs(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        emotion_prob = np.zeros((len(part), len(EMOTIONS)))
        emotion_prob[:, emotion] = 1.0
        return emotion_prob, np.full(aus[part].shape, au_value)

    s, v = split.test, split.val
    test_e, test_a = probs(s)
    _, val_a = probs(v)
    return test_outputs(_part(subjects, s), emotions[s], test_e, aus[s], test_a, aus[v], val_a)


def _part(subjects: np.ndarray | None, part: np.ndarray) -> np.ndarray | None:
    return None if subjects is None else np.asarray(subjects)[part]


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _standardise(
    train_x: np.ndarray, val_x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, StandardScaler]:
    scaler = StandardScaler().fit(_flat(train_x))
    return scaler.transform(_flat(train_x)), scaler.transform(_flat(val_x)), scaler


def _logistic(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(
        C=c, class_weight="balanced", max_iter=MAX_ITER, solver="lbfgs", random_state=seed
    )


def _fit_emotion(
    train_z: np.ndarray,
    train_e: np.ndarray,
    val_z: np.ndarray,
    val_e: np.ndarray,
    grid: list[float],
    seed: int,
) -> tuple[LogisticRegression | np.ndarray, float | None]:
    if len(np.unique(train_e)) < 2:
        return np.eye(len(EMOTIONS))[train_e[0]], None
    best: tuple[float, LogisticRegression | None, float | None] = (-1.0, None, None)
    for c in grid:
        model = _logistic(c, seed).fit(train_z, train_e)
        accuracy = float((_emotion_proba(model, val_z).argmax(axis=1) == val_e).mean())
        if accuracy > best[0]:
            best = (accuracy, model, c)
    return best[1], best[2]


def _fit_aus(
    train_z: np.ndarray,
    train_a: np.ndarray,
    val_z: np.ndarray,
    val_a: np.ndarray,
    grid: list[float],
    seed: int,
) -> tuple[list[LogisticRegression | float], float | None]:
    k = train_a.shape[1]
    varied = [j for j in range(k) if 0 < train_a[:, j].sum() < len(train_a)]
    best: tuple[float, list[LogisticRegression | float] | None, float | None] = (-1.0, None, None)
    for c in grid:
        models: list[LogisticRegression | float] = [float(train_a[:, j].mean()) for j in range(k)]
        for j in varied:
            models[j] = _logistic(c, seed).fit(train_z, train_a[:, j])
        score = _mean_ap(val_a, _au_proba(models, val_z))
        if score > best[0]:
            best = (score, models, c)
    return best[1], (best[2] if varied else None)


def _mean_ap(truth: np.ndarray, prob: np.ndarray) -> float:
    """Mean AP over the AUs with a positive (0 when none has one: every C ties)."""
    scores = [
        average_precision_score(truth[:, j], prob[:, j])
        for j in range(truth.shape[1])
        if truth[:, j].sum() > 0
    ]
    return float(np.mean(scores)) if scores else 0.0


def _emotion_proba(model: LogisticRegression | np.ndarray, z: np.ndarray) -> np.ndarray:
    if isinstance(model, np.ndarray):
        return np.tile(model, (len(z), 1))
    out = np.zeros((len(z), len(EMOTIONS)))
    out[:, model.classes_] = model.predict_proba(z)
    return out


def _au_proba(models: Sequence[LogisticRegression | float], z: np.ndarray) -> np.ndarray:
    columns = [
        np.full(len(z), m) if isinstance(m, float) else m.predict_proba(z)[:, 1] for m in models
    ]
    return np.stack(columns, axis=1)
