"""A trial's worker start, with and without TensorFlow preloaded (tune/worker_preload.py).

Each measurement is a fresh process that starts a local Ray as a study does
(`tune.tuner.start_ray`), waits `setup` seconds (what the driver spends meanwhile on the Tuner,
its state files and the searcher: about 3-8 s in a study; 0 is an actor asked for at once), then
asks for two trial actors, as a 2-core study's first round does, and times them until both hold
TensorFlow and the training loop, ready for a first step. Medians over --repeat processes.

    python bench/worker_start.py [--repeat 3] [--setup-s 0 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
MODES = ("fresh", "preload")


PRELOAD_ENV = "RAY_preload_python_modules"  # Ray's own: modules each worker imports as it starts
PRELOAD_MODULE = "tune.worker_preload"  # what cluster.yaml's nodes preload


def child(mode: str, setup_s: float) -> dict[str, float]:
    """One measurement, in this process: ray start, the setup wait, two actors made ready."""
    import importlib

    from tune.tuner import start_ray

    os.environ[PRELOAD_ENV] = PRELOAD_MODULE if mode == "preload" else ""
    started = time.perf_counter()
    start_ray(None, dashboard=False)
    ray_start_s = time.perf_counter() - started
    import ray

    @ray.remote(num_cpus=1)
    class TrialWorker:
        def ready(self) -> bool:
            importlib.import_module(PRELOAD_MODULE)  # a trial's imports: done if preloaded
            return True

    time.sleep(setup_s)
    asked = time.perf_counter()
    workers = [TrialWorker.remote() for _ in range(2)]
    ray.get([worker.ready.remote() for worker in workers])
    ready_s = time.perf_counter() - asked
    ray.shutdown()
    return {"ray_start_s": ray_start_s, "actors_ready_s": ready_s}


def measure(mode: str, setup_s: float) -> dict[str, float]:
    command = [sys.executable, str(HERE), "--child", mode, "--setup-s", str(setup_s)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--setup-s", type=float, nargs="+", default=[0.0, 5.0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.setup_s[0])), flush=True)
        return 0
    rows = []
    for setup_s in args.setup_s:
        for mode in MODES:  # alternated, so drift in a shared machine hits both alike
            runs = [measure(mode, setup_s) for _ in range(args.repeat)]
            row = {"mode": mode, "setup_s": setup_s, "cores": os.cpu_count()}
            for key in runs[0]:
                row[key] = statistics.median(run[key] for run in runs)
                row[f"{key}_all"] = [round(run[key], 2) for run in runs]
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        print("| workers | setup wait s | ray start s | two trial actors ready s (each run) |")
        print("|---|---:|---:|---|")
        for row in rows:
            each = ", ".join(f"{v:.2f}" for v in row["actors_ready_s_all"])
            print(
                f"| {row['mode']} | {row['setup_s']:g} | {row['ray_start_s']:.2f} "
                f"| **{row['actors_ready_s']:.2f}** ({each}) |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
