"""One line per trial event instead of Tune's full tables: readable in a terminal and in CI logs."""

from __future__ import annotations

import time

from ray import tune

from .results import trial_status


class TrialLines(tune.Callback):
    """A Tune callback that prints one line when a trial starts, ends or fails."""

    def __init__(self, searched: list[str]) -> None:
        self.searched = searched
        self.started = time.perf_counter()

    def _stamp(self) -> str:
        return f"[{time.perf_counter() - self.started:6.0f} s]"

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        values = ", ".join(f"{k}={_short(trial.config.get(k))}" for k in self.searched)
        print(f"{self._stamp()} start {trial.trial_id}: {values}", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        last = trial.last_result or {}
        status = trial_status(trial, ended=True)
        print(
            f"{self._stamp()} {trial.trial_id} {status} after {last.get('epoch', 0)} "
            f"epochs: val emotion acc {last.get('val_emotion_accuracy', float('nan')):.3f}, "
            f"val AU bin acc {last.get('val_au_binary_accuracy', float('nan')):.3f}, "
            f"val AU macro F1 {last.get('val_au_f1_macro', float('nan')):.3f}, "
            f"score {last.get('score', float('nan')):.3f}",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        print(f"{self._stamp()} {trial.trial_id} errored (see {trial.path}/error.txt)", flush=True)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
