"""`transfer`: an ImageNet MobileNet from a local weights file, frozen, grey repeated to RGB."""

from __future__ import annotations

from core.config import DEFAULT_TARGETS

from .domains import Choice, IntRange, LogUniform, SearchSpace, Uniform

SPACE = SearchSpace(
    name="transfer",
    summary="frozen MobileNet from --backbone-weights; sample size, input size, L1, augmentation, "
    "top blocks to unfreeze",
    params={
        "sample_size": IntRange(250, 600, step=50),
        # ImageNet weights were learnt at these sizes; other sizes work but transfer worse.
        "input_size": Choice((128, 160, 192, 224)),
        "l1": LogUniform(1e-6, 1e-2),
        "zoom": Uniform(0.0, 0.3),
        "brightness": Uniform(0.0, 0.3),
        # Scientific: 0 keeps ImageNet features intact; the top blocks adapt them to faces.
        "unfreeze_top_blocks": IntRange(0, 4),
        "learning_rate": LogUniform(1e-4, 3e-3),
    },
    fixed={
        "backbone": "mobilenet",
        "alpha": 1.0,  # must match the weights file; the tuner checks it before any trial
        "backbone_weights": None,  # set from --backbone-weights
        "crop_fraction": 1.0,
        "batch_size": 16,
        "max_epochs": 15,
        "min_epochs": 3,
        "patience": 4,
        "targets": dict(DEFAULT_TARGETS),
    },
    # The report's transfer model: the base training set, frozen backbone, default Adam rate.
    start={
        "sample_size": 300,
        "input_size": 224,
        "l1": 1e-6,
        "zoom": 0.1,
        "brightness": 0.1,
        "unfreeze_top_blocks": 0,
        "learning_rate": 1e-3,
    },
    grace_period=2,
    num_samples=24,
    cpu_caps={"input_size": 128, "max_epochs": 8, "num_samples": 6},
)
