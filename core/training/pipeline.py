"""The tf.data pipelines a config trains and is tested on: views, oversampling, augmentation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.split import oversample
from ..images.preprocess import PreparedData, crop_and_resize
from .augment import build_augmenter

if TYPE_CHECKING:
    from ..data.dataset import TrainingData


def trial_views(config: Mapping[str, Any], prepared: PreparedData) -> np.ndarray:
    """Every image cropped and resized for this config, once, before any epoch."""
    return crop_and_resize(
        prepared.images, float(config["crop_fraction"]), int(config["input_size"])
    )


def make_datasets(config: Mapping[str, Any], data: TrainingData, views: np.ndarray):
    """(train, val, test, n_train) tf.data pipelines; augmentation runs on training batches only.

    Only the training split is oversampled (to `sample_size` images per emotion).
    """
    import tensorflow as tf

    prepared, split = data.prepared, data.split
    seed = int(config["seed"])
    batch = int(config["batch_size"])
    images = tf.constant(views[..., None])
    emotions = tf.constant(prepared.emotions)
    aus = tf.constant(prepared.aus)

    def gather(indices):
        x = tf.cast(tf.gather(images, indices), tf.float32)
        return x, {"emotion": tf.gather(emotions, indices), "au": tf.gather(aus, indices)}

    train_indices = oversample(
        split.train, prepared.emotions, sample_size=config["sample_size"], seed=seed
    )
    augmenter = build_augmenter(config, seed=seed)
    train = (
        tf.data.Dataset.from_tensor_slices(train_indices)
        .shuffle(len(train_indices), seed=seed, reshuffle_each_iteration=True)
        .batch(batch)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    )
    if augmenter is not None:
        train = train.map(
            lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    train = train.prefetch(tf.data.AUTOTUNE)

    def evaluation(indices: np.ndarray):
        return tf.data.Dataset.from_tensor_slices(indices).batch(64).map(gather).cache().prefetch(2)

    return train, evaluation(split.val), evaluation(split.test), len(train_indices)
