"""Ends a trial the moment every target is met; optionally ends the whole study at that point."""

from __future__ import annotations

from collections.abc import Mapping

from ray import tune


class TargetStopper(tune.Stopper):
    """Reads the `targets_met` flag each trial reports (the trial checks the targets itself)."""

    def __init__(self, stop_study_on_success: bool = False) -> None:
        self.stop_study_on_success = stop_study_on_success
        self.successes: list[str] = []

    def __call__(self, trial_id: str, result: Mapping) -> bool:
        if result.get("targets_met"):
            self.successes.append(trial_id)
            return True
        return False

    def stop_all(self) -> bool:
        """End the whole study at the first success, when --stop-on-target asked for it."""
        return self.stop_study_on_success and bool(self.successes)
