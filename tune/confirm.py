"""Finalists confirmed on fresh splits before a study names its best.

A trial's score is its best epoch on one validation split of a few dozen images; the best of many
such scores is biased up (the winner's curse) and two runs of one config differ by about 0.09.
So, after the search, the top K trials by that score and the hand-tuned start are each trained
again, as a trial trains, on R new subject-grouped train/validation partitions of the non-test
subjects (new validation subjects, new seeds; the test part is never touched), as Ray tasks with
a trial's resources. The finalist with the best mean over the splits every finalist finished is
the study's best. Progress is kept in confirmation.json after each run, so an interrupted study
goes on with its confirmation where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.checks import is_number
from core.data.dataset import TrainingData
from core.data.split import Split, fresh_splits
from core.errors import first_line
from core.files import scratch_folder, use_process_scratch
from core.images.preprocess import PreparedData

from .confirmation import Confirmation, Finalist, resumed_or_new, save_confirmation
from .ray_compat import grid_trials
from .study import StudySettings
from .trial_status import trial_status

ENDED = ("met-targets", "finished")  # the trial trained to its own end: its checkpoint is whole
SCORED = (*ENDED, "pruned", "cut-short")
# A confirmation run's seed: apart from the trials' (the configs' default) and per repeat.
SEED_BASE = 10_007


def hand_tuned_start(trials: list[Any], settings: StudySettings):
    """The study's trial of its space's hand-tuned start (the first with those values), or None
    (the study skipped it, or it never scored)."""
    if settings.no_hand_tuned_start:
        return None
    start = settings.resolved_space().start
    return next(
        (
            t
            for t in trials
            if _scored(t) and all(t.config.get(key) == value for key, value in start.items())
        ),
        None,
    )


def pick_finalists(grid, settings: StudySettings) -> list[Finalist]:
    """The top `settings.finalists` trials by score and the hand-tuned start (when the study
    tried it and it scored), best first."""
    trials = grid_trials(grid)
    scored = [t for t in trials if _scored(t)]
    ranked = sorted(scored, key=lambda t: -t.last_result["score"])  # stable: creation order
    first_start = hand_tuned_start(trials, settings)
    chosen = ranked[: settings.finalists]
    if first_start is not None and first_start not in chosen:
        chosen.append(first_start)
    return [
        Finalist(
            trial_id=t.trial_id,
            val_score=float(t.last_result["score"]),
            config=dict(t.config),
            hand_tuned_start=t is first_start,
            ended=trial_status(t) in ENDED,
            scores=[None] * settings.confirm,
        )
        for t in chosen
    ]


def _scored(trial) -> bool:
    """A trial that trained and reported a finite score (not errored, not unfinished)."""
    score = (trial.last_result or {}).get("score")
    return trial_status(trial) in SCORED and is_number(score)


def _remote_training(settings: StudySettings, retries: int = 0):
    """`train_on_split` as a Ray task with a trial's resources, and its TensorFlow threads."""
    import ray

    remote = ray.remote(train_on_split).options(
        num_cpus=settings.cpus_per_trial,
        num_gpus=settings.gpus_per_trial,
        max_retries=retries,
    )
    return remote, max(1, int(settings.cpus_per_trial))


def run_config(finalist: Finalist, seed: int, repeat: int) -> dict[str, Any]:
    """The finalist's config for one confirmation run: its own seed per repeat."""
    return {**finalist.config, "seed": SEED_BASE + 1000 * seed + repeat}


def train_on_split(
    config: dict[str, Any], prepared: PreparedData, split: Split, threads: int, keep_model: bool
) -> dict[str, Any]:
    """One training run on a Ray worker: the best epoch's combined validation score (the trial's
    score), and with `keep_model` the best model's .keras bytes."""
    from core.config import combined_score, train_config
    from core.training.loop import train

    from .gpu import configure_gpu
    from .trainable import DRIVER_PID_ENV, worker_scratch_job

    use_process_scratch(worker_scratch_job(os.environ.get(DRIVER_PID_ENV, "any")))
    checked = train_config({**config, "threads": threads})  # the run's one check
    configure_gpu(checked)
    result = train(checked, TrainingData(prepared, split), verbose=False, warm=True)
    best = {key: values[result.best_epoch - 1] for key, values in result.history.items()}
    outcome: dict[str, Any] = {
        "score": combined_score(best),
        "epochs": result.epochs,
        "seconds": result.seconds,
    }
    if keep_model:
        with scratch_folder("confirm") as folder:
            result.model.save(folder / "model.keras")
            outcome["model"] = (folder / "model.keras").read_bytes()
    return outcome


def confirm(
    settings: StudySettings,
    data: TrainingData,
    confirmation: Confirmation,
    deadline: float | None,
    interrupted: Callable[[], bool],
) -> Confirmation:
    """Run the confirmation's missing runs (repeat by repeat, so a budget cut leaves every
    finalist with the same splits) until done, the deadline or an interruption; saved after each."""
    import ray

    splits = fresh_splits(
        data.prepared.emotions,
        data.prepared.subjects,
        data.split,
        repeats=confirmation.repeats,
        seed=confirmation.seed,
    )
    remote, threads = _remote_training(settings, settings.max_failures)
    prepared = ray.put(data.prepared)
    pending = {}
    for finalist, repeat in run_order(confirmation):
        config = run_config(finalist, confirmation.seed, repeat)
        ref = remote.remote(config, prepared, splits[repeat], threads, False)
        pending[ref] = (finalist, repeat)
    total = len(confirmation.finalists) * confirmation.repeats
    started = time.monotonic()
    while pending:
        if interrupted() or (deadline is not None and time.monotonic() > deadline):
            break
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            finalist, repeat = pending.pop(ref)
            failure = _record(ref, finalist, repeat)
            save_confirmation(settings, confirmation)
            line = _run_line(finalist, repeat, confirmation.repeats, failure)
            print(f"{line} | {confirmation.runs_done()}/{total} done", flush=True)
    for ref in pending:
        ray.cancel(ref, force=True)
    confirmation.seconds += time.monotonic() - started
    if not interrupted():
        confirmation.complete = True
        confirmation.cut_by_budget = len(pending)
    save_confirmation(settings, confirmation)
    return confirmation


