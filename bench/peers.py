"""This project against the tools a user would pick instead, on the built-in set (goal: time to
target <= 0.5x KerasTuner Hyperband and <= 0.7x plain Optuna).

Five tools, each in its own process (bench/peer_runners.py), one after the other on the whole
machine, three seeds, tools interleaved within a seed so drift in the machine hits all alike:
ours (Optuna TPE + hand-tuned start + ASHA + target stopping, trials in parallel), KerasTuner
Hyperband and BayesianOptimization, plain Optuna (TPE, MedianPruner, sequential) and Ray Tune with
random search and no scheduler. Same split, model family, pipeline, ranges, targets and budget.

Time to target runs from the process launch (imports, data, Ray start all count) to the first
epoch of any trial that meets every target. CPU-s is the whole machine's busy time during the run
(/proc/stat), so Ray's own daemons count; nothing else should run meanwhile.

    python bench/peers.py [--seeds 0 1 2] [--budget-s 150] [--space large_sample] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from peer_runners import ALL_TOOLS, TOOLS  # bench/ is on sys.path when this file runs
from peer_stats import (
    ahead_lines,
    format_paired,
    jsonable,
    median_interval,
    paired_difference,
    shown_interval,
)

from core.files import write_text_atomically

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "peer_runners.py"
GOALS = {"kt-hyperband": 0.5, "optuna": 0.7}  # ours / peer time to target
BUDGET_POINTS = (0.25, 0.5, 0.75, 1.0)  # the anytime table's columns, fractions of the budget
GRACE_S = 300  # past the budget: start-up, the last epoch, the test evaluation
FLOOR_ROW = "floor: majority emotion, every AU"  # the anytime table's row of no learning at all
RACE_FILE = "race.json"  # the race's settings beside its runs: bench/peer_record.py reads both


@dataclass
class Run:
    """One tool on one seed: the runner's outcome plus what the harness measured around it."""

    outcome: dict[str, Any]
    wall_s: float
    cpu_s: float

    @property
    def tool(self) -> str:
        return self.outcome["tool"]

    @property
    def time_to_target(self) -> float:
        value = self.outcome.get("time_to_target_s")
        return math.inf if value is None else float(value)


def machine_busy_seconds() -> float:
    """CPU-seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_one(tool: str, seed: int, args, out: Path) -> Run:
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = out / f"{tool}-seed{seed}.json"
    command = [sys.executable, str(RUNNER), tool, "--seed", str(seed), "--space", args.space]
    command += ["--budget-s", str(args.budget_s), "--max-trials", str(args.max_trials)]
    command += ["--out", str(out), "--targets", json.dumps(args.targets)]
    if args.data:
        command += ["--data", args.data]
    busy = machine_busy_seconds()
    started = time.monotonic()
    command += ["--launched-at", repr(time.time())]
    log_file = logs / f"{tool}-seed{seed}.log"
    with open(log_file, "w") as log:
        process = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=args.budget_s + GRACE_S,
            check=False,
        )
    wall = time.monotonic() - started
    cpu = machine_busy_seconds() - busy
    if process.returncode != 0 or not result.is_file():
        raise SystemExit(f"{tool} seed {seed} failed (exit {process.returncode}); see {log_file}")
    return Run(outcome=json.loads(result.read_text()), wall_s=wall, cpu_s=cpu)


def write_runs(runs: list[Run], out: Path) -> None:
    """runs.json: every finished run's outcome with the harness's wall and CPU seconds, replaced
    whole (a reader never finds half of it)."""
    records = [{**r.outcome, "wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in runs]
    write_text_atomically(out / "runs.json", json.dumps(records, indent=2))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def best_by(curve: list[list[float]], seconds: float) -> float:
    """The best validation score of any epoch reported within `seconds` of the launch; -inf
    when none was (nothing found yet is worse than any model)."""
    return max((score for at, score in curve if at <= seconds), default=-math.inf)


def by_seed(runs: list[Run], tool: str, seconds: float) -> dict[int, float]:
    """Each seed's best-so-far of `tool` within `seconds` of the launch."""
    return {
        int(r.outcome["seed"]): best_by(r.outcome.get("curve", []), seconds)
        for r in runs
        if r.tool == tool
    }


