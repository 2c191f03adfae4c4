"""`tiny`: a smoke-test space that finishes in about a minute on two cores (tests, quick checks)."""

from __future__ import annotations

from core.config import DEFAULT_TARGETS

from .domains import Choice, LogUniform, SearchSpace, Uniform

SPACE = SearchSpace(
    name="tiny",
    summary="32-48 px, alpha 0.25, 3 epochs, few samples: checks the plumbing, not the science",
    params={
        "input_size": Choice((32, 48)),
        "l1": LogUniform(1e-6, 1e-3),
        "zoom": Uniform(0.0, 0.2),
        "brightness": Uniform(0.0, 0.2),
    },
    fixed={
        "alpha": 0.25,
        "backbone": "mobilenet",
        "sample_size": 40,
        "crop_fraction": 1.0,
        "learning_rate": 1e-3,
        "batch_size": 16,
        "max_epochs": 3,
        "min_epochs": 3,
        "patience": 0,
        "targets": dict(DEFAULT_TARGETS),
    },
    start={"input_size": 32, "l1": 1e-4, "zoom": 0.1, "brightness": 0.1},
    grace_period=1,
    num_samples=4,
)
