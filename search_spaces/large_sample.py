"""`large_sample`: more oversampling, centre crop, four augmentations and L1 (report: F1 0.89),
on the report's MobileNet from scratch or the FER2013-pretrained mini-Xception."""

from __future__ import annotations

from core.config import DEFAULT_TARGETS

from .domains import Choice, IntRange, LogUniform, SearchSpace, Uniform

SPACE = SearchSpace(
    name="large_sample",
    summary="backbone (MobileNet from scratch or FER2013 mini-Xception), sample size 250-600 per "
    "class, input size, centre crop, L1, augmentation, fine-tuning",
    params={
        # Scientific: from scratch, ~400 images and a CPU's epochs leave a MobileNet below a
        # linear model on pixels; the FER2013 mini-Xception starts from 35k real faces.
        "backbone": Choice(("mobilenet", "mini_xception")),
        # Scientific: the report's main lever; below the majority count (~300) we would drop
        # originals, above ~600 the copies are mostly augmented duplicates.
        "sample_size": IntRange(250, 600, step=50),
        # Nuisance with a real cost: subtle AUs need pixels, time per epoch grows with the square.
        # 64 px is the size FER2013's network learnt at.
        "input_size": Choice((64, 96, 128, 160, 224, 300, 480)),
        # Scientific: the report cropped 300 of 480 to drop the timestamp strip and hair.
        "crop_fraction": Uniform(0.6, 1.0),
        "l1": LogUniform(1e-6, 1e-2),
        "zoom": Uniform(0.0, 0.3),
        "brightness": Uniform(0.0, 0.3),
        # The report kept these low: the images are standardised, strong values hurt val/test.
        "contrast": Uniform(0.0, 0.2),
        # Keras counts rotation in full turns: 0.05 is +-18 degrees, about what a head tilts.
        "rotation": Uniform(0.0, 0.05),
        # Scientific: most AUs are rare (5-30 %); without a positive weight the AU head learns to
        # say "absent" and its F1 at 0.5 stays below the all-present floor for many epochs.
        "au_weighting": Choice(("none", "balanced")),
        # Scientific, pretrained only: 0 keeps FER2013's features (a frozen backbone); the top
        # blocks adapt them (MobileNet from scratch trains every block whatever this says).
        "unfreeze_top_blocks": IntRange(0, 2),
        # Nuisance: within 3x of Adam's default, where the report stayed.
        "learning_rate": LogUniform(3e-4, 3e-3),
    },
    fixed={
        "alpha": 1.0,
        "batch_size": 16,
        "max_epochs": 20,
        "min_epochs": 8,
        "patience": 5,
        "targets": dict(DEFAULT_TARGETS),
    },
    # The report's large-sample model: 500 per class, 300 of 480 px, L1 on the dense layers
    # (strength not given: 1e-4), zoom/brightness 0.1, low contrast and rotation 0.05.
    start={
        "sample_size": 500,
        "input_size": 300,
        "crop_fraction": 0.625,
        "l1": 1e-4,
        "zoom": 0.1,
        "brightness": 0.1,
        "contrast": 0.05,
        "rotation": 0.05,
        "au_weighting": "none",  # the report weighted no AU
        "backbone": "mobilenet",
        "unfreeze_top_blocks": 0,
        "learning_rate": 1e-3,
    },
    linked={"backbone": {"mini_xception": {"backbone_weights": "fer2013"}}},
    # The same config with balanced AU weights, tried beside it: unweighted, the AU head says
    # "absent" (val AU macro F1 0.043) for 5-10 epochs, so the report's config scores near its
    # floor for most of a short study; weighted, the same config was our best single model on
    # the built-in set (test AU macro F1 0.464-0.520 against 0.389-0.420 for the studies' best).
    # Beside the report's config (the hand-tuned yardstick), the mini-Xception at the size
    # FER2013 was learnt at, with balanced AU weights: on 2 cores it met the targets after 3
    # epochs of 5-7 s (bench/HISTORY.md). The report's config with balanced weights, tried here
    # before the pretrained backbone came, took one core for 290 s of a 10-minute study.
    start_variants=({"backbone": "mini_xception", "input_size": 64, "au_weighting": "balanced"},),
    # From scratch on the built-in set, validation sits near chance for the first 5-9 epochs
    # (BatchNorm statistics settle, then the heads start to learn); comparing trials earlier
    # prunes the good ones with the bad. A study with grace 5 and patience after epoch 5 stopped
    # the hand-tuned start at epoch 5 with val emotion accuracy 0.29.
    grace_period=8,
    num_samples=32,
    # 2 CPU cores: small inputs and the narrowest MobileNet; the sample size stays searched
    # because on CPU it is what gets a from-scratch network to the targets in time.
    cpu_caps={
        # The mini-Xception keeps full resolution through its stem: at 128 px an epoch took
        # 22 s on one core, 4 times its 64 px epoch; MobileNet halves at once.
        "input_size": 96,
        "alpha": 0.25,
        # From scratch on the built-in set the network is still learning at epoch 15 (val emotion
        # accuracy 0.66-0.72, rising); the study's time budget bounds the whole.
        "max_epochs": 20,
        "min_epochs": 8,
        "patience": 4,
        "num_samples": 8,
        # The README's main command on a 2-core laptop: within 10 minutes, preparation included.
        "time_budget_s": 420,
    },
)
