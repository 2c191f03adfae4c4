"""Training images/s through core.train's tf.data pipeline vs bare model.fit on in-memory tensors.

The bare fit is the limit of this hardware for the model and batch size; the pipeline adds the
per-epoch shuffle, the gather of oversampled indices and the augmentation. Goal: ratio >= 0.9.

    python bench/throughput.py [--epochs 3] [--sizes 96:0.25 224:1.0]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from core.config import TrainConfig, train_config
from core.data.dataset import load_training_data
from core.data.split import oversample
from core.model.builders import build_model
from core.training.loop import au_head
from core.training.pipeline import make_datasets, trial_views
from core.training.threads import configure_threads


class EpochTimer:
    """Seconds per epoch, the first (graph building) excluded by the caller."""

    def __init__(self) -> None:
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.seconds.append(time.perf_counter() - timer.started)

        self.seconds: list[float] = []
        self.callback = Callback()


def views_and_model(config: TrainConfig, data):
    """The config's views of the images, and its model for the data's AU head."""
    views = trial_views(data.prepared, config.crop_fraction, config.model.input_size)
    return views, build_model(config.model, au_head(config, data))


def pipeline_rate(config: TrainConfig, data, epochs: int) -> float:
    views, model = views_and_model(config, data)
    train_ds, _, _, n_train = make_datasets(config, data, views)
    timer = EpochTimer()
    model.fit(train_ds, epochs=epochs, callbacks=[timer.callback], verbose=0, shuffle=False)
    return n_train / float(np.median(timer.seconds[1:]))


def bare_rate(config: TrainConfig, data, epochs: int) -> float:
    views, model = views_and_model(config, data)
    indices = oversample(
        data.split.train, data.prepared.emotions, sample_size=config.sample_size, seed=0
    )
    x = views[indices][..., None].astype(np.float32)
    y = {"emotion": data.prepared.emotions[indices], "au": data.prepared.aus[indices]}
    timer = EpochTimer()
    model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=epochs,
        callbacks=[timer.callback],
        verbose=0,
    )
    return len(indices) / float(np.median(timer.seconds[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per run; the first is dropped"
    )
    parser.add_argument("--sizes", nargs="+", default=["96:0.25", "224:1.0"], metavar="PX:ALPHA")
    parser.add_argument("--sample-size", type=int, default=300)
    args = parser.parse_args()
    threads = configure_threads(os.cpu_count())
    data = load_training_data(None, progress=False)
    print(f"machine: {os.cpu_count()} cores, TF threads {threads}; {len(data.prepared)} images")
    print(f"{'input':>6} {'alpha':>5} {'pipeline img/s':>15} {'bare fit img/s':>15} {'ratio':>6}")
    for item in args.sizes:
        size, alpha = item.split(":")
        config = train_config(
            {
                "input_size": int(size),
                "alpha": float(alpha),
                "sample_size": args.sample_size,
                "zoom": 0.1,
                "brightness": 0.1,
                "batch_size": 16,
            }
        )
        piped = pipeline_rate(config, data, args.epochs)
        bare = bare_rate(config, data, args.epochs)
        print(f"{size:>6} {alpha:>5} {piped:15.1f} {bare:15.1f} {piped / bare:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
