"""GPU figures for planning a study: trials per hour at 1, 2 and 4 trials per GPU at a small input
size (Ray packs them with --gpus-per-trial 1, 0.5, 0.25; memory growth on in each), and the time
of one epoch at each input size of the large_sample space. Needs a GPU TensorFlow can use; on a
machine without one it says so and stops.

    python -m bench.gpu [--mixed-precision] [--gpu-memory-mb MB] [--data PATH]
    python -m bench.gpu --cpu-dry-run      # exercise the code on CPU with a fake GPU (no figures)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import search_spaces

PER_GPU = (1, 2, 4)
PACKING_INPUT_SIZE = 96  # the smallest size of large_sample: where sharing a GPU pays most
PACKING_EPOCHS = 3
TIMING_EPOCHS = 2  # the first epoch traces the graph; the second is the one timed


def gpu_names() -> list[str]:
    """GPUs the NVIDIA driver lists; [] without a driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
    listed = subprocess.run(query, capture_output=True, text=True, check=False)
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def tensorflow_gpus() -> int:
    """GPUs TensorFlow can use, asked in a child process so this one never holds GPU memory."""
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = child.stdout.strip().splitlines()
    return int(lines[-1]) if child.returncode == 0 and lines else 0


class MemoryPeak(threading.Thread):
    """The most GPU memory in use (MiB, over all GPUs) while it runs, polled from nvidia-smi."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        if shutil.which("nvidia-smi") is None:  # the CPU dry run
            return
        query = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"]
        while not self.done.wait(1.0):
            used = subprocess.run(query, capture_output=True, text=True, check=False).stdout
            self.peak = max(self.peak, sum(int(x) for x in used.split() if x.isdigit()))


def base_config(args, input_size: int, epochs: int) -> dict[str, Any]:
    """large_sample's hand-tuned config at one input size, for a fixed number of epochs."""
    space = search_spaces.get("large_sample")
    config = {**space.first_config(), "input_size": input_size}
    config.update(
        max_epochs=epochs,
        min_epochs=epochs,
        patience=0,
        targets={"val_emotion_accuracy": 2.0},  # never met: every trial costs the same
        mixed_precision=args.mixed_precision,
        gpu_memory_mb=args.gpu_memory_mb,
    )
    if args.cpu_dry_run:
        config.update(alpha=0.25, sample_size=40)
    return config


def packing_size_and_epochs(args) -> tuple[int, int]:
    return (32, 1) if args.cpu_dry_run else (PACKING_INPUT_SIZE, PACKING_EPOCHS)


def trials_per_hour(args, data, gpus: int, per_gpu: int) -> tuple[float, int, int]:
    """(trials/h, errored trials, peak MiB) of 2 waves of trials, `per_gpu` at once on each GPU."""
    from ray import tune

    from tune.resources import trial_resources
    from tune.trainable import run_trial

    at_once = gpus * per_gpu
    cpus = max(1, (os.cpu_count() or 1) // at_once)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data), trial_resources(cpus, 1 / per_gpu)
    )
    config = base_config(args, *packing_size_and_epochs(args))
    peak = MemoryPeak()
    peak.start()
    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            trainable,
            param_space=config,
            tune_config=tune.TuneConfig(
                num_samples=2 * at_once, max_concurrent_trials=at_once, reuse_actors=False
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        started = time.perf_counter()
        grid = tuner.fit()
        wall = time.perf_counter() - started
    peak.done.set()
    errored = sum(1 for result in grid if result.error is not None)
    return (2 * at_once - errored) / wall * 3600, errored, peak.peak


def epoch_seconds(args, data, input_size: int) -> float:
    """The second epoch's time of one config trained in this process."""
    import keras

    from core.training.loop import train

    times: list[float] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    epochs = 1 if args.cpu_dry_run else TIMING_EPOCHS
    train(base_config(args, input_size, epochs), data, [EpochClock()], verbose=False)
    return times[-1]


def print_packing(args, data, gpus: int) -> None:
    import ray

    ray.init(
        address="local",  # its own Ray, never one that happens to run on this machine
        num_gpus=gpus if args.cpu_dry_run else None,  # dry run: a fake GPU resource
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        logging_level="error",
    )
    try:
        size, epochs = packing_size_and_epochs(args)
        print(f"trials/hour at input {size} px, {epochs} epochs a trial:")
        print(f"{'per GPU':>7} {'at once':>7} {'trials/h':>9} {'errored':>7} {'peak MiB':>8}")
        for per_gpu in PER_GPU:
            rate, errored, peak = trials_per_hour(args, data, gpus, per_gpu)
            at_once = per_gpu * gpus
            print(f"{per_gpu:>7} {at_once:>7} {rate:>9.1f} {errored:>7} {peak:>8}", flush=True)
    finally:
        ray.shutdown()


def print_epoch_times(args, data) -> None:
    """In this process, after the trials have given the GPU back."""
    import tensorflow as tf

    from tune.gpu import set_gpu_memory

    gpus = tf.config.list_physical_devices("GPU")
    set_gpu_memory(tf.config, gpus, args.gpu_memory_mb)
    if args.mixed_precision and gpus:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    sizes = search_spaces.get("large_sample").params["input_size"].values
    print("epoch time by input size (large_sample's start config, one trial on one GPU):")
    print(f"{'input px':>8} {'epoch s':>8}")
    for size in (32, 48) if args.cpu_dry_run else sizes:
        print(f"{size:>8} {epoch_seconds(args, data, size):>8.1f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--data", help="CK+ folder or CSV manifest (default: the built-in set)")
    parser.add_argument("--mixed-precision", action="store_true", help="float16 on the GPU")
    parser.add_argument("--gpu-memory-mb", type=int, help="cap each trial's GPU memory")
    parser.add_argument("--cpu-dry-run", action="store_true", help="no GPU: check the code only")
    args = parser.parse_args(argv)
    names = gpu_names()
    if not args.cpu_dry_run and not names:
        print("no GPU found (nvidia-smi lists none): bench/gpu.py measures nothing here.")
        return 0
    if not args.cpu_dry_run and tensorflow_gpus() == 0:
        print(
            f"GPU found ({'; '.join(names)}) but TensorFlow cannot use it: install the CUDA "
            "wheels with pip install -e '.[gpu]'. Nothing measured."
        )
        return 1
    print(
        f"GPUs: {'; '.join(names) or 'none (CPU dry run: these are not GPU figures)'}; "
        f"{os.cpu_count()} CPU cores; mixed precision {args.mixed_precision}",
        flush=True,
    )
    from core.data.dataset import load_training_data

    data = load_training_data(args.data, progress=False)
    print_packing(args, data, 1 if args.cpu_dry_run else len(names))
    print_epoch_times(args, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
