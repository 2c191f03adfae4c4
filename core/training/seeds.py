"""Seeding a run as `keras.utils.set_random_seed` does, minus a needless TensorFlow cache flush.

`tf.random.set_seed` (which Keras' setter calls) empties TensorFlow's kernel and function caches,
so the next call of an already traced train step is instantiated and optimised again: about 2 s
on two cores, most of a warm trial's start (core.model.warm). TensorFlow's global seed is therefore
set only when it changes (trials of a study share one seed); Python's, NumPy's and Keras' generators
are reset every time. Skipping the flush leaves TensorFlow's counter for ops without an op seed
running on; our runs have none (the tf.data shuffle takes the run's seed, Keras layers draw from
their own seed generators).
"""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Python, NumPy, Keras' global seed and seed generator, and TensorFlow's global seed."""
    import keras

    try:
        from keras.src.backend.common import global_state
        from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
        from tensorflow.python.eager import context
    except ImportError:  # another Keras or TensorFlow layout: the plain (flushing) setter
        keras.utils.set_random_seed(seed)
        return
    if context.global_seed() != seed:
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
