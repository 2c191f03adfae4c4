"""One tuning tool on one seed, in its own process: `python bench/peer_runners.py TOOL ...`.

bench/peers.py starts this once per tool and seed so no state (TF graphs, Ray, thread pools)
leaks from one tool into the next, and reads back the JSON it writes. Every tool gets the same
data split (the seed's subject-disjoint split of the built-in set), the same model family and
training pipeline (core.model.builders, core.train's tf.data), the same search ranges (one
SearchSpace, translated into each tool's own terms), the same targets and the same budget:
`budget_s` seconds of search and at most `max_trials x max_epochs` epochs in all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config import TrainConfig

TOOLS = ("ours", "kt-hyperband", "kt-bayes", "optuna", "ray-random")
# Variants of ours, run only when named (--tools): what a setting changes against the default.
VARIANTS = {
    "ours-one-at-a-time": ["--max-concurrent", "1", "--cpus-per-trial", "2"],
    # The issue asks for ours with and without the hand-tuned start where the start costs us.
    "ours-no-start": ["--no-hand-tuned-start"],
}
ALL_TOOLS = (*TOOLS, *VARIANTS)


@dataclass
class Outcome:
    """What bench/peers.py tabulates for one run; times are seconds since the process launch."""

    tool: str
    seed: int
    time_to_target_s: float | None = None
    best_val_score: float | None = None
    test_emotion_accuracy: float | None = None
    test_au_f1_macro: float | None = None
    trials_started: int = 0
    trials_finished: int = 0
    epochs: int = 0
    search_s: float = 0.0
    # (seconds since launch, validation score) of every counted epoch of every trial: the
    # best-so-far curve that bench/peers.py reads at 25/50/75/100% of the budget.
    curve: list[tuple[float, float]] = field(default_factory=list)
    # The score of a model that learns nothing (majority emotion, every AU present) on this
    # seed's validation split: a best-so-far below it has found nothing yet.
    score_floor: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Job:
    tool: str
    seed: int
    space: str
    budget_s: float
    max_trials: int
    launched_at: float  # time.time() when bench/peers.py started this process
    out: Path
    data: str | None = None
    targets: dict[str, float] = field(default_factory=dict)


# --- the shared part of the peers: budget, best-so-far, time to target -------------------------


class Tracker:
    """Counts epochs against the budget, notes the first epoch that meets every target and keeps
    the best epoch's weights (by the combined validation score every tool optimises)."""

    def __init__(self, job: Job, epoch_cap: int) -> None:
        self.job = job
        self.epoch_cap = epoch_cap
        self.deadline = math.inf
        self.epochs = 0
        self.first_target_at: float | None = None
        self.best_score = -math.inf
        self.best_weights: list[Any] | None = None
        self.best_config: TrainConfig | None = None
        self.curve: list[tuple[float, float]] = []

    def start_search(self) -> None:
        self.deadline = time.monotonic() + self.job.budget_s

    @property
    def spent(self) -> bool:
        return self.epochs >= self.epoch_cap or time.monotonic() >= self.deadline

    def callback(self, config: TrainConfig):
        """A Keras callback; it must run before any callback that reads `val_score`."""
        import keras

        from core.config import combined_score, targets_met

        tracker = self
        targets = dict(config.targets)

        class TrackEpochs(keras.callbacks.Callback):
            def on_train_batch_end(self, batch: int, logs=None) -> None:
                if time.monotonic() >= tracker.deadline:
                    self.model.stop_training = True

            def on_epoch_end(self, epoch: int, logs=None) -> None:
                logs = logs if logs is not None else {}
                score = combined_score(logs)
                logs["val_score"] = score  # the objective of KerasTuner and Optuna
                if time.monotonic() >= tracker.deadline:
                    self.model.stop_training = True  # cut short by the deadline: not counted,
                    return  # as Tune drops what a trial reports after its time budget
                tracker.epochs += 1
                tracker.curve.append((time.time() - tracker.job.launched_at, score))
                if targets_met(logs, targets) and tracker.first_target_at is None:
                    tracker.first_target_at = time.time()
                if score > tracker.best_score:
                    tracker.best_score = score
                    tracker.best_weights = self.model.get_weights()
                    tracker.best_config = config
                if tracker.spent:
                    self.model.stop_training = True

        return TrackEpochs()

    def fill(self, outcome: Outcome, data) -> None:
        """Time to target, best validation score and that model's test scores."""
        from core.config import combined_score
        from core.evaluation.yardstick import validation_floors

        outcome.score_floor = combined_score(validation_floors(data))
        if self.first_target_at is not None:
            outcome.time_to_target_s = self.first_target_at - self.job.launched_at
        outcome.epochs = self.epochs
        outcome.curve = list(self.curve)
        if self.best_weights is None:
            return
        outcome.best_val_score = self.best_score
        from core.training.loop import evaluate_on_test

        model = model_for(self.best_config, data)
        model.set_weights(self.best_weights)
        fill_test_scores(outcome, evaluate_on_test(model, self.best_config, data))


