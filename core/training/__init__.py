"""One config's training run: loop, tf.data pipeline, augmentation, callbacks, seeds, threads."""
