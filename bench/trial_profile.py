"""Where one trial's time goes, phase by phase, and what a Ray Tune study adds around it.

In one process, no Ray: TF import, data (cached preparation + split), the per-trial views (crop
and resize), the tf.data pipelines, the model, the first epoch (tracing included) and the next
ones; then what our trainable does per epoch on top (checkpoint save, TensorBoard and HParams
writes), Ray's start and one Optuna TPE suggestion. bench/peers.py's ratios are read against it.

    python bench/trial_profile.py [--input-size 128] [--threads 1] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


class Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []
        self.last = time.perf_counter()

    def lap(self, phase: str) -> float:
        now = time.perf_counter()
        self.rows.append((phase, now - self.last))
        self.last = now
        return self.rows[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    clock = Clock()
    import keras  # noqa: F401
    import tensorflow as tf  # noqa: F401

    clock.lap("import TensorFlow + Keras")
    from core.config import full_config
    from core.dataset import load_training_data
    from core.models import build_model
    from core.pipeline import make_datasets, trial_views
    from core.threads import configure_threads
    from search_spaces import get
    from tune.study import cpu_caps

    configure_threads(args.threads)
    data = load_training_data(None, progress=False)
    clock.lap("data: cached preparation + subject split")
    space = get("large_sample")
    config = full_config({**space.capped(cpu_caps(space)).first_config()})
    config.update(input_size=args.input_size, n_aus=int(data.prepared.aus.shape[1]))
    views = trial_views(config, data.prepared)
    clock.lap(f"trial views: crop + resize to {args.input_size} px")
    train_ds, val_ds, _, n_train = make_datasets(config, data, views)
    clock.lap("tf.data pipelines")
    model = build_model(config)
    clock.lap("build + compile the model")
    times = []
    for epoch in range(args.epochs):
        fit = {"initial_epoch": epoch, "epochs": epoch + 1, "verbose": 0}
        model.fit(train_ds, validation_data=val_ds, **fit)
        times.append(clock.lap(f"epoch {epoch + 1} ({n_train} images)"))
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "model.keras")
        clock.lap("trainable: checkpoint (model.keras with optimizer state)")
        from tune.trainable import make_tensorboard_callbacks

        callbacks = make_tensorboard_callbacks(config, Path(folder) / "tb")
        model.fit(train_ds.take(1), validation_data=val_ds.take(1), callbacks=callbacks, verbose=0)
        clock.lap("trainable: one step + validation batch with TensorBoard + HParams")
        model.fit(train_ds.take(1), validation_data=val_ds.take(1), verbose=0)
        clock.lap("the same step without them")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    clock.lap("ray.init (local, no dashboard)")

    @ray.remote
    def imports_tf() -> float:
        started = time.perf_counter()
        import tensorflow  # noqa: F401

        return time.perf_counter() - started

    ray.get(imports_tf.remote())
    clock.lap("a fresh Ray worker imports TensorFlow (what every trial process pays)")
    ray.shutdown()
    import optuna

    from tune.search import DefineByRun

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, seed=0))
    for _ in range(8):
        trial = study.ask()
        DefineByRun(space)(trial)
        study.tell(trial, 0.5)
    clock.lap("Optuna: 8 TPE ask/tell rounds")
    width = max(len(phase) for phase, _ in clock.rows)
    print(f"one trial, input {args.input_size} px, {args.threads} TF thread(s), pid {os.getpid()}")
    for phase, seconds in clock.rows:
        print(f"{phase:<{width}}  {seconds:7.2f} s")
    steady = statistics.median(times[1:] or times)
    print(f"first epoch costs {times[0] - steady:.2f} s more than a steady one ({steady:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