def fill_test_scores(outcome: Outcome, report: dict[str, Any]) -> None:
    outcome.test_emotion_accuracy = float(report["emotion"]["accuracy"])
    macro = report["au_tuned_on_val"]["f1_macro"]  # None when no test AU has a positive
    outcome.test_au_f1_macro = float("nan") if macro is None else float(macro)


def trial_config(space, values: dict[str, Any], job: Job) -> TrainConfig:
    """A checked training config, as a study trial gets it: fixed, searched values, targets."""
    from core.config import train_config

    searched = {key: values[key] for key in space.params}  # KerasTuner adds its own tuner/* keys
    config = space.config(searched)
    if job.targets:
        config["targets"] = dict(job.targets)
    return train_config(config)


def model_for(config: TrainConfig, data):
    """The compiled model of a config for the data's AU head, as a trial builds it."""
    from core.model.builders import build_model
    from core.training.loop import au_head

    return build_model(config.model, au_head(config, data))


def target_stopping(config: TrainConfig):
    """The same stopping every trial of ours gets: targets, then patience after min_epochs."""
    from core.training.callbacks import make_target_stopping

    return make_target_stopping(dict(config.targets), config.min_epochs, config.patience)


def fit(config: TrainConfig, data, callbacks: list[Any], model=None, **fit_kwargs):
    """core.train's pipeline for one config: per-trial views, oversampling, augmentation."""
    from core.training.pipeline import make_datasets, trial_views

    views = trial_views(data.prepared, config.crop_fraction, config.model.input_size)
    train_ds, val_ds, _, _ = make_datasets(config, data, views)
    model = model if model is not None else model_for(config, data)
    settings = {"epochs": config.max_epochs, "shuffle": False, "verbose": 0, **fit_kwargs}
    return model.fit(train_ds, validation_data=val_ds, callbacks=callbacks, **settings)


# --- the tools ---------------------------------------------------------------------------------


def run_study(job: Job, outcome: Outcome) -> None:
    """ours (TPE + hand-tuned start + ASHA) and ray-random (random search, no scheduler), through
    the real `python -m tune.run` entry point."""
    from tune.run import main

    name = f"{job.tool}-seed{job.seed}"
    argv = ["--space", job.space, "--seed", str(job.seed), "--name", name]
    # The race compares searches: the whole budget searches, as the peers' does, and the best is
    # the best single-split score, as theirs is (no finalists confirmed after it).
    argv += ["--storage", str(job.out / "runs"), "--no-report", "--confirm", "0"]
    argv += ["--num-samples", str(job.max_trials), "--time-budget", str(job.budget_s)]
    argv += [arg for k, v in job.targets.items() for arg in ("--target", f"{k}={v}")]
    if job.data:
        argv += ["--data", job.data]
    if job.tool == "ray-random":
        argv += ["--search", "random", "--scheduler", "none"]
    argv += VARIANTS.get(job.tool, [])
    started = time.monotonic()
    code = main(argv)
    outcome.search_s = time.monotonic() - started
    if code != 0:
        outcome.notes.append(f"tune.run exited {code}")
    read_study(job.out / "runs" / name, job, outcome)


