"""The tf.data pipelines a config trains and is tested on: views, oversampling, augmentation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import TrainConfig
from ..data.split import oversample
from ..images.preprocess import PreparedData, crop_and_resize
from .augment import build_augmenter

if TYPE_CHECKING:
    from ..data.dataset import TrainingData


def trial_views(prepared: PreparedData, crop_fraction: float, input_size: int) -> np.ndarray:
    """Every image cropped and resized as a model takes them, once, before any epoch: the
    checked values of a config or of a model's thresholds.json."""
    return crop_and_resize(prepared.images, crop_fraction, input_size)


def make_datasets(config: TrainConfig, data: TrainingData, views: np.ndarray):
    """(train, val, test, n_train) tf.data pipelines; augmentation runs on training batches only.

    Only the training split is oversampled (to `sample_size` images per emotion).
    """
    import tensorflow as tf

    prepared, split = data.prepared, data.split
    seed, batch = config.seed, config.batch_size
    images = tf.constant(views[..., None])
    emotions = tf.constant(prepared.emotions)
    aus = tf.constant(prepared.aus)

    def gather(indices):
        x = tf.cast(tf.gather(images, indices), tf.float32)
        return x, {"emotion": tf.gather(emotions, indices), "au": tf.gather(aus, indices)}

    train_indices = oversample(
        split.train, prepared.emotions, sample_size=config.sample_size, seed=seed
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
