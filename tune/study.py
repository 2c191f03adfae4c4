"""What a study is: its space (capped for the machine), resources, settings; saved for --resume."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.files import write_json_atomically
from search_spaces import SearchSpace, get

from .storage import join_storage, read_text, write_into

STUDY_FILE = "study.json"

# `--search random --scheduler none` is plain Ray Tune: what TPE, the hand-tuned start and ASHA add
# is measured against it (bench/peers.py).
SEARCH_METHODS = ("tpe", "random")
SCHEDULERS = ("asha", "none")


@dataclass
class StudySettings:
    """Everything `--resume` needs to rebuild the same study; saved as study.json."""

    space: str
    name: str
    storage: str
    data: str | None = None
    seed: int = 0
    num_samples: int = 0
    max_concurrent: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    gpu_memory_mb: int | None = None
    mixed_precision: bool = False
    time_budget_s: float | None = None
    targets: dict[str, float] = field(default_factory=dict)
    caps: dict[str, Any] = field(default_factory=dict)
    stop_on_target: bool = False
    backbone_weights: str | None = None
    aus: list[int] | None = None
    max_failures: int = 2
    allow_outside_root: bool = False
    search: str = "tpe"
    scheduler: str = "asha"
    report: bool = True
    # Keep trial workers (and their compiled models, core.warm) between trials: ~1 s instead of
    # ~12 s to a trial's first step. Off by default: with reuse, a trial that Tune stops at Ctrl-C
    # or on a full disk can report once more from its still-running thread, and the resumed study
    # then repeats an epoch or loses a trial (tests/tune: interrupt and full-storage resumes).
    reuse_workers: bool = False
    # The target metrics' floors on this study's validation split (core.yardstick), for the report.
    floors: dict[str, float] = field(default_factory=dict)

    @property
    def experiment_path(self) -> str:
        """The study's folder or URI: storage/name."""
        return join_storage(self.storage, self.name)

    def resolved_space(self) -> SearchSpace:
        """The registered space with this study's caps, targets and weights applied."""
        space = get(self.space)
        if self.caps:
            space = space.capped(self.caps)
        overrides: dict[str, Any] = {}
        if self.targets:
            overrides["targets"] = dict(self.targets)
        if self.backbone_weights:
            overrides["backbone_weights"] = self.backbone_weights
        if self.gpu_memory_mb:
            overrides["gpu_memory_mb"] = self.gpu_memory_mb
        if self.mixed_precision:
            overrides["mixed_precision"] = True
        if overrides:
            space = replace(space, fixed={**space.fixed, **overrides})
        return space

    def effective_targets(self) -> dict[str, float]:
        """The targets trials stop on: this study's own, else the space's."""
        return dict(self.resolved_space().fixed.get("targets", {}))

    def save(self, folder: Path) -> None:
        """study.json in a local folder, whole or not at all."""
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomically(folder / STUDY_FILE, asdict(self))

    def save_to_storage(self) -> None:
        """study.json in the experiment folder, local or remote, before the first trial."""
        write_into(self.experiment_path, self.save)

    @classmethod
    def load(cls, folder: str | Path) -> StudySettings:
        """study.json from a study folder or a storage URI (s3://, gs://, file://)."""
        path = join_storage(str(folder), STUDY_FILE)
        text = read_text(path)
        if text is None:
            raise ConfigError(f"--resume: {folder} holds no study ({STUDY_FILE} is missing)")
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise ConfigError(f"--resume: {path} is damaged ({error})") from None


def cpu_caps(space: SearchSpace) -> dict[str, Any]:
    """The CPU budget of a space: its own caps minus the trial count (applied separately)."""
    return {k: v for k, v in space.cpu_caps.items() if k != "num_samples"}


def describe_caps(caps: dict[str, Any]) -> str:
    """Caps as `key <= value` for messages and the report."""
    return ", ".join(f"{key} <= {value}" for key, value in caps.items())


def trial_name(trial) -> str:
    """Short trial folders (`trial_1a2b3c4d`); the config is in params.json beside it."""
    return f"trial_{trial.trial_id}"
