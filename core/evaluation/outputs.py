"""What one model said about each test image, kept beside its report.

A summary report cannot be resampled or paired: the bootstrap intervals and the paired comparisons
(`core.evaluation.verdicts`) need each image's probabilities, its labels and its subject.
`TestOutputs` holds them once, with the AU thresholds tuned on validation (fixed: a resample never
re-tunes them), and travels in report.json as "test_outputs", so a report made later (the study
page's hand-tuned configs) is compared on the same images without running the model again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .intervals import SubjectBootstrap, subject_bootstrap
from .metrics import test_report_at, tune_thresholds
from .weighted_metrics import figure_rows

FIELDS = ("subjects", "emotion_true", "emotion_prob", "au_true", "au_prob", "thresholds")


@dataclass(frozen=True, eq=False)
class TestOutputs:
    """Per-image test labels, probabilities and subjects of one model; AU thresholds tuned."""

    __test__ = False  # a library class named Test*: not for pytest to collect

    subjects: np.ndarray | None  # (n,) the test images' subjects; None: unknown, no intervals
    emotion_true: np.ndarray  # (n,)
    emotion_prob: np.ndarray  # (n, n_emotions)
    au_true: np.ndarray  # (n, n_aus) 0/1
    au_prob: np.ndarray  # (n, n_aus)
    thresholds: tuple[float, ...]  # per AU, tuned on validation

    def report(self, au_names: Sequence[str] | None = None) -> dict[str, Any]:
        """`core.evaluation.metrics`' test report of these outputs (no intervals)."""
        return test_report_at(
            self.emotion_true,
            self.emotion_prob,
            self.au_true,
            self.au_prob,
            self.thresholds,
            au_names,
        )

    def figures(self, weights: np.ndarray) -> np.ndarray:
        """(len(FIGURES), rows) the figures at each row of image weights."""
        return figure_rows(
            weights,
            self.emotion_true,
            self.emotion_prob,
            self.au_true,
            self.au_prob,
            self.thresholds,
        )

    @cached_property
    def bootstrap(self) -> SubjectBootstrap | None:
        """The test subjects' resamples (None with one subject or none known): alike for every
        model on the same test images."""
        return None if self.subjects is None else subject_bootstrap(self.subjects)

    @cached_property
    def distribution(self) -> np.ndarray:
        """(len(FIGURES), n_resamples) the figures on every resample, computed once."""
        if self.bootstrap is None:
            raise ValueError("one test subject or none known: nothing to resample")
        return self.bootstrap.distribution(self.figures)

    def to_json(self) -> dict[str, list]:
        """Plain lists, floats kept exact (a threshold comparison must not move)."""
        return {
            name: None if getattr(self, name) is None else np.asarray(getattr(self, name)).tolist()
            for name in FIELDS
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> TestOutputs:
        """The outputs `to_json` wrote."""
        return cls(
            subjects=None if payload["subjects"] is None else np.asarray(payload["subjects"]),
            emotion_true=np.asarray(payload["emotion_true"], dtype=int),
            emotion_prob=np.asarray(payload["emotion_prob"], dtype=float),
            au_true=np.asarray(payload["au_true"], dtype=int),
            au_prob=np.asarray(payload["au_prob"], dtype=float),
            thresholds=tuple(float(t) for t in payload["thresholds"]),
        )


def outputs_in(report: Mapping[str, Any]) -> TestOutputs | None:
    """The outputs a report kept ("test_outputs"), or None: a baseline's report, or one written
    before they were kept."""
    payload = report.get("test_outputs")
    return None if payload is None else TestOutputs.from_json(payload)


def test_outputs(
    subjects: Any,
    emotion_true: Any,
    emotion_prob: Any,
    au_true: Any,
    au_prob: Any,
    val_au_true: Any,
    val_au_prob: Any,
) -> TestOutputs:
    """The outputs of a model on the test images, its AU thresholds tuned on validation."""
    au_true = np.asarray(au_true).astype(int)
    return TestOutputs(
        subjects=None if subjects is None else np.asarray(subjects),
        emotion_true=np.asarray(emotion_true, dtype=int).ravel(),
        emotion_prob=np.asarray(emotion_prob, dtype=float),
        au_true=au_true.reshape(len(au_true), -1),
        au_prob=np.asarray(au_prob, dtype=float).reshape(len(au_true), -1),
        thresholds=tuple(tune_thresholds(val_au_true, val_au_prob)),
    )


test_outputs.__test__ = False  # type: ignore[attr-defined]
