"""Where one trial's time goes, phase by phase, and what a Ray Tune study adds around it.

In one process, no Ray: TF import, data (cached preparation + split), the per-trial views (crop
and resize), the tf.data pipelines, the model, the first epoch (tracing included) and the next
ones; then what our trainable does per epoch on top (checkpoint save, TensorBoard and HParams
writes), Ray's start and one Optuna TPE suggestion. bench/peers.py's ratios are read against it.

First, a trial's start, in the same process: `cold_start_s` is what a fresh worker pays from its
start to the end of its first training step (TensorFlow's import, the trial's views and
pipelines, a new model and the tracing of its train step); `warm_start_s` is the same for the
next trial of that architecture on a reused worker (core.model.warm: the compiled model reset, no
import, no tracing), with every value held in a variable changed and the same seed (as in a
study). Both run through core.training.loop.train. Then what our trainable adds to each epoch
(`per_epoch_overhead`): `epoch_s` (a steady epoch), `overhead_per_epoch_s` (TensorBoard and
HParams at the epoch's end, plus a checkpoint as an improving epoch writes it) and its share.
The config is the default space's (`large_sample`) start under its CPU caps, or with
`--start 1` its pretrained start (the FER2013 mini-Xception, where most of its trials go).

    python bench/trial_profile.py [--input-size PX] [--threads 1] [--epochs 4] [--json]
    python bench/trial_profile.py --starts-only --repeat 3 --json   # the starts, median of 3
    python bench/trial_profile.py --start 1 --json   # the pretrained start
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.config import TrainConfig

START_KEYS = ("cold_start_s", "warm_start_s", "warm_to_cold")


class Clock:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float]] = []
        self.last = time.perf_counter()

    def lap(self, phase: str) -> float:
        now = time.perf_counter()
        self.rows.append((phase, now - self.last))
        self.last = now
        return self.rows[-1][1]


def first_step_seconds(config: TrainConfig, data) -> float:
    """From a trial's start to the end of its first training step, through core.loop.train."""
    import keras

    from core.training.loop import train

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs=None) -> None:
            self.at = time.perf_counter()
            self.model.stop_training = True

    first = FirstStep()
    started = time.perf_counter()
    train(replace(config, max_epochs=1), data, [first], verbose=False, warm=True)
    return first.at - started


def measure_starts(config: TrainConfig, data, import_s: float) -> dict[str, float]:
    """cold_start_s (import + a new shape's first step) and warm_start_s (its next trial's)."""
    cold = import_s + first_step_seconds(config, data)
    # Every value a warm trial may change, but the seed: a study's trials share one (a new seed
    # costs TensorFlow's cache flush, about 2 s more; core.training.seeds).
    model = config.model
    other = replace(
        config,
        model=replace(model, learning_rate=model.learning_rate / 3, l1=(model.l1 or 1e-5) * 10),
        zoom=0.2,
        sample_size=max(16, (config.sample_size or 64) // 2),
        crop_fraction=0.9,
    )
    warm = first_step_seconds(other, data)
    return {"cold_start_s": cold, "warm_start_s": warm, "warm_to_cold": warm / cold}


def per_epoch_overhead(model, config: dict[str, Any], train_ds, val_ds, folder: Path) -> dict:
    """What our trainable adds to every epoch, timed where it happens: the TensorBoard and
    HParams callbacks' epoch ends (over two real epochs) and the trainable's own checkpoint code
    for an improving epoch (`keep_best`: after the trial's first best, which writes model.keras
    once, the best weights and optimizer state beside it; `fill_checkpoint`: the copy into the
    checkpoint folder, history and state JSON). Tune's own `report` (Ray) is not in it."""
    import keras

    from tune.trainable import fill_checkpoint, keep_best, make_tensorboard_callbacks

    spent = {"tensorboard_s": 0.0}

    class Timed(keras.callbacks.Callback):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def set_model(self, model) -> None:
            self.inner.set_model(model)

        def on_train_begin(self, logs=None) -> None:
            self.inner.on_train_begin(logs)

        def on_test_begin(self, logs=None) -> None:
            self.inner.on_test_begin(logs)

        def on_test_end(self, logs=None) -> None:
            self.inner.on_test_end(logs)

        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            self.inner.on_epoch_begin(epoch, logs)

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            started = time.perf_counter()
            self.inner.on_epoch_end(epoch, logs)
            spent["tensorboard_s"] += time.perf_counter() - started

        def on_train_end(self, logs=None) -> None:
            self.inner.on_train_end(logs)

    epochs = 2
    callbacks = make_tensorboard_callbacks(config, folder / "tb")
    timed = [Timed(callback) for callback in callbacks]
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=timed, verbose=0)
    scratch = folder / "scratch"
    scratch.mkdir()
    started = time.perf_counter()
    keep_best(model, scratch)  # the trial's first best: its model file
    first_s = time.perf_counter() - started
    saves, copies = [], []
    for epoch in range(5):  # each later best: its weights beside the model file
        started = time.perf_counter()
        keep_best(model, scratch)
        saved = time.perf_counter()
        checkpoint = folder / f"checkpoint_{epoch}"
        checkpoint.mkdir()
        fill_checkpoint(checkpoint, scratch, {"loss": [0.5] * 20}, {"epoch": epoch, "score": 0.5})
        saves.append(saved - started)
        copies.append(time.perf_counter() - saved)
    tensorboard = spent["tensorboard_s"] / epochs
    save_s, copy_s = statistics.median(saves), statistics.median(copies)
    return {
        "tensorboard_hparams_s": tensorboard,
        "checkpoint_first_s": first_s,
        "checkpoint_save_s": save_s,
        "checkpoint_copy_s": copy_s,
        "checkpoint_s": save_s + copy_s,
        "checkpoint_bytes": sum(f.stat().st_size for f in checkpoint.iterdir()),
        "overhead_per_epoch_s": tensorboard + save_s + copy_s,
    }


