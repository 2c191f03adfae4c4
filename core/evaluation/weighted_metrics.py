"""The test figures of `core.evaluation.metrics`, computed on image weights: every bootstrap
resample at once.

A resample that draws a subject twice counts its images twice, so each figure is a function of
per-image weights (rows, n_images); all rows are computed together with matrix products, which is
what makes 2000 resamples cost milliseconds. The rules are `core.evaluation.metrics`' own: argmax
emotions, macro F1 over the classes seen in the truth or the predictions, AUs thresholded per AU at
fixed thresholds (`prob > threshold`), and an AU with no positive in a resample left out of both AU
means (nan where no AU has one). Weights of ones give the report's figures exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import DEFAULT_THRESHOLD, FIGURES


def figure_rows(
    weights: np.ndarray,
    emotion_true: np.ndarray,
    emotion_prob: np.ndarray,
    au_true: np.ndarray,
    au_prob: np.ndarray,
    thresholds: Sequence[float],
) -> np.ndarray:
    """(len(FIGURES), rows): every figure of FIGURES, in its order, for each row of weights."""
    weights = np.asarray(weights, dtype=float)
    truth = np.asarray(au_true, dtype=float)
    prob = np.asarray(au_prob, dtype=float)
    accuracy, weighted, macro = emotion_rows(weights, emotion_true, emotion_prob)
    values = {
        "emotion_accuracy": accuracy,
        "emotion_f1_weighted": weighted,
        "emotion_f1_macro": macro,
        "au_f1_macro_at_0.5": au_f1_macro_rows(weights, truth, prob > DEFAULT_THRESHOLD),
        "au_f1_macro_tuned": au_f1_macro_rows(weights, truth, prob > np.asarray(thresholds)),
        "au_mAP": au_map_rows(weights, truth, prob),
    }
    return np.stack([values[key] for key in FIGURES])


def emotion_rows(
    weights: np.ndarray, emotion_true: np.ndarray, emotion_prob: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, weighted F1 and macro F1 (classes in the truth or the predictions) per row."""
    prob = np.asarray(emotion_prob, dtype=float)
    classes = np.arange(prob.shape[1])
    truth = (np.asarray(emotion_true, dtype=int).ravel()[:, None] == classes).astype(float)
    pred = (prob.argmax(axis=1)[:, None] == classes).astype(float)
    support, predicted, hits = weights @ truth, weights @ pred, weights @ (truth * pred)
    f1 = _f1(hits, support, predicted)
    seen = (support + predicted) > 0
    accuracy = hits.sum(axis=1) / weights.sum(axis=1)
    weighted = (support * f1).sum(axis=1) / support.sum(axis=1)
    macro = (f1 * seen).sum(axis=1) / seen.sum(axis=1)
    return accuracy, weighted, macro


def au_f1_macro_rows(weights: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Macro F1 over the AUs with a positive in each row (nan where none has one)."""
    pred = pred.astype(float)
    support = weights @ truth
    f1 = _f1(weights @ (truth * pred), support, weights @ pred)
    return _defined_mean(f1, support > 0)


def au_map_rows(weights: np.ndarray, truth: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Mean average precision over the AUs with a positive in each row (scikit-learn's AP:
    precision at each distinct score, weighted by the recall it adds; tied scores are one step)."""
    ap = np.stack(
        [_ap_rows(weights, truth[:, j], prob[:, j]) for j in range(truth.shape[1])],
        axis=1,
    )
    return _defined_mean(np.nan_to_num(ap), ~np.isnan(ap))


def _ap_rows(weights: np.ndarray, truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    step_ends = np.r_[ranked[1:] != ranked[:-1], True]  # the last image of each distinct score
    w = weights[:, order]
    hits = np.cumsum(w * truth[order], axis=1)[:, step_ends]
    flagged = np.cumsum(w, axis=1)[:, step_ends]
    positives = hits[:, -1:]
    precision = np.divide(hits, flagged, out=np.zeros_like(hits), where=flagged > 0)
    recall = np.divide(hits, positives, out=np.zeros_like(hits), where=positives > 0)
    added = np.diff(recall, axis=1, prepend=0.0)
    return np.where(positives[:, 0] > 0, (added * precision).sum(axis=1), np.nan)


def _f1(hits: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """2 TP / (support + predicted), 0 where both are 0 (scikit-learn's zero_division=0)."""
    total = support + predicted
    return np.divide(2 * hits, total, out=np.zeros_like(hits), where=total > 0)


def _defined_mean(values: np.ndarray, defined: np.ndarray) -> np.ndarray:
    count = defined.sum(axis=1)
    total = (values * defined).sum(axis=1)
    return np.divide(total, count, out=np.full(len(values), np.nan), where=count > 0)
