"""Orchestration throughput on a local multi-node Ray of 1, 2 and 4 nodes (goal: efficiency >= 0.9
at 4 nodes against perfect linear scaling).

Each node is its own raylet with 1 CPU; each trial is a stand-in of fixed cost that sleeps through
its epochs and reports once per epoch, so the two cores of this machine are not the limit. What is
measured is Ray Tune's scheduling across nodes, placement, per-epoch reporting and the Optuna TPE
searcher in the loop (made by tune.search.make_searcher, as a study does; its cost grows with the
finished trials). Every size runs the same number of waves (trials per node), so perfect scaling
gives equal wall times.

A study starts a fresh process per trial (reuse_actors=False, so a GPU trial frees its memory).
That start is ~2 s of CPU work on the trial's own node; here all simulated nodes share two cores,
so by default the stand-in keeps its process (reuse_actors=True) and the figures are those of the
orchestration. --fresh-processes measures the study's setting, process starts included.

    python -m bench.scaling [--trial-seconds 10] [--waves 4] [--nodes 1 2 4] [--fresh-processes]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

EPOCHS = 4


@dataclass
class Row:
    nodes: int
    trials: int
    wall_s: float
    searcher_s: float

    @property
    def per_hour(self) -> float:
        return self.trials / self.wall_s * 3600


def stand_in(config: dict[str, Any]) -> None:
    """A trial of fixed cost: EPOCHS reports, a score that TPE can learn from."""
    from ray import tune

    score = 1.0 - abs(math.log10(config["l1"]) + 4) / 3 - abs(config["zoom"] - 0.1)
    for epoch in range(1, EPOCHS + 1):
        time.sleep(config["trial_seconds"] / EPOCHS)
        tune.report({"score": score * epoch / EPOCHS, "epoch": epoch})


SEARCHER_SECONDS = [0.0]  # driver-side time in Optuna, summed by TimedOptunaSearch


def _timed_optuna_search():
    """OptunaSearch that sums the time its suggest and on_trial_complete take. Tune pickles the
    searcher's state into the experiment, so this is a class (not wrapped methods)."""
    from ray.tune.search.optuna import OptunaSearch

    class TimedOptunaSearch(OptunaSearch):
        def suggest(self, trial_id: str):
            started = time.perf_counter()
            try:
                return super().suggest(trial_id)
            finally:
                SEARCHER_SECONDS[0] += time.perf_counter() - started

        def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
            started = time.perf_counter()
            try:
                super().on_trial_complete(trial_id, result, error)
            finally:
                SEARCHER_SECONDS[0] += time.perf_counter() - started

    return TimedOptunaSearch


def measure(nodes: int, trial_seconds: float, waves: int, seed: int, fresh: bool) -> Row:
    """One study of nodes x waves stand-in trials on a fresh cluster of `nodes` 1-CPU raylets."""
    import ray
    from ray import tune
    from ray.cluster_utils import Cluster

    import search_spaces
    from tune.resources import trial_resources
    from tune.search import make_searcher

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="error")
    try:
        space = search_spaces.get("tiny")
        searcher = make_searcher(space, seed)  # the study's own TPE searcher
        searcher.__class__ = _timed_optuna_search()
        SEARCHER_SECONDS[0] = 0.0
        trials = nodes * waves
        with tempfile.TemporaryDirectory() as storage:
            tuner = tune.Tuner(
                tune.with_resources(stand_in, trial_resources(1, 0)),
                param_space={"trial_seconds": trial_seconds},
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    num_samples=trials,
                    max_concurrent_trials=nodes,
                    reuse_actors=not fresh,
                ),
                run_config=tune.RunConfig(name="scaling", storage_path=storage, verbose=0),
            )
            started = time.perf_counter()
            grid = tuner.fit()
            wall = time.perf_counter() - started
        finished = sum(1 for result in grid if result.metrics.get("epoch") == EPOCHS)
        return Row(nodes, finished, wall, SEARCHER_SECONDS[0])
    finally:
        ray.shutdown()
        cluster.shutdown()


def print_table(rows: list[Row], trial_seconds: float) -> None:
    base = rows[0].per_hour / rows[0].nodes
    print(
        f"{'nodes':>5} {'trials':>6} {'wall s':>7} {'trials/h':>9} {'ideal/h':>8} "
        f"{'efficiency':>10} {'vs ideal':>8} {'searcher ms/trial':>17}"
    )
    for row in rows:
        ideal = row.nodes * 3600 / trial_seconds
        print(
            f"{row.nodes:>5} {row.trials:>6} {row.wall_s:>7.1f} {row.per_hour:>9.0f} "
            f"{ideal:>8.0f} {row.per_hour / (row.nodes * base):>10.3f} "
            f"{row.per_hour / ideal:>8.3f} {1000 * row.searcher_s / max(row.trials, 1):>17.1f}"
        )
    print(
        "efficiency: trials/h divided by (nodes x trials/h of 1 node); vs ideal: divided by "
        f"nodes x 3600 / {trial_seconds:g} s (no orchestration cost at all). Goal: efficiency "
        ">= 0.9 at 4 nodes."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--trial-seconds", type=float, default=10.0)
    parser.add_argument("--waves", type=int, default=4, help="trials per node")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh-processes", action="store_true", help="reuse_actors=False")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    processes = "a fresh process per trial" if args.fresh_processes else "trial processes reused"
    print(
        f"machine: {os.cpu_count()} cores; stand-in trial {args.trial_seconds:g} s, {EPOCHS} "
        f"reports; {args.waves} trials per node; Optuna TPE (tiny space); {processes}",
        flush=True,
    )
    rows = []
    for nodes in args.nodes:
        rows.append(measure(nodes, args.trial_seconds, args.waves, args.seed, args.fresh_processes))
        print(f"  {nodes} node(s): {rows[-1].trials} trials in {rows[-1].wall_s:.1f} s", flush=True)
    print_table(rows, args.trial_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
