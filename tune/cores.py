"""One trial on all cores, or one trial per core: measured on this machine, then kept.

On a small CPU-only machine the same cores can train one trial with every core's thread or a
trial per core. Which trains more images a second depends on the model, TensorFlow's threading
and the machine's memory bandwidth, so it is measured: the default space's start models (the
configs a study tries first), each trained for a few seconds in both layouts by fresh Ray workers
(a worker's thread pools are fixed at its first TensorFlow op), the per-core workers held at a
barrier so they train at the same time. Measured once per machine and set of models, the rates
are kept in the cache folder; every later study reads them back.

The plan takes the layout with the higher total rate; within TIE of each other it takes one trial
on all cores (each trial's epochs come sooner, and the searcher learns from more finished trials).

    python -m tune.cores [--space large_sample] [--data PATH] [--again]   # measure, keep, say
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.cli import Parser, add_data_option, add_detector_option, exits_cleanly
from core.data.dataset import TrainingData
from core.files import write_json_atomically
from core.paths import cache_root

from .ray_compat import flags_under, put_flag

CACHE_FILE = "cores.json"
TIE = 0.1  # per core must train over 10 % more images a second to win
WINDOW_S = 4.0  # seconds of steady training steps timed per model and worker
BARRIER_WAIT_S = 180.0  # the slowest worker's start (TensorFlow, the model, its first trace)


@dataclass(frozen=True)
class CoresChoice:
    """The layout the plan takes, and the rates it took it by (images a second, whole machine)."""

    cores: int
    cpus_per_trial: int
    at_once: int
    per_core_rate: float
    all_cores_rate: float
    models: str
    measured_at: str
    fresh: bool  # measured in this run, not read back from the cache

    def describe(self) -> str:
        layout = (
            f"one trial per core ({self.at_once} at once)"
            if self.cpus_per_trial == 1
            else f"one trial at a time on all {self.cpus_per_trial} cores"
        )
        where = "measured now" if self.fresh else f"measured {self.measured_at}"
        return (
            f"cores: {layout}: {self.cores} trials of 1 thread trained "
            f"{self.per_core_rate:.0f} images/s against 1 trial of {self.cores} threads "
            f"{self.all_cores_rate:.0f} ({self.models}; {where}, kept in "
            f"{cache_root() / CACHE_FILE}; --cpus-per-trial or --max-concurrent overrides)"
        )


def choose(cores: int, per_core_rate: float, all_cores_rate: float) -> tuple[int, int]:
    """(CPUs per trial, trials at once) by the two measured rates."""
    if per_core_rate > all_cores_rate * (1 + TIE):
        return 1, cores
    return cores, 1


def cores_choice(
    configs: list[dict[str, Any]],
    data: TrainingData,
    cores: int,
    again: bool = False,
    window_s: float = WINDOW_S,
) -> CoresChoice:
    """The layout for `cores` CPUs, from the cache when these models were measured on this
    machine (unless `again`), else measured now (about a minute) and kept."""
    models = ", ".join(model_label(config) for config in configs)
    key = f"{machine_name()} | {cores} cores | {models}"
    cache = cache_root() / CACHE_FILE
    kept = read_kept(cache)
    fresh = again or key not in kept
    if fresh:
        print(
            f"cores: measuring 1 trial on {cores} cores against {cores} trials on one core each "
            f"({models}); once for this machine, about a minute",
            flush=True,
        )
        import ray

        data_ref = ray.put(data)  # once for both layouts
        kept[key] = {
            "per_core_rate": measure(configs, data_ref, 1, cores, window_s),
            "all_cores_rate": measure(configs, data_ref, cores, 1, window_s),
            "measured_at": time.strftime("%Y-%m-%d"),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(cache, kept)
    rates = kept[key]
    cpus, at_once = choose(cores, rates["per_core_rate"], rates["all_cores_rate"])
    return CoresChoice(
        cores=cores,
        cpus_per_trial=cpus,
        at_once=at_once,
        per_core_rate=rates["per_core_rate"],
        all_cores_rate=rates["all_cores_rate"],
        models=models,
        measured_at=rates["measured_at"],
        fresh=fresh,
    )


def read_kept(cache: Path) -> dict[str, Any]:
    """The kept measurements; a damaged or foreign file counts as none (it is only a cache)."""
    try:
        kept = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict):
        return {}
    return {
        key: value
        for key, value in kept.items()
        if isinstance(value, dict)
        and all(_positive(value.get(name)) for name in ("per_core_rate", "all_cores_rate"))
        and isinstance(value.get("measured_at"), str)
    }


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def machine_name() -> str:
    """The CPU's model name (what the rates belong to), else the platform's."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def model_label(config: dict[str, Any]) -> str:
    return f"{config.get('backbone', 'mobilenet')} {config.get('input_size')} px"


