"""Where a study's first seconds go, from the launch of `python -m tune.run` to its first report.

Runs a short real study of the default space (built-in set unless --data) and times, from the
outside, each line the terminal shows as it comes and what the trials leave on disk: the data's
summary (imports and data preparation done), the floors (Ray started, the plan made, the cores
layout measured or read back), the study line (the Tuner about to be built), and from each
trial's progress.csv its first report (`reported_at`) and its first iteration's length
(`time_this_iter_s`, which Tune counts from the trial's start on its worker): their difference is
when the first trial started (Tune copies trial folders at the study's end, so their files' times
say nothing). Nothing in the code under test is changed or hooked.

    python bench/study_start.py [--repeat 2] [--max-concurrent N --cpus-per-trial N] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKS = {  # a terminal line's start -> the phase it ends
    "data:": "data_s",
    "floors on validation": "ray_and_plan_s",
    "study ": "study_line_s",
}


def one_start(args: argparse.Namespace, storage: Path, index: int) -> dict[str, Any]:
    """One study's timeline, seconds since its launch."""
    name = f"start-{index}"
    command = [sys.executable, "-m", "tune.run", "--space", args.space, "--name", name]
    command += ["--storage", str(storage), "--num-samples", "2", "--time-budget", "45"]
    command += ["--no-report", "--confirm", "0", "--seed", str(index)]
    command += args.extra
    if args.data:
        command += ["--data", args.data]
    launched = time.time()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    timeline: dict[str, Any] = {}
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        for start, phase in MARKS.items():
            if line.startswith(start) and phase not in timeline:
                timeline[phase] = time.time() - launched
        if line.startswith("cores:"):
            timeline["cores_line"] = line.strip()
    process.wait()
    if process.returncode != 0:
        raise SystemExit("the study failed:\n" + "\n".join(lines[-20:]))
    firsts = []  # (first report, first iteration) of each trial
    for progress in sorted((storage / name).glob("trial_*/progress.csv")):
        with progress.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows:
            at = float(rows[0]["reported_at"]) - launched
            firsts.append((at, float(rows[0]["time_this_iter_s"])))
    if firsts:
        at, iteration = min(firsts)
        timeline["first_trial_started_s"] = min(a - i for a, i in firsts)
        timeline["first_report_s"] = at
        timeline["first_iteration_s"] = iteration
    return timeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="large_sample")
    parser.add_argument("--data", help="CK+ folder or CSV (default: the built-in set)")
    parser.add_argument("--repeat", type=int, default=2, help="studies, one after the other")
    parser.add_argument("--json", action="store_true")
    args, args.extra = parser.parse_known_args(argv)  # the rest goes to tune.run as it is
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.repeat):
            runs.append(one_start(args, Path(folder), index))
    keys = [key for key in runs[0] if key.endswith("_s")]
    medians = {
        key: statistics.median(r[key] for r in runs if r.get(key) is not None) for key in keys
    }
    if args.json:
        print(json.dumps({"runs": runs, "medians": medians}, indent=2))
        return 0
    print(f"{args.repeat} studies of {args.space}, {os.cpu_count()} cores, tune.run {args.extra}")
    for key, value in medians.items():
        print(f"{key:<22} {value:6.1f} s after the launch (median)")
    cores = {r.get("cores_line") for r in runs} - {None}
    for line in cores:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