def read_study(study: Path, job: Job, outcome: Outcome) -> None:
    import pandas as pd

    from core.config import combined_score
    from tune.study import StudySettings

    table = pd.read_csv(study / "results.csv")
    outcome.score_floor = combined_score(StudySettings.load(study).floors)
    outcome.trials_started = int((table["epochs"] > 0).sum())
    outcome.trials_finished = int(table["status"].isin(["met-targets", "pruned", "finished"]).sum())
    outcome.epochs = int(table["epochs"].sum())
    outcome.best_val_score = float(table["score"].max()) if table["score"].notna().any() else None
    reached = []
    for progress in study.glob("trial_*/progress.csv"):
        rows = pd.read_csv(progress)
        if "targets_met" in rows:
            met = rows["targets_met"].astype(str) == "True"
            reached += rows.loc[met, "reported_at"].tolist()
        if "score_epoch" in rows:  # that epoch's own score; `score` is the trial's best so far
            outcome.curve += [
                (float(at) - job.launched_at, float(score))
                for at, score in zip(rows["reported_at"], rows["score_epoch"], strict=True)
            ]
    outcome.curve.sort()
    if reached:
        outcome.time_to_target_s = min(reached) - job.launched_at
    report = study / "best" / "report.json"
    if report.is_file():
        fill_test_scores(outcome, json.loads(report.read_text()))


def run_keras_tuner(job: Job, space, data, outcome: Outcome) -> None:
    """KerasTuner Hyperband or BayesianOptimization, one trial at a time (its own default)."""
    import keras_tuner as kt

    max_epochs = int(space.fixed["max_epochs"])
    tracker = Tracker(job, epoch_cap=job.max_trials * max_epochs)

    class DualHeadModel(kt.HyperModel):
        def build(self, hp):
            return model_for(trial_config(space, declare(hp, space), job), data)

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            config = trial_config(space, hp.values, job)
            ordered = [tracker.callback(config), target_stopping(config), *callbacks]
            return fit(config, data, ordered, model=model, **kwargs)

    class Budgeted:
        """Ends the search loop once the budget is spent (KerasTuner has no time budget)."""

        def pre_create_trial(self):
            if tracker.spent:
                raise BudgetSpent
            super().pre_create_trial()

    common = dict(
        hypermodel=DualHeadModel(),
        objective=kt.Objective("val_score", direction="max"),
        seed=job.seed,
        directory=str(job.out / "kt"),
        project_name=f"{job.tool}-seed{job.seed}",
        overwrite=True,
    )
    if job.tool == "kt-hyperband":

        class Tuner(Budgeted, kt.Hyperband):
            pass

        tuner = Tuner(max_epochs=max_epochs, factor=3, hyperband_iterations=1, **common)
    else:

        class Tuner(Budgeted, kt.BayesianOptimization):
            pass

        tuner = Tuner(max_trials=job.max_trials, **common)
    started = time.monotonic()
    tracker.start_search()
    try:
        tuner.search(verbose=0)
    except BudgetSpent:
        outcome.notes.append("budget spent")
    outcome.search_s = time.monotonic() - started
    trials = list(tuner.oracle.trials.values())
    outcome.trials_started = len(trials)
    outcome.trials_finished = sum(t.status == "COMPLETED" for t in trials)
    tracker.fill(outcome, data)


class BudgetSpent(Exception):
    pass


