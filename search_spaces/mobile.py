"""`mobile`: the model's cost levers searched beside its quality levers, for a Pareto front of
accuracy against latency or size (`tune.run --space mobile --objectives emotion,au,latency`)."""

from __future__ import annotations

from core.config import DEFAULT_TARGETS

from .domains import Choice, IntRange, LogUniform, SearchSpace, Uniform

SPACE = SearchSpace(
    name="mobile",
    summary="MobileNet width 0.25-1.0 and input 64-224 px (cost levers), sample size, L1, "
    "augmentation",
    params={
        # Cost levers: latency grows about with alpha squared and with the input's area
        # (core.deploy.cost: 0.36 ms at 0.25 / 64 px, 3.8 ms at 1.0 / 128 px on a 2-core EPYC).
        "alpha": Choice((0.25, 0.5, 0.75, 1.0)),
        "input_size": Choice((64, 96, 128, 160, 224)),
        # Quality levers, as in large_sample.
        "sample_size": IntRange(250, 600, step=50),
        "crop_fraction": Uniform(0.6, 1.0),
        "l1": LogUniform(1e-6, 1e-2),
        "zoom": Uniform(0.0, 0.3),
        "brightness": Uniform(0.0, 0.3),
        "au_weighting": Choice(("none", "balanced")),
    },
    fixed={
        "backbone": "mobilenet",
        "learning_rate": 1e-3,
        "batch_size": 16,
        "contrast": 0.05,
        "rotation": 0.05,
        "max_epochs": 20,
        "min_epochs": 8,
        "patience": 5,
        "targets": dict(DEFAULT_TARGETS),
    },
    # The report's large-sample model at the narrowest width: the cheap end of the front.
    start={
        "alpha": 0.25,
        "input_size": 128,
        "sample_size": 500,
        "crop_fraction": 0.625,
        "l1": 1e-4,
        "zoom": 0.1,
        "brightness": 0.1,
        "au_weighting": "none",
    },
    start_variants=({"au_weighting": "balanced"},),  # why: search_spaces/large_sample.py
    grace_period=8,
    num_samples=40,
    # 2 CPU cores: the front spans widths 0.25-0.5 and inputs 64-128 px (an alpha-1.0 network
    # at 224 px takes minutes an epoch here).
    cpu_caps={
        "alpha": 0.5,
        "input_size": 128,
        "max_epochs": 15,
        "min_epochs": 6,
        "patience": 4,
        "num_samples": 10,
    },
)
