"""`transfer`: the FER2013 mini-Xception, frozen or with its top blocks fine-tuned (the report's
transfer recipe, on a face-expression network that can be fetched where ImageNet weights cannot).

`--backbone mobilenet --backbone-weights FILE` runs the report's own ImageNet MobileNet from a
local weights file instead (alpha 1.0, grey repeated to RGB).
"""

from __future__ import annotations

from core.config import DEFAULT_TARGETS

from .domains import Choice, IntRange, LogUniform, SearchSpace, Uniform

SPACE = SearchSpace(
    name="transfer",
    summary="pretrained FER2013 mini-Xception (or an ImageNet MobileNet file): sample size, input "
    "size, L1, augmentation, blocks to fine-tune, learning rate",
    params={
        "sample_size": IntRange(250, 600, step=50),
        # FER2013 was learnt at 64 px; larger inputs cost time and move the features' scale.
        "input_size": Choice((48, 64, 96, 128)),
        "l1": LogUniform(1e-6, 1e-2),
        "zoom": Uniform(0.0, 0.3),
        "brightness": Uniform(0.0, 0.3),
        # Scientific: 0 keeps the pretrained features intact; the top blocks adapt them to faces
        # (drawn ones on the built-in set, which can wash out what FER2013 taught).
        "unfreeze_top_blocks": IntRange(0, 4),
        "learning_rate": LogUniform(1e-4, 3e-3),
        # Scientific: rare AUs go unseen without positive weights (see large_sample).
        "au_weighting": Choice(("none", "balanced")),
    },
    fixed={
        "backbone": "mini_xception",
        "alpha": 1.0,  # a MobileNet file must match it; the tuner checks it before any trial
        "backbone_weights": "fer2013",  # fetched by the driver; --backbone-weights overrides
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
        "input_size": 64,
        "l1": 1e-6,
        "zoom": 0.1,
        "brightness": 0.1,
        "unfreeze_top_blocks": 0,
        "learning_rate": 1e-3,
        "au_weighting": "none",
    },
    start_variants=({"au_weighting": "balanced"},),
    grace_period=2,
    num_samples=24,
    cpu_caps={"input_size": 128, "max_epochs": 15, "num_samples": 8},
)