def declare(hp, space) -> dict[str, Any]:
    """Our domains in KerasTuner's terms (from tune.search's one translation of a domain)."""
    import optuna

    from tune.search import distribution

    for name, domain in space.params.items():
        dist = distribution(domain)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            hp.Choice(name, list(dist.choices))
        elif isinstance(dist, optuna.distributions.IntDistribution):
            hp.Int(name, dist.low, dist.high, step=dist.step)
        else:
            hp.Float(name, dist.low, dist.high, sampling="log" if dist.log else "linear")
    return dict(hp.values)


def run_optuna(job: Job, space, data, outcome: Outcome) -> None:
    """Plain Optuna as most users run it: TPE, MedianPruner via its Keras callback, sequential."""
    import optuna
    from optuna_integration.keras import KerasPruningCallback

    from tune.search import suggest

    max_epochs = int(space.fixed["max_epochs"])
    tracker = Tracker(job, epoch_cap=job.max_trials * max_epochs)

    def objective(trial: optuna.Trial) -> float:
        values = {name: suggest(trial, name, domain) for name, domain in space.params.items()}
        config = trial_config(space, values, job)
        track = tracker.callback(config)
        callbacks = [track, target_stopping(config), KerasPruningCallback(trial, "val_score")]
        history = fit(config, data, callbacks).history
        return max(history.get("val_score") or [-math.inf])

    def stop_when_spent(study: optuna.Study, trial) -> None:
        if tracker.spent:
            study.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=job.seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    started = time.monotonic()
    tracker.start_search()
    study.optimize(
        objective, n_trials=job.max_trials, timeout=job.budget_s, callbacks=[stop_when_spent]
    )
    outcome.search_s = time.monotonic() - started
    outcome.trials_started = len(study.trials)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    outcome.trials_finished = sum(t.state in finished for t in study.trials)
    tracker.fill(outcome, data)


RUNNERS = {
    "ours": run_study,
    **{variant: run_study for variant in VARIANTS},
    "ray-random": run_study,
    "kt-hyperband": run_keras_tuner,
    "kt-bayes": run_keras_tuner,
    "optuna": run_optuna,
}


def run(job: Job) -> Outcome:
    import search_spaces
    from core.data.dataset import load_training_data
    from tune.study import cpu_caps

    outcome = Outcome(tool=job.tool, seed=job.seed)
    if RUNNERS[job.tool] is run_study:
        # `python -m tune.run` caps the space and loads the data itself: doing it here as well
        # would charge those tools a second data load and TensorFlow import.
        run_study(job, outcome)
        return outcome
    space = search_spaces.get(job.space)
    if not visible_gpus() and space.cpu_caps:
        space = space.capped(cpu_caps(space))  # what tune.run does on a machine without a GPU
    data = load_training_data(job.data, seed=job.seed, progress=False)
    from core.training.threads import configure_threads

    configure_threads(os.cpu_count())  # one trial at a time gets every core
    RUNNERS[job.tool](job, space, data, outcome)
    return outcome


def visible_gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def parse_job(argv: list[str]) -> Job:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tool", choices=ALL_TOOLS)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--space", required=True)
    parser.add_argument("--budget-s", type=float, required=True)
    parser.add_argument("--max-trials", type=int, required=True)
    parser.add_argument("--launched-at", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data")
    parser.add_argument("--targets", default="{}", help="JSON: metric -> value")
    args = parser.parse_args(argv)
    return Job(
        tool=args.tool,
        seed=args.seed,
        space=args.space,
        budget_s=args.budget_s,
        max_trials=args.max_trials,
        launched_at=args.launched_at,
        out=args.out,
        data=args.data,
        targets=json.loads(args.targets),
    )


def main(argv: list[str]) -> int:
    from core.files import write_json_atomically

    job = parse_job(argv)
    job.out.mkdir(parents=True, exist_ok=True)
    outcome = run(job)
    result = job.out / f"{job.tool}-seed{job.seed}.json"
    write_json_atomically(result, asdict(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