def measure(
    configs: list[dict[str, Any]],
    data_ref: Any,
    threads: int,
    workers: int,
    window_s: float = WINDOW_S,
) -> float:
    """Images a second the whole machine trains with `workers` fresh Ray workers of `threads`
    threads each, summed over the workers; the geometric mean over the models. `data_ref`: the
    TrainingData in Ray's object store."""
    import ray

    remote = ray.remote(num_cpus=threads, max_calls=1)(_worker_rates)  # a fresh process each
    run = uuid.uuid4().hex
    rates = ray.get(
        [remote.remote(configs, data_ref, threads, run, workers, window_s) for _ in range(workers)]
    )
    totals = [sum(worker[i] for worker in rates) for i in range(len(configs))]
    return math.exp(sum(math.log(total) for total in totals) / len(totals))


def _worker_rates(
    configs: list[dict[str, Any]],
    data: TrainingData,
    threads: int,
    run: str,
    workers: int,
    window_s: float,
) -> list[float]:
    """In one worker: each model built, traced, then trained for `window_s` once every worker
    of the layout is ready; its images a second."""
    from core.config import train_config
    from core.model.builders import build_model
    from core.quiet import import_tensorflow
    from core.training.loop import au_head
    from core.training.pipeline import make_datasets, trial_views
    from core.training.threads import configure_threads

    configure_threads(threads)
    import_tensorflow()
    rates = []
    for index, flat in enumerate(configs):
        config = train_config({**flat, "threads": threads})
        views = trial_views(data.prepared, config.crop_fraction, config.model.input_size)
        train_ds = make_datasets(config, data, views)[0].repeat()
        model = build_model(config.model, au_head(config, data))
        model.fit(train_ds, steps_per_epoch=2, epochs=1, verbose=0)  # the trace, not timed
        _barrier(f"cores/{run}/{index}", workers)
        rates.append(_timed_rate(model, train_ds, config.batch_size, window_s))
    return rates


def _barrier(prefix: str, workers: int) -> None:
    """Wait until every worker of the layout has reached this point (Ray's key-value store)."""
    put_flag(f"{prefix}/{os.getpid()}-{uuid.uuid4().hex}")
    deadline = time.monotonic() + BARRIER_WAIT_S
    while flags_under(prefix) < workers and time.monotonic() < deadline:
        time.sleep(0.05)


def _timed_rate(model, train_ds, batch_size: int, window_s: float) -> float:
    """Images a second over `window_s` of training steps, counted from the first step's end."""
    import keras

    marks: list[float] = []

    class Window(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs=None) -> None:
            marks.append(time.perf_counter())
            if marks[-1] - marks[0] >= window_s:
                self.model.stop_training = True

    model.fit(train_ds, steps_per_epoch=1_000_000, epochs=1, callbacks=[Window()], verbose=0)
    return (len(marks) - 1) * batch_size / (marks[-1] - marks[0])


def start_configs(settings: Any) -> list[dict[str, Any]]:
    """The configs a study of `settings` (planned: its caps applied) tries first."""
    space = settings.resolved_space()
    return [space.config(point) for point in space.start_points()]


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Measure (or read back) the layout a study of this space takes on this machine."""
    import search_spaces

    from .study import StudySettings, cpu_caps
    from .tuner import start_ray, stop_ray

    parser = Parser(
        prog="python -m tune.cores",
        description="One trial on all cores against one per core, for a space's start models "
        "under its CPU budget: measured on this machine and kept, as a study reads it.",
    )
    parser.add_argument("--space", default="large_sample", choices=search_spaces.names())
    add_data_option(parser)
    add_detector_option(parser)
    parser.add_argument("--again", action="store_true", help="measure even when kept")
    args = parser.parse_args(argv)
    settings = StudySettings(
        space=args.space, name="cores", storage=".", data=args.data, detector=args.detector
    )
    settings.caps = cpu_caps(search_spaces.get(args.space))
    from core.model.pretrained import fetch_weights, named

    for name in settings.named_weights():
        fetch_weights(named(name))
    data = settings.load_data()
    started = start_ray(None, dashboard=False)
    try:
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 1))
        choice = cores_choice(start_configs(settings), data, cpus, again=args.again)
    finally:
        if started:
            stop_ray()
    print(choice.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