def repeat_starts(args: argparse.Namespace) -> dict[str, Any]:
    """The starts measured in `args.repeat` fresh processes, one after the other; medians."""
    argv = [sys.executable, __file__, "--starts-only", "--json", "--repeat", "1"]
    argv += ["--threads", str(args.threads), "--start", str(args.start)]
    argv += ["--input-size", str(args.input_size)] if args.input_size else []
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    medians = {key: statistics.median(run[key] for run in runs) for key in START_KEYS}
    return {**medians, "runs": [{key: run[key] for key in START_KEYS} for run in runs]}


def emit_starts(starts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(starts))
    else:
        print_starts(starts)


def print_starts(starts: dict[str, Any]) -> None:
    for run in starts.get("runs", [starts]):
        print(
            f"cold start {run['cold_start_s']:.2f} s, warm start {run['warm_start_s']:.2f} s, "
            f"warm/cold {run['warm_to_cold']:.3f}"
        )
    if "runs" in starts:
        print(
            f"median of {len(starts['runs'])}: cold {starts['cold_start_s']:.2f} s, warm "
            f"{starts['warm_start_s']:.2f} s, warm/cold {starts['warm_to_cold']:.3f} "
            "(goals: warm <= 2 s, warm/cold <= 0.25)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, help="default: the start config's")
    parser.add_argument(
        "--start",
        type=int,
        default=0,
        help="which of the space's start points: 0 the hand-tuned MobileNet (default), 1 the "
        "pretrained FER2013 mini-Xception",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument("--starts-only", action="store_true", help="measure the starts only")
    parser.add_argument("--repeat", type=int, default=1, help="starts: N fresh processes, median")
    args = parser.parse_args()
    if args.starts_only and args.repeat > 1:
        emit_starts(repeat_starts(args), args.json)
        return 0
    clock = Clock()
    from core.quiet import import_tensorflow

    import_tensorflow()
    # Keras warns at every fit that `shuffle` is ignored for a tf.data.Dataset (the pipeline
    # reshuffles itself, as in training): noise between the figures.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    import keras  # noqa: F401

    import_s = clock.lap("import TensorFlow + Keras")
    from core.config import train_config
    from core.data.dataset import load_training_data
    from core.model.builders import build_model
    from core.training.loop import au_head
    from core.training.pipeline import make_datasets, trial_views
    from core.training.threads import configure_threads
    from search_spaces import get
    from tune.study import cpu_caps

    configure_threads(args.threads)
    data = load_training_data(None, progress=False)
    clock.lap("data: cached preparation + subject split")
    space = get("large_sample")
    capped = space.capped(cpu_caps(space))
    config = capped.config(capped.start_points()[args.start])  # as Tune gives it (HParams)
    if args.input_size:
        config["input_size"] = args.input_size
    checked = train_config({**config, "threads": args.threads})
    args.input_size = checked.model.input_size
    clock.last = time.perf_counter()
    starts = measure_starts(checked, data, import_s)
    clock.lap("a cold and a warm trial start (below)")
    if args.starts_only:
        emit_starts(starts, args.json)
        return 0
    views = trial_views(data.prepared, checked.crop_fraction, args.input_size)
    clock.lap(f"trial views: crop + resize to {args.input_size} px")
    train_ds, val_ds, _, n_train = make_datasets(checked, data, views)
    clock.lap("tf.data pipelines")
    model = build_model(checked.model, au_head(checked, data))
    clock.lap("build + compile the model")
    times = []
    for epoch in range(args.epochs):
        fit = {"initial_epoch": epoch, "epochs": epoch + 1, "verbose": 0}
        model.fit(train_ds, validation_data=val_ds, **fit)
        times.append(clock.lap(f"epoch {epoch + 1} ({n_train} images)"))
    steady = statistics.median(times[1:] or times)
    with tempfile.TemporaryDirectory() as folder:
        overhead = per_epoch_overhead(model, config, train_ds, val_ds, Path(folder))
    clock.lap("our per-epoch work over two epochs (above)")
    overhead["epoch_s"] = steady
    overhead["overhead_share"] = overhead["overhead_per_epoch_s"] / steady
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "model.keras")
        clock.lap("trainable: a trial's first best (model.keras with optimizer state)")
        from tune.trainable import make_tensorboard_callbacks

        callbacks = make_tensorboard_callbacks(config, Path(folder) / "tb")
        model.fit(train_ds.take(1), validation_data=val_ds.take(1), callbacks=callbacks, verbose=0)
        clock.lap("trainable: one step + validation batch with TensorBoard + HParams")
        model.fit(train_ds.take(1), validation_data=val_ds.take(1), verbose=0)
        clock.lap("the same step without them")
    import ray

    ray.init(
        address="local",  # its own Ray, never one that happens to run on this machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="error",
    )
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

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(multivariate=True, seed=0))
    for _ in range(8):
        trial = study.ask()
        DefineByRun(space)(trial)
        study.tell(trial, 0.5)
    clock.lap("Optuna: 8 TPE ask/tell rounds")
    if args.json:
        phases = {phase: round(seconds, 3) for phase, seconds in clock.rows}
        extra = times[0] - steady
        payload = {"phases": phases, "first_epoch_extra_s": extra, **starts, **overhead}
        print(json.dumps(payload, indent=2))
        return 0
    width = max(len(phase) for phase, _ in clock.rows)
    print(f"one trial, input {args.input_size} px, {args.threads} TF thread(s), pid {os.getpid()}")
    for phase, seconds in clock.rows:
        print(f"{phase:<{width}}  {seconds:7.2f} s")
    print(f"first epoch costs {times[0] - steady:.2f} s more than a steady one ({steady:.2f} s)")
    print(
        f"our work per epoch: TensorBoard + HParams {overhead['tensorboard_hparams_s']:.3f} s, "
        f"checkpoint {overhead['checkpoint_s']:.3f} s (save {overhead['checkpoint_save_s']:.3f}, "
        f"copy {overhead['checkpoint_copy_s']:.3f}, {overhead['checkpoint_bytes'] / 1e6:.1f} MB; "
        f"the trial's first best {overhead['checkpoint_first_s']:.3f} s once): "
        f"{overhead['overhead_per_epoch_s']:.3f} s, "
        f"{overhead['overhead_share']:.1%} of a {steady:.2f} s epoch (goal < 5%; Tune's report "
        "not included)"
    )
    print_starts(starts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
