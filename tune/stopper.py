"""Ends a trial the moment every target is met; ends the whole study at its time budget, or at
the first success when asked; tells the study's trials when it ends (tune.halt)."""

from __future__ import annotations

from collections.abc import Mapping

from ray import tune
from ray.tune.stopper import TimeoutStopper


class TargetStopper(tune.Stopper):
    """Reads the `targets_met` flag each trial reports (the trial checks the targets itself).

    The search's time budget is kept here rather than in Tune's `time_budget_s` (the same
    `TimeoutStopper`, which counts across resumes): the moment it decides the study ends is the
    moment the halt goes out, before Tune stops the trials.
    """

    def __init__(self, stop_study_on_success: bool = False, time_budget_s: float | None = None):
        self.stop_study_on_success = stop_study_on_success
        self.successes: list[str] = []
        self.budget = TimeoutStopper(time_budget_s) if time_budget_s is not None else None

    def __call__(self, trial_id: str, result: Mapping) -> bool:
        if result.get("targets_met"):
            self.successes.append(trial_id)
            return True
        return False

    def stop_all(self) -> bool:
        """End the whole study at its time budget, or at the first success when
        --stop-on-target asked for it; the study's trials are told at once."""
        from .halt import halt_study

        budget = getattr(self, "budget", None)  # a study saved before the budget moved here
        success = self.stop_study_on_success and bool(self.successes)
        ended = success or (budget is not None and budget.stop_all())
        if ended:
            halt_study()
        return ended
