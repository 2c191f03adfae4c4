"""Test-set metrics: emotion (single-label) and AUs (multi-label, thresholded per AU, never argmax).

Thresholding follows Keras (`prob > threshold` is a positive), so these numbers match the metrics
logged during training. Every function returns plain Python types, ready for `json.dumps`.

One rule for macro AU scores: an AU with no positive in the evaluated labels has no defined F1 or
AP there (recall is 0/0), so it is left out of both the macro F1 and the mAP and listed in
`au_undefined` (`ap_undefined` is the same list, kept for older readers). Counting it as 0 would
punish a model for a split that happens to lack the AU; counting it as 1 would reward it. Its
per-AU entry keeps scikit-learn's 0 F1 and a None AP. With no AU defined both means are None. The
Keras metrics logged during training (`core.model.builders.DefinedMacroF1`, `DefinedPRAUC`) follow
the same rule over the labels they have accumulated, and read 0 when no AU is defined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from ..labels import DEFAULT_AUS, EMOTIONS
from ..labels import au_names as default_au_names

DEFAULT_THRESHOLD = 0.5
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))

# The test figures every report, terminal and page shows, by flat name -> (report part, key); the
# names are report.json's "intervals" keys. mAP does not depend on the thresholds.
FIGURES: dict[str, tuple[str, str]] = {
    "emotion_accuracy": ("emotion", "accuracy"),
    "emotion_f1_weighted": ("emotion", "f1_weighted"),
    "emotion_f1_macro": ("emotion", "f1_macro"),
    "au_f1_macro_at_0.5": ("au_at_0.5", "f1_macro"),
    "au_f1_macro_tuned": ("au_tuned_on_val", "f1_macro"),
    "au_mAP": ("au_tuned_on_val", "mAP"),
}


def emotion_metrics(y_true: Any, y_prob: Any) -> dict[str, Any]:
    """Accuracy, weighted and macro F1, a 3x3 confusion matrix and per-class scores.

    Macro F1 averages the classes seen in the truth or the predictions (scikit-learn's default), so
    a class absent from a small test set neither counts as 0 nor hides a wrong prediction of it.
    """
    truth = np.asarray(y_true, dtype=int).ravel()
    prob = np.asarray(y_prob, dtype=float)
    _check_emotion_shape(truth, prob)
    pred = prob.argmax(axis=1)
    labels = list(range(len(EMOTIONS)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=labels, average=None, zero_division=0
    )
    return {
        "n": len(truth),
        "accuracy": float(accuracy_score(truth, pred)),
        "f1_weighted": float(f1_score(truth, pred, average="weighted", zero_division=0)),
        "f1_macro": float(f1_score(truth, pred, average="macro", zero_division=0)),
        "labels": list(EMOTIONS),
        "confusion_matrix": confusion_matrix(truth, pred, labels=labels).tolist(),
        "per_class": _per_label(EMOTIONS, precision, recall, f1, support),
    }


def au_metrics(
    y_true: Any,
    y_prob: Any,
    thresholds: Sequence[float] | None = None,
    au_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Multi-label AU scores at per-AU thresholds, beside the accuracy of predicting no AU.

    Macro F1 and mAP average the AUs with a positive in `y_true` only (see the module docstring).
    """
    truth, prob = _au_arrays(y_true, y_prob)
    k = truth.shape[1]
    names = _au_names(au_names, k)
    cut = _thresholds(thresholds, k)
    pred = (prob > np.asarray(cut)).astype(int)
    sk = _multilabel(truth, pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        **sk, average=None, zero_division=0
    )
    ap = [_average_precision(truth[:, j], prob[:, j]) for j in range(k)]
    per_au = _per_label(names, precision, recall, f1, support)
    for name, value, threshold in zip(names, ap, cut, strict=True):
        per_au[name]["average_precision"] = value
        per_au[name]["threshold"] = threshold
    undefined = [name for name, s in zip(names, support, strict=True) if s == 0]
    defined_f1 = [float(f) for f, s in zip(f1, support, strict=True) if s > 0]
    defined_ap = [v for v in ap if v is not None]
    return {
        "n": int(truth.shape[0]),
        "au_names": names,
        "thresholds": cut,
        "binary_accuracy": float((pred == truth).mean()),
        "no_au_baseline_accuracy": float(1.0 - truth.mean()),
        "f1_macro": float(np.mean(defined_f1)) if defined_f1 else None,
        "f1_micro": float(f1_score(**sk, average="micro", zero_division=0)),
        "mAP": float(np.mean(defined_ap)) if defined_ap else None,
        "au_undefined": undefined,
        "ap_undefined": list(undefined),
        "per_au": per_au,
    }


def tune_thresholds(y_true: Any, y_prob: Any, grid: Sequence[float] | None = None) -> list[float]:
    """Per-AU threshold with the best validation F1 (ties: nearest 0.5; no positives: 0.5)."""
    truth, prob = _au_arrays(y_true, y_prob)
    candidates = sorted(float(t) for t in (THRESHOLD_GRID if grid is None else grid))
    if not candidates:
        raise ValueError("the threshold grid is empty")
    return [_best_threshold(truth[:, j], prob[:, j], candidates) for j in range(truth.shape[1])]


def test_report(
    emotion_true: Any,
    emotion_prob: Any,
    au_true: Any,
    au_prob: Any,
    val_au_true: Any,
    val_au_prob: Any,
    au_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The full test report: emotion scores and AU scores at 0.5 and at validation-tuned cuts."""
    tuned = tune_thresholds(val_au_true, val_au_prob)
    return test_report_at(emotion_true, emotion_prob, au_true, au_prob, tuned, au_names)


def test_report_at(
    emotion_true: Any,
    emotion_prob: Any,
    au_true: Any,
    au_prob: Any,
    tuned: Sequence[float],
    au_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`test_report` with the AU thresholds already tuned (and kept: the bootstrap fixes them)."""
    return {
        "emotion": emotion_metrics(emotion_true, emotion_prob),
        "au_at_0.5": au_metrics(au_true, au_prob, au_names=au_names),
        "au_tuned_on_val": au_metrics(au_true, au_prob, thresholds=tuned, au_names=au_names),
    }


# Library functions named test_*: keep pytest from collecting them where tests import them.
test_report.__test__ = False  # type: ignore[attr-defined]
test_report_at.__test__ = False  # type: ignore[attr-defined]


def figure_of(report: Mapping[str, Any], key: str) -> float | None:
    """One figure of a test report by its flat name (a key of FIGURES)."""
    part, name = FIGURES[key]
    return report.get(part, {}).get(name)


def figure_text(report: Mapping[str, Any], key: str) -> str:
    """A figure as the terminal shows it, with its 95% interval when the report carries one."""
    return with_interval(figure_of(report, key), report.get("intervals", {}).get(key))


def with_interval(value: float | None, interval: Sequence[float] | None, sign: str = "") -> str:
    """A figure and its interval as text, e.g. 0.709 [0.61, 0.80]; `sign` "+" for differences;
    "n/a" for an undefined figure."""
    if value is None:
        return "n/a"
    if interval is None:
        return f"{value:{sign}.3f}"
    lo, hi = interval
    return f"{value:{sign}.3f} [{lo:{sign}.2f}, {hi:{sign}.2f}]"


def format_report(report: dict[str, Any]) -> str:
    """A short summary: emotion accuracy/F1, AU accuracy beside its no-AU baseline, per-AU F1;
    the headline figures with their 95% intervals where the report carries them."""
    emotion, fixed, tuned = report["emotion"], report["au_at_0.5"], report["au_tuned_on_val"]

    def shown(key: str) -> str:
        return figure_text(report, key)

    lines = [
        f"Emotion (n={emotion['n']}): accuracy {shown('emotion_accuracy')}, "
        f"weighted F1 {shown('emotion_f1_weighted')}, macro F1 {shown('emotion_f1_macro')}",
        *_confusion_lines(emotion),
    ]
    for title, au, f1 in (
        ("AUs at 0.5", fixed, "au_f1_macro_at_0.5"),
        ("AUs at tuned thresholds", tuned, "au_f1_macro_tuned"),
    ):
        lines.append(
            f"{title}: binary accuracy {au['binary_accuracy']:.3f} "
            f"(no-AU baseline {au['no_au_baseline_accuracy']:.3f}), "
            f"macro F1 {shown(f1)}, micro F1 {au['f1_micro']:.3f}, "
            f"mAP {shown('au_mAP')}" + _left_out(au)
        )
    if "intervals" in report:
        lines.append(f"[lo, hi]: 95% intervals, {report.get('bootstrap', {}).get('method', '')}")
    lines.append(f"{'AU':<8}{'support':>8}{'F1@0.5':>8}{'F1@tuned':>10}{'thr':>6}{'AP':>7}")
    for name in fixed["au_names"]:
        a, b = fixed["per_au"][name], tuned["per_au"][name]
        lines.append(
            f"{name:<8}{a['support']:>8}{a['f1']:>8.3f}{b['f1']:>10.3f}"
            f"{b['threshold']:>6.2f}{_num(a['average_precision']):>7}"
        )
    return "\n".join(lines)


def _confusion_lines(emotion: dict[str, Any]) -> list[str]:
    width = max(len(name) for name in emotion["labels"]) + 2
    header = " " * width + "".join(f"{name:>{width}}" for name in emotion["labels"])
    rows = [
        f"{name:<{width}}" + "".join(f"{count:>{width}}" for count in row)
        for name, row in zip(emotion["labels"], emotion["confusion_matrix"], strict=True)
    ]
    return ["Confusion (rows true, columns predicted):", header, *rows]


def _left_out(au: dict[str, Any]) -> str:
    undefined = au.get("au_undefined") or []
    return f" (no positive, left out of the means: {', '.join(undefined)})" if undefined else ""


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _best_threshold(truth: np.ndarray, prob: np.ndarray, grid: list[float]) -> float:
    if truth.sum() == 0:
        return DEFAULT_THRESHOLD
    scores = f1_at_thresholds(truth, prob, grid)
    best = [t for t, s in zip(grid, scores, strict=True) if np.isclose(s, scores.max(), atol=1e-12)]
    return min(best, key=lambda t: (abs(t - DEFAULT_THRESHOLD), t))


def f1_at_thresholds(truth: np.ndarray, prob: np.ndarray, grid: Sequence[float]) -> np.ndarray:
    """One label's F1 of `prob > t` for every t of `grid` at once (scikit-learn's f1_score,
    zero_division=0, one threshold per call, cost a study's end 15 s of argument checks)."""
    positive = np.asarray(truth).ravel().astype(bool)
    predicted = np.asarray(prob, dtype=float).ravel()[:, None] > np.asarray(grid, dtype=float)
    true_positives = (predicted & positive[:, None]).sum(axis=0)
    denominator = predicted.sum(axis=0) + positive.sum()  # 2 tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * true_positives / denominator, 0.0)


def _multilabel(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """scikit-learn arguments scoring each column as one label (one column reads as binary)."""
    if truth.shape[1] == 1:
        return {"y_true": truth.ravel(), "y_pred": pred.ravel(), "labels": [1]}
    return {"y_true": truth, "y_pred": pred}


def _average_precision(truth: np.ndarray, prob: np.ndarray) -> float | None:
    """AP is undefined without a positive; None keeps it out of the mean instead of scoring 0."""
    if truth.sum() == 0:
        return None
    return float(average_precision_score(truth, prob))


def _per_label(
    names: Sequence[str], precision: Any, recall: Any, f1: Any, support: Any
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }


def _au_arrays(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(y_true)
    prob = np.asarray(y_prob, dtype=float)
    if truth.ndim != 2 or truth.shape != prob.shape:
        raise ValueError(
            f"AU labels and probabilities must be (n, n_aus) of one shape: "
            f"{truth.shape} vs {prob.shape}"
        )
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("AU labels must be 0 or 1")
    return truth.astype(int), prob


def _check_emotion_shape(truth: np.ndarray, prob: np.ndarray) -> None:
    if prob.shape != (truth.shape[0], len(EMOTIONS)):
        raise ValueError(
            f"emotion: {truth.shape[0]} labels need probabilities of shape "
            f"({truth.shape[0]}, {len(EMOTIONS)}), got {prob.shape}"
        )


def _au_names(names: Sequence[str] | None, k: int) -> list[str]:
    if names is None:
        return (
            default_au_names(DEFAULT_AUS)
            if k == len(DEFAULT_AUS)
            else [f"AU#{j}" for j in range(k)]
        )
    if len(names) != k:
        raise ValueError(f"{len(names)} AU names for {k} AU columns")
    return [str(n) for n in names]


def _thresholds(thresholds: Sequence[float] | None, k: int) -> list[float]:
    if thresholds is None:
        return [DEFAULT_THRESHOLD] * k
    cut = [float(t) for t in thresholds]
    if len(cut) != k:
        raise ValueError(f"{len(cut)} thresholds for {k} AU columns")
    return cut