def anytime(runs: list[Run], budget_s: float) -> list[dict[str, Any]]:
    """Per tool, the median over seeds of the best-so-far validation score at each budget point
    (time since the launch, so start-up is spent budget), and at the run's end; "intervals":
    each median's 95% bootstrap interval over seeds (peer_stats)."""
    rows = []
    for tool in ALL_TOOLS:
        if any(r.tool == tool for r in runs):
            row: dict[str, Any] = {"tool": tool, "intervals": {}}
            for point in (*BUDGET_POINTS, "end"):
                at = _seconds(point, budget_s)
                values = [best_by(r.outcome.get("curve", []), at) for r in runs if r.tool == tool]
                row[point] = median(values)
                row["intervals"][point] = median_interval(values)
            rows.append(row)
    floors = [r.outcome["score_floor"] for r in runs if r.outcome.get("score_floor") is not None]
    if floors:  # the same at every point: a model that learns nothing scores it from the start
        rows.append({"tool": FLOOR_ROW, **dict.fromkeys([*BUDGET_POINTS, "end"], median(floors))})
    return rows


def _seconds(point: float | str, budget_s: float) -> float:
    return math.inf if point == "end" else float(point) * budget_s


def paired(runs: list[Run], budget_s: float) -> list[dict[str, Any]]:
    """Ours against each peer at each budget point and the run's end: the median over seeds of
    the paired difference in best-so-far, its interval and the verdict (peer_stats)."""
    floors = [r.outcome["score_floor"] for r in runs if r.outcome.get("score_floor") is not None]
    floor = median(floors) if floors else 0.0
    rows = []
    peers = [t for t in TOOLS if t != "ours" and any(r.tool == t for r in runs)]
    for tool in peers if any(r.tool == "ours" for r in runs) else []:
        row: dict[str, Any] = {"peer": tool}
        for point in (*BUDGET_POINTS, "end"):
            at = _seconds(point, budget_s)
            row[point] = paired_difference(
                by_seed(runs, "ours", at), by_seed(runs, tool, at), floor
            )
        rows.append(row)
    return rows


