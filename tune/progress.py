"""Live progress of a study, one line per event: readable in a terminal and in a CI log alike.

Tune's own tables are off (verbose=0). Instead every trial prints a line when it starts, one
line per epoch (its validation scores, score, seconds per epoch) followed by the study's state
(elapsed, trials done of the total, best score so far, time left), and a line when it ends.
No carriage returns: a log keeps every line.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

from ray import tune

from core.errors import first_line

from .trial_status import trial_status


def say(line: str) -> None:
    """One progress line in one write: Ray's driver prints the cluster's errors on stdout from
    a thread of its own, which `print` (text, then newline) let in between the two."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class StudyClock:
    """What the study knows of its own pace; pure, so the estimate is tested without Ray."""

    total_trials: int
    max_epochs: int
    at_once: int
    time_budget_s: float | None = None
    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    epochs: int = 0
    epoch_seconds: float = 0.0
    best: float = -math.inf

    def record_epoch(self, seconds: float, score: float) -> None:
        """Book one finished epoch of any trial."""
        self.epochs += 1
        self.epoch_seconds += seconds
        self.best = max(self.best, score)

    def elapsed(self) -> float:
        """Seconds since the study started."""
        return time.perf_counter() - self.started

    def seconds_left(self, running_epochs_left: int = 0) -> float | None:
        """An upper estimate: unstarted trials at their full length plus what running trials
        have left, at the mean epoch time, spread over the trials at once; never past the time
        budget. None before the first epoch."""
        if not self.epochs:
            return None
        per_epoch = self.epoch_seconds / self.epochs
        unstarted = max(0, self.total_trials - self.done - self.at_once)
        work = (unstarted * self.max_epochs + running_epochs_left) * per_epoch / self.at_once
        if self.time_budget_s is not None:
            work = min(work, max(0.0, self.time_budget_s - self.elapsed()))
        return work

    def status(self, running_epochs_left: int = 0) -> str:
        """`12/32 done, best 0.612, ~8 min left` (best and time left once known)."""
        parts = [f"{self.done}/{self.total_trials} done"]
        if self.best > -math.inf:
            parts.append(f"best {self.best:.3f}")
        left = self.seconds_left(running_epochs_left)
        if left is not None:
            parts.append(f"~{_duration(left)} left")
        return ", ".join(parts)


class TrialLines(tune.Callback):
    """Prints a line when a trial starts, one per epoch with the study's state, one when it ends."""

    def __init__(self, searched: list[str], clock: StudyClock) -> None:
        self.searched = searched
        self.clock = clock
        self.last_report: dict[str, float] = {}
        self.epochs_left: dict[str, int] = {}

    def _stamp(self) -> str:
        return f"[{self.clock.elapsed():6.0f} s]"

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        values = ", ".join(f"{k}={_short(trial.config.get(k))}" for k in self.searched)
        self.last_report[trial.trial_id] = time.perf_counter()
        self.epochs_left[trial.trial_id] = self.clock.max_epochs
        say(f"{self._stamp()} start {trial.trial_id}: {values}")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if "epoch" not in result:
            return
        now = time.perf_counter()
        seconds = now - self.last_report.get(trial.trial_id, now)
        self.last_report[trial.trial_id] = now
        epochs = int(trial.config.get("max_epochs", self.clock.max_epochs))
        self.epochs_left[trial.trial_id] = max(0, epochs - int(result["epoch"]))
        self.clock.record_epoch(seconds, float(result.get("score", -math.inf)))
        say(
            f"{self._stamp()} {trial.trial_id} epoch {result['epoch']}/{epochs}: "
            f"val emotion acc {result.get('val_emotion_accuracy', math.nan):.3f}, "
            f"val AU macro F1 {result.get('val_au_f1_macro', math.nan):.3f}, "
            f"score {result.get('score', math.nan):.3f}, {seconds:.1f} s/epoch | "
            f"{self.clock.status(sum(self.epochs_left.values()))}"
        )

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ended(trial)
        last = trial.last_result or {}
        status = trial_status(trial, ended=True)
        say(
            f"{self._stamp()} {trial.trial_id} {status} after {last.get('epoch', 0)} "
            f"epochs: val emotion acc {last.get('val_emotion_accuracy', math.nan):.3f}, "
            f"val AU bin acc {last.get('val_au_binary_accuracy', math.nan):.3f}, "
            f"val AU macro F1 {last.get('val_au_f1_macro', math.nan):.3f}, "
            f"score {last.get('score', math.nan):.3f} | {self.clock.status()}"
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ended(trial)
        say(
            f"{self._stamp()} {trial.trial_id} errored: {last_error(trial)} "
            f"(see {trial.path}/error.txt) | {self.clock.status()}"
        )

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        say(
            f"{self._stamp()} {trial.trial_id} failed: {last_error(trial)}; "
            f"retrying from its last checkpoint (failure {trial.run_metadata.num_failures})"
        )

    def _ended(self, trial) -> None:
        self.clock.done += 1
        self.epochs_left.pop(trial.trial_id, None)


def last_error(trial) -> str:
    """`Type: first line` of a trial's latest failure, from the exception Tune pickles beside
    its error file (a task's error carries the trainable's exception as its cause)."""
    import ray.cloudpickle

    try:
        with open(trial.pickled_error_file, "rb") as pickled:
            error = ray.cloudpickle.load(pickled)
    except Exception:  # no file (an error Tune does not pickle), or one that does not load
        return "see its error file"
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {first_line(cause)}"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
