"""The record of a study's confirmation: its finalists, their scores on the fresh splits, the
pick, and confirmation.json, saved after each run so a resumed study goes on with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.files import write_json_atomically

from .storage import join_storage, read_text, write_into
from .study import StudySettings

CONFIRMATION_FILE = "confirmation.json"


@dataclass
class Finalist:
    """A trial confirmed again: its single-split score, its config, and its scores on the
    fresh splits (None where a run has not finished)."""

    trial_id: str
    val_score: float
    config: dict[str, Any]
    hand_tuned_start: bool
    ended: bool
    scores: list[float | None] = field(default_factory=list)


@dataclass
class Confirmation:
    """The finalists and their runs; `complete` once every run ended or the budget did."""

    repeats: int
    seed: int
    finalists: list[Finalist]
    complete: bool = False
    cut_by_budget: int = 0  # runs the study's budget left unrun or cut short
    seconds: float = 0.0

    def runs_done(self) -> int:
        """Runs with a score, over every finalist and split."""
        return sum(score is not None for f in self.finalists for score in f.scores)

    def common_repeats(self) -> list[int]:
        """The splits every scored finalist finished: means over them compare like with like."""
        scored = [f for f in self.finalists if any(s is not None for s in f.scores)]
        return [
            r
            for r in range(self.repeats)
            if scored and all(f.scores[r] is not None for f in scored)
        ]

    def mean_of(self, finalist: Finalist) -> float | None:
        """The finalist's confirmed mean over the common splits; None without one."""
        common = self.common_repeats()
        values = [finalist.scores[r] for r in common if finalist.scores[r] is not None]
        return sum(values) / len(values) if values and len(values) == len(common) else None

    def pick(self) -> Finalist | None:
        """The finalist with the best confirmed mean (ties: the better single-split score)."""
        means = [(self.mean_of(f), f.val_score, f) for f in self.finalists]
        ranked = [entry for entry in means if entry[0] is not None]
        return max(ranked, key=lambda entry: entry[:2])[2] if ranked else None

    def rows(self) -> list[dict[str, Any]]:
        """best_config.json's "confirmation": each finalist's single-split score, confirmed
        scores and mean, and how far the single split sat above the mean (the winner's curse)."""
        rows = []
        for finalist in self.finalists:
            mean = self.mean_of(finalist)
            rows.append(
                {
                    "trial_id": finalist.trial_id,
                    "hand_tuned_start": finalist.hand_tuned_start,
                    "val_score": finalist.val_score,
                    "confirmed_scores": finalist.scores,
                    "confirmed_mean": mean,
                    "val_above_confirmed": None if mean is None else finalist.val_score - mean,
                }
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        """confirmation.json's content."""
        return asdict(self)

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Confirmation:
        """The saved confirmation (as `to_json` wrote it)."""
        finalists = [Finalist(**item) for item in payload["finalists"]]
        return cls(**{**payload, "finalists": finalists})


def load_confirmation(settings: StudySettings) -> Confirmation | None:
    """The study's saved confirmation, or None (none yet, or a file this version cannot read)."""
    text = read_text(join_storage(settings.experiment_path, CONFIRMATION_FILE))
    if text is None:
        return None
    try:
        return Confirmation.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError):
        return None


def save_confirmation(settings: StudySettings, confirmation: Confirmation) -> None:
    """confirmation.json in the study folder (local or remote), whole or not at all."""
    write_into(
        settings.experiment_path,
        lambda folder: write_json_atomically(folder / CONFIRMATION_FILE, confirmation.to_json()),
    )


def resumed_or_new(
    settings: StudySettings, finalists: list[Finalist], trial_ids: set[str]
) -> Confirmation:
    """The saved confirmation when it is this study's (a resumed study goes on with its finalists,
    even where ties among the scores would order them otherwise now), else a new one."""
    saved = load_confirmation(settings)
    if (
        saved is not None
        and saved.repeats == settings.confirm
        and saved.seed == settings.seed
        and all(f.trial_id in trial_ids and len(f.scores) == saved.repeats for f in saved.finalists)
    ):
        return saved
    return Confirmation(repeats=settings.confirm, seed=settings.seed, finalists=finalists)
