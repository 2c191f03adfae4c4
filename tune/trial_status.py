"""A trial's outcome in one word, from what it last reported."""

from __future__ import annotations


def trial_status(trial, ended: bool = False) -> str:
    """met-targets / pruned / finished / cut-short / errored / unfinished, from what the trial
    last said. A trial Tune ended itself (ASHA, the stopper) has `done` in its last result; one
    stopped from outside (the study's time budget, --stop-on-target) has not: cut-short.

    `ended`: Tune is completing the trial but has not updated its status yet (callbacks).
    """
    last = trial.last_result or {}
    if trial.status == "ERROR":
        return "errored"
    if trial.status in ("PENDING", "PAUSED") or (trial.status == "RUNNING" and not ended):
        return "unfinished"
    if last.get("targets_met"):
        return "met-targets"
    if last.get("stopped_by") in ("patience", "max_epochs"):
        return "finished"
    if not last:
        return "not-started"
    return "pruned" if last.get("done") else "cut-short"
