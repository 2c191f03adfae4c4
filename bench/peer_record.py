"""The race's record: bench/results/peers.json from the folders bench/peers.py wrote.

Each folder holds one race (one budget): its runs.json (every run's outcome with its best-so-far
curve) and race.json (budget, space, seeds, targets, commit). This reads them back, redraws the
tables without rerunning anything, and writes one JSON record of every budget: per tool the anytime
medians with their intervals, ours against each peer paired by seed, times to target, the test
scores of each run's best, ours' useful-work share, the curves themselves, and a `goals` object of
booleans (a lead counts only where the paired interval excludes 0).

    python bench/peer_record.py RACE_FOLDER [RACE_FOLDER ...] [--ours RERUN_FOLDER ...]
        [--out bench/results/peers.json] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

import peers  # bench/ is on sys.path when this file runs
from peer_runners import TOOLS
from peer_stats import format_paired, jsonable

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "peers.json"
GOAL_POINTS = (0.5, 0.75, 1.0)  # the anytime goal: ours >= every peer's median here
USEFUL_SHARE_GOAL = 0.8


def read_race(folder: Path, ours: Path | None = None) -> dict[str, Any]:
    """A race folder's runs and the settings bench/peers.py ran it with. `ours`: a folder of a
    rerun of our tool alone (after a change to our code, which the peers' runs do not use)
    whose runs replace ours on the seeds it ran; its settings are kept as `ours_rerun`, and
    `ours_rerun_seeds` names the seeds replaced."""
    for name in ("runs.json", peers.RACE_FILE):
        if not (folder / name).is_file():
            raise SystemExit(f"{folder}: no {name} (has bench/peers.py finished there?)")
    records = json.loads((folder / "runs.json").read_text())
    settings = json.loads((folder / peers.RACE_FILE).read_text())
    if ours is not None:
        rerun = read_race(ours)
        if rerun["settings"]["budget_s"] != settings["budget_s"]:
            raise SystemExit(f"{ours}: another budget than {folder}'s")
        replaced = {(r.tool, int(r.outcome["seed"])) for r in rerun["runs"]}
        records = [r for r in records if (r["tool"], int(r["seed"])) not in replaced]
        records += [{**r.outcome, "wall_s": r.wall_s, "cpu_s": r.cpu_s} for r in rerun["runs"]]
        settings["ours_rerun"] = rerun["settings"]
        settings["ours_folder"] = str(ours)
        settings["ours_rerun_seeds"] = sorted({seed for _, seed in replaced})
    runs = [
        peers.Run(
            outcome={k: v for k, v in r.items() if k not in ("wall_s", "cpu_s")},
            wall_s=r["wall_s"],
            cpu_s=r["cpu_s"],
        )
        for r in records
    ]
    return {"folder": folder, "settings": settings, "runs": runs}


def race_record(race: dict[str, Any]) -> dict[str, Any]:
    """One budget's tables, per-seed figures, curves and goals."""
    runs: list[peers.Run] = race["runs"]
    budget = float(race["settings"]["budget_s"])
    rows = peers.summarise(runs)
    best_so_far = peers.anytime(runs, budget)
    differences = peers.paired(runs, budget)
    tools = [tool for tool in peers.ALL_TOOLS if any(r.tool == tool for r in runs)]
    per_seed = {tool: _per_seed(runs, tool, race["folder"], race["settings"]) for tool in tools}
    return {
        **race["settings"],
        "folder": str(race["folder"]),
        "tools": tools,
        "seeds": sorted({int(r.outcome["seed"]) for r in runs}),
        "summary": rows,
        "anytime": best_so_far,
        "paired": differences,
        "per_seed": per_seed,
        "useful_work_share_ours": _median_share(per_seed.get("ours", {})),
        "goals": race_goals(rows, best_so_far, differences, per_seed),
        "tables": "\n\n".join(
            [
                peers.format_table(rows),
                peers.format_anytime(best_so_far, budget),
                format_paired(differences, peers.BUDGET_POINTS),
            ]
        ),
    }


def _per_seed(
    runs: list[peers.Run], tool: str, folder: Path, settings: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each seed's time to target, first epoch, test scores of its best, curve; for our runs
    also the study's useful-work share."""
    out = {}
    for run in sorted((r for r in runs if r.tool == tool), key=lambda r: r.outcome["seed"]):
        curve = run.outcome.get("curve", [])
        seed = int(run.outcome["seed"])
        entry = {
            "time_to_target_s": run.outcome.get("time_to_target_s"),
            "first_epoch_s": curve[0][0] if curve else None,
            "best_val_score": run.outcome.get("best_val_score"),
            "test_emotion_accuracy": run.outcome.get("test_emotion_accuracy"),
            "test_au_f1_macro": run.outcome.get("test_au_f1_macro"),
            "trials_started": run.outcome.get("trials_started"),
            "epochs": run.outcome.get("epochs"),
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "curve": curve,
        }
        study = folder / "runs" / f"{tool}-seed{seed}"
        if tool.startswith("ours") and seed in settings.get("ours_rerun_seeds", []):
            study = Path(settings["ours_folder"]) / "runs" / f"{tool}-seed{seed}"
        if tool.startswith("ours") and study.is_dir():
            entry["useful_work"] = useful_work(study, run.wall_s)
        out[str(seed)] = entry
    return out


def useful_work(study: Path, wall_s: float, cores: int | None = None) -> dict[str, float]:
    """Epoch core-seconds over the run's wall x cores.

    An epoch's seconds are Tune's `time_this_iter_s` (training steps, validation and the epoch's
    report: an upper bound of the training steps alone); a trial's first iteration also holds its
    start (model build, weights, first trace), so it counts as the trial's median later epoch, or
    the run's when the trial had one epoch only. Threads per trial from study.json."""
    cores = cores or os.cpu_count() or 1
    settings = json.loads((study / "study.json").read_text())
    threads = float(settings.get("cpus_per_trial", 1.0))
    trials = [_iteration_seconds(p) for p in sorted(study.glob("trial_*/progress.csv"))]
    later = [s for seconds in trials for s in seconds[1:]]
    fallback = statistics.median(later) if later else 0.0
    epoch_s = start_s = 0.0
    for seconds in trials:
        if not seconds:
            continue
        first = min(seconds[0], statistics.median(seconds[1:]) if seconds[1:] else fallback)
        epoch_s += first + sum(seconds[1:])
        start_s += seconds[0] - first
    return {
        "epoch_core_s": epoch_s * threads,
        "trial_start_core_s": start_s * threads,
        "wall_s": wall_s,
        "cores": cores,
        "share": epoch_s * threads / (wall_s * cores) if wall_s > 0 else math.nan,
    }


def _iteration_seconds(progress: Path) -> list[float]:
    with progress.open(newline="") as handle:
        return [float(row["time_this_iter_s"]) for row in csv.DictReader(handle)]


def _median_share(per_seed: dict[str, dict[str, Any]]) -> float | None:
    shares = [e["useful_work"]["share"] for e in per_seed.values() if "useful_work" in e]
    return statistics.median(shares) if shares else None


def race_goals(
    rows: list[dict[str, Any]],
    best_so_far: list[dict[str, Any]],
    differences: list[dict[str, Any]],
    per_seed: dict[str, dict[str, Any]],
) -> dict[str, bool]:
    """The issue's goals for one budget, each true only where the figures show it."""
    by_tool = {row["tool"]: row for row in best_so_far}
    ours = by_tool.get("ours")
    peer_rows = [row for row in best_so_far if row["tool"] in TOOLS and row["tool"] != "ours"]
    goals = {
        "ours_ge_every_peer_at_50_75_100pct": ours is not None
        and bool(peer_rows)
        and all(ours[p] >= row[p] for row in peer_rows for p in GOAL_POINTS),
    }
    paired_by_peer = {row["peer"]: row for row in differences}
    for peer in (t for t in TOOLS if t != "ours"):
        cell = paired_by_peer.get(peer, {}).get(1.0)
        goals[f"ours_ahead_of_{_key(peer)}_at_100pct"] = bool(cell and cell["verdict"] == "ahead")
    summary = {row["tool"]: row for row in rows}
    for peer, bound in peers.GOALS.items():
        row = summary.get(peer)
        goals[f"time_to_target_le_{bound}x_{_key(peer)}"] = bool(
            row and "ours" in summary and row["ratio_bound"] in ("", "<") and row["ratio"] <= bound
        )
    share = _median_share(per_seed.get("ours", {}))
    goals[f"useful_work_share_ge_{USEFUL_SHARE_GOAL}"] = share is not None and (
        share >= USEFUL_SHARE_GOAL
    )
    return goals


def _key(tool: str) -> str:
    return tool.replace("-", "_")


def record(races: list[dict[str, Any]], kept: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Every budget's record and the goals over all of them (a goal holds where it holds in
    every race recorded; `complete` says whether the races are the ones the issue asks for).
    `kept`: budgets recorded earlier, as they stand, for races whose folders are gone."""
    fresh = [race_record(race) for race in races]
    given = {race["budget_s"] for race in fresh}
    kept = [race for race in kept if race["budget_s"] not in given]
    by_budget = sorted([*fresh, *kept], key=lambda r: r["budget_s"])
    goal_names = {name for race in by_budget for name in race["goals"]}
    return {
        "machine": machine(),
        "budgets_s": [race["budget_s"] for race in by_budget],
        "complete": len(by_budget) >= 2
        and all(len(race["seeds"]) >= 5 and set(TOOLS) <= set(race["tools"]) for race in by_budget),
        "goals": {
            name: all(race["goals"].get(name, False) for race in by_budget)
            for name in sorted(goal_names)
        },
        "races": by_budget,
    }


def kept_races(path: Path) -> list[dict[str, Any]]:
    """The races an earlier record holds (none when there is no record yet)."""
    if not path.is_file():
        return []
    try:
        races = json.loads(path.read_text())["races"]
    except (ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"{path}: not a record bench/peer_record.py wrote ({error})") from None
    if not isinstance(races, list) or not all(
        isinstance(race, dict) and isinstance(race.get("budget_s"), int | float) for race in races
    ):
        raise SystemExit(f"{path}: its races are not a list of records with a budget")
    return races


def machine() -> dict[str, Any]:
    from tune.cores import machine_name

    return {
        "cpu": machine_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="bench/peers.py --out folders")
    parser.add_argument(
        "--ours",
        type=Path,
        nargs="*",
        default=[],
        metavar="FOLDER",
        help="per race folder, in order: a rerun of ours alone whose runs replace ours there",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the budgets --out already records that no folder here gives (their folders "
        "may be gone)",
    )
    args = parser.parse_args(argv)
    reruns = args.ours + [None] * (len(args.folders) - len(args.ours))
    races = [read_race(f, o) for f, o in zip(args.folders, reruns, strict=True)]
    whole = record(races, kept_races(args.out) if args.keep else [])
    for race in whole["races"]:
        print(f"## {race['budget_s']:g} s, seeds {race['seeds']}\n\n{race['tables']}\n")
        print("\n".join(f"{k}: {v}" for k, v in race["goals"].items()) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(jsonable(whole), indent=1) + "\n")
    print(f"goals over {whole['budgets_s']} s (complete: {whole['complete']}):")
    print("\n".join(f"  {k}: {v}" for k, v in whole["goals"].items()))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