def run_order(confirmation: Confirmation) -> list[tuple[Finalist, int]]:
    """The runs still to do, in the order Ray is given them: the top trials repeat by repeat (a
    budget cut leaves each with the same splits), then the hand-tuned start's, which on a CPU
    budget is the slowest (MobileNet from scratch) and rarely a contender: it never holds a slot
    the top trials' next split is waiting for."""
    runs = [
        (finalist, repeat)
        for repeat in range(confirmation.repeats)
        for finalist in confirmation.finalists
        if finalist.scores[repeat] is None
    ]
    return sorted(runs, key=lambda run: run[0].hand_tuned_start)  # stable


def _record(ref, finalist: Finalist, repeat: int) -> str | None:
    """The run's score into its finalist; a failed run stays unrun (the others still compare)
    and its reason is returned."""
    import ray

    try:
        finalist.scores[repeat] = float(ray.get(ref)["score"])
    except ray.exceptions.RayError as error:
        return first_line(error)
    return None


def _run_line(finalist: Finalist, repeat: int, repeats: int, failure: str | None) -> str:
    score = finalist.scores[repeat]
    shown = f"failed ({failure})" if failure else f"score {score:.3f}"
    return (
        f"confirm {finalist.trial_id} split {repeat + 1}/{repeats}: {shown} "
        f"(single split {finalist.val_score:.3f})"
    )


def retrain_on_study_split(
    settings: StudySettings, data: TrainingData, finalist: Finalist, folder: Path
) -> Path:
    """The pick's model trained as its trial would have been, to its end, on the study's own
    split (a pruned or cut-short trial's checkpoint is a partial training): `folder/model.keras`."""
    import ray

    remote, threads = _remote_training(settings)
    outcome = ray.get(remote.remote(finalist.config, data.prepared, data.split, threads, True))
    path = folder / "model.keras"
    path.write_bytes(outcome["model"])
    return path


def confirmation_summary(confirmation: Confirmation) -> str:
    """What the terminal says once the finalists are confirmed: each one's single-split score,
    confirmed mean and the gap, and which one the study names its best."""
    common = confirmation.common_repeats()
    lines = [
        f"finalists confirmed on {len(common)} fresh split(s) of the non-test subjects "
        f"({confirmation.seconds:.0f} s):"
    ]
    for row in confirmation.rows():
        mean = row["confirmed_mean"]
        start = " (hand-tuned start)" if row["hand_tuned_start"] else ""
        confirmed = (
            "not confirmed"
            if mean is None
            else f"confirmed mean {mean:.3f} (single split {row['val_above_confirmed']:+.3f})"
        )
        lines.append(
            f"  {row['trial_id']}{start}: single split {row['val_score']:.3f}, {confirmed}"
        )
    if confirmation.cut_by_budget:
        lines.append(f"  {confirmation.cut_by_budget} run(s) did not fit the study's time budget")
    return "\n".join(lines)


def confirm_study(
    settings: StudySettings,
    grid,
    data: TrainingData,
    search_started: float,
    resumed: bool,
    interrupted: Callable[[], bool],
) -> Confirmation | None:
    """Confirm the study's finalists (or go on with a saved confirmation of the same ones) within
    what is left of its time budget, and at least its reserved share; None with fewer than two
    finalists (nothing to choose between)."""
    finalists = pick_finalists(grid, settings)
    if len(finalists) < 2:
        print("confirmation skipped: fewer than two trials scored", flush=True)
        return None
    trial_ids = {t.trial_id for t in grid_trials(grid)}
    confirmation = resumed_or_new(settings, finalists, trial_ids)
    if confirmation.complete:
        return confirmation
    deadline, budget = None, ""
    if settings.time_budget_s is not None:
        reserve = settings.time_budget_s * settings.confirm_share
        left = search_started + settings.time_budget_s - time.monotonic()
        seconds = reserve if resumed else max(left, reserve)
        deadline = time.monotonic() + seconds
        budget = (
            f"; {settings.confirm_share:.0%} of the {settings.time_budget_s:g} s budget was kept "
            f"for it, {seconds:.0f} s left"
        )
    done = confirmation.runs_done()
    went_on = f", going on after {done} saved" if done else ""
    count = len(confirmation.finalists)
    added = count > settings.finalists  # the start, beyond the top K
    print(
        f"confirming {count} finalists (the top {settings.finalists} by score"
        f"{' and the hand-tuned start' if added else ''}) on {confirmation.repeats} fresh "
        f"split(s) of the non-test subjects{went_on}{budget}",
        flush=True,
    )
    confirm(settings, data, confirmation, deadline, interrupted)
    print(confirmation_summary(confirmation), flush=True)
    return confirmation