def format_anytime(rows: list[dict[str, Any]], budget_s: float) -> str:
    def cell(row: dict[str, Any], point: float | str) -> str:
        value = row[point]
        if not math.isfinite(value):
            return "none yet"
        return f"{value:.3f}{shown_interval(row.get('intervals', {}).get(point))}"

    columns = [f"{fraction:.0%} ({fraction * budget_s:.0f} s)" for fraction in BUDGET_POINTS]
    lines = [
        "| tool | " + " | ".join(columns) + " | run's end |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for row in rows:
        values = [cell(row, point) for point in (*BUDGET_POINTS, "end")]
        lines.append(f"| {row['tool']} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def anytime_goal(rows: list[dict[str, Any]]) -> str:
    """Ours at least every peer's best-so-far at every budget point (medians over seeds)."""
    by_tool = {row["tool"]: row for row in rows}
    if "ours" not in by_tool:
        return "goal ours best-so-far >= every peer's at every budget point: ours did not run"
    ours = by_tool["ours"]
    behind = [
        f"{row['tool']} at {fraction:.0%} ({row[fraction]:.3f} > {ours[fraction]:.3f})"
        for row in rows
        if row["tool"] in TOOLS and row["tool"] != "ours"  # a variant of ours is no peer
        for fraction in BUDGET_POINTS
        if row[fraction] > ours[fraction]
    ]
    verdict = "met" if not behind else "NOT met: " + "; ".join(behind)
    return f"goal ours best-so-far >= every peer's at every budget point: {verdict}"


def floor_line(rows: list[dict[str, Any]]) -> str:
    """Which tools' best-so-far got above the no-learning floor by the budget's end: below it, a
    lead over a peer is a lead in noise."""
    by_tool = {row["tool"]: row for row in rows}
    if FLOOR_ROW not in by_tool:
        return "floor: not known"
    floor = by_tool[FLOOR_ROW][1.0]
    tools = [row for row in rows if row["tool"] != FLOOR_ROW]
    above = [row["tool"] for row in tools if row[1.0] > floor]
    below = [row["tool"] for row in tools if row[1.0] <= floor]
    return (
        f"above the floor ({floor:.3f}: majority emotion, every AU) at 100% of the budget: "
        f"{', '.join(above) or 'none'}; at or below it: {', '.join(below) or 'none'}"
    )


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """Medians per tool; a run that never met the targets counts as infinitely slow."""
    ours_runs = [r for r in runs if r.tool == "ours"]
    ours = median([r.time_to_target for r in ours_runs])
    ours_wall = median([r.wall_s for r in ours_runs])
    rows = []
    for tool in ALL_TOOLS:
        mine = [r for r in runs if r.tool == tool]
        if not mine:
            continue

        def med(key: str, of=mine) -> float:
            return median([r.outcome[key] for r in of if r.outcome.get(key) is not None])

        ttt = median([r.time_to_target for r in mine])
        walls = median([r.wall_s for r in mine])
        rows.append(
            {
                "tool": tool,
                "time_to_target_s": ttt,
                "reached": sum(math.isfinite(r.time_to_target) for r in mine),
                "runs": len(mine),
                **time_ratio(ours, ours_wall, ttt, walls),
                "best_val_score": med("best_val_score"),
                "test_emotion_accuracy": med("test_emotion_accuracy"),
                "test_au_f1_macro": med("test_au_f1_macro"),
                "trials_started": med("trials_started"),
                "trials_finished": med("trials_finished"),
                "epochs": med("epochs"),
                "cpu_s": median([r.cpu_s for r in mine]),
                "wall_s": walls,
            }
        )
    return rows


def time_ratio(ours: float, ours_wall: float, peer: float, peer_wall: float) -> dict[str, Any]:
    """ours / peer time to target. A tool that never got there is slower than its whole run, so
    one side missing gives a bound ("<" or ">"), both missing gives no ratio at all ("n/a")."""
    if math.isfinite(ours) and math.isfinite(peer):
        return {"ratio": ours / peer, "ratio_bound": ""}
    if math.isfinite(ours):
        return {"ratio": ours / peer_wall, "ratio_bound": "<"}
    if math.isfinite(peer):
        return {"ratio": ours_wall / peer, "ratio_bound": ">"}
    return {"ratio": math.nan, "ratio_bound": "n/a"}


def shown_ratio(row: dict[str, Any]) -> str:
    if row["ratio_bound"] == "n/a":
        return "n/a (neither reached)"
    return f"{row['ratio_bound']} {row['ratio']:.2f}".strip()


def format_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| tool | time to target s (median) | reached | ours ÷ peer | best val score "
        "| test emotion acc | test AU macro F1 | trials started / finished | epochs | CPU-s "
        "| wall s |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        ttt = row["time_to_target_s"]
        shown_ttt = f"{ttt:.1f}" if math.isfinite(ttt) else "not reached"
        ratio = "1" if row["tool"] == "ours" else shown_ratio(row)
        lines.append(
            f"| {row['tool']} | {shown_ttt} | {row['reached']}/{row['runs']} | {ratio} "
            f"| {row['best_val_score']:.3f} | {row['test_emotion_accuracy']:.3f} "
            f"| {row['test_au_f1_macro']:.3f} "
            f"| {row['trials_started']:g} / {row['trials_finished']:g} | {row['epochs']:g} "
            f"| {row['cpu_s']:.0f} | {row['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def goal_lines(rows: list[dict[str, Any]]) -> list[str]:
    by_tool = {row["tool"]: row for row in rows}
    lines = []
    for tool, goal in GOALS.items():
        if tool in by_tool and "ours" in by_tool:
            row = by_tool[tool]
            met = row["ratio_bound"] in ("", "<") and row["ratio"] <= goal
            lines.append(
                f"goal ours/{tool} <= {goal}: {shown_ratio(row)}, {'met' if met else 'NOT met'}"
            )
    return lines


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tools", nargs="+", choices=ALL_TOOLS, default=list(TOOLS))
    parser.add_argument("--space", default="large_sample")
    parser.add_argument("--budget-s", type=float, default=150.0, help="search seconds per run")
    parser.add_argument("--max-trials", type=int, default=8, help="x the space's max epochs")
    parser.add_argument("--data", help="CK+ folder or CSV (default: the built-in set)")
    parser.add_argument("--target", action="append", default=[], metavar="METRIC=VALUE")
    parser.add_argument("--out", type=Path, help="default: runs/bench-peers-<time>")
    parser.add_argument(
        "--tiny", action="store_true", help="one seed, the tiny space, 1 trial, 90 s: a check"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.seeds, args.space, args.max_trials = args.seeds[:1], "tiny", 1
        args.budget_s = min(
            args.budget_s, 90.0
        )  # a fresh worker's first epoch: 20-40 s on 2 busy cores
    args.targets = {k: float(v) for k, _, v in (t.partition("=") for t in args.target)}
    args.out = args.out or Path("runs") / f"bench-peers-{datetime.now():%Y%m%d-%H%M%S}"
    return args


def race_settings(args) -> dict[str, Any]:
    """What a race ran with, kept beside its runs so its tables can be redrawn later."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    return {
        "budget_s": args.budget_s,
        "space": args.space,
        "seeds": args.seeds,
        "tools": args.tools,
        "max_trials": args.max_trials,
        "targets": args.targets,
        "data": args.data or "built-in",
        "commit": commit or None,
        "started": datetime.now().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / RACE_FILE).write_text(json.dumps(race_settings(args), indent=2))
    cores = os.cpu_count()
    print(
        f"peers: {len(args.tools)} tools x {len(args.seeds)} seeds, space {args.space}, "
        f"{args.budget_s:g} s of search and <= {args.max_trials} trials' epochs each, "
        f"{cores} cores; results in {args.out}",
        flush=True,
    )
    runs = []
    for seed in args.seeds:
        for tool in args.tools:
            run = run_one(tool, seed, args, args.out)
            runs.append(run)
            ttt = run.time_to_target
            print(
                f"seed {seed} {tool:<13} time to target "
                f"{f'{ttt:.1f} s' if math.isfinite(ttt) else 'not reached'}, "
                f"best val score {run.outcome.get('best_val_score') or math.nan:.3f}, "
                f"{run.outcome['trials_started']} trials, wall {run.wall_s:.0f} s, "
                f"CPU {run.cpu_s:.0f} s",
                flush=True,
            )
            write_runs(runs, args.out)  # after every run: a race stopped midway keeps its runs
    rows = summarise(runs)
    best_so_far = anytime(runs, args.budget_s)
    differences = paired(runs, args.budget_s)
    tables = [
        format_table(rows),
        format_anytime(best_so_far, args.budget_s),
        format_paired(differences, BUDGET_POINTS),
    ]
    goals = [*goal_lines(rows), anytime_goal(best_so_far), floor_line(best_so_far)]
    goals += ahead_lines(differences)
    text = "\n\n".join(tables) + "\n\n" + "\n".join(goals) + "\n"
    print(text, end="")
    (args.out / "anytime.json").write_text(
        json.dumps(jsonable({"anytime": best_so_far, "paired": differences}), indent=2)
    )
    (args.out / "table.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
