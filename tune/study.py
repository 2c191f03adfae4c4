"""What a study is: its space (capped for the machine), resources, settings; saved for --resume."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.checks import OfType, OneOf, Rule, check
from core.errors import ConfigError
from core.files import write_json_atomically
from core.images.faces import DEFAULT_DETECTOR, LEGACY_DETECTOR
from search_spaces import SearchSpace, get
from search_spaces.domains import STUDY_CAPS

from .storage import join_storage, read_text, write_into

if TYPE_CHECKING:
    from core.data.dataset import TrainingData

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
    backbone: str | None = None  # pins a space's backbone (one it searches, or fixes)
    backbone_weights: str | None = None
    aus: list[int] | None = None
    max_failures: int = 2
    allow_outside_root: bool = False
    search: str = "tpe"
    scheduler: str = "asha"
    report: bool = True
    # Keep trial workers (and their compiled models, core.model.warm) between trials: ~1 s
    # instead of ~12 s to a trial's first step. `--fresh-workers` turns it off.
    reuse_workers: bool = True
    # TPE chooses every trial: the space's start points (the report's config first) are skipped.
    no_hand_tuned_start: bool = False
    # The target metrics' floors on this study's validation split (core.evaluation.yardstick), for
    # the report.
    floors: dict[str, float] = field(default_factory=dict)
    detector: str = DEFAULT_DETECTOR  # the face detector the images are prepared with
    # Several objectives (tune.objectives): Optuna keeps a Pareto front; empty: the one score.
    objectives: list[str] = field(default_factory=list)
    # After the search, the top `finalists` trials and the hand-tuned start are trained again on
    # `confirm` fresh splits (tune.confirm); 0: the best single-split score names the best. With
    # a time budget, `confirm_share` of it is kept from the search for them.
    finalists: int = 2
    confirm: int = 2
    confirm_share: float = 0.3

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
        if self.backbone:
            overrides["backbone"] = self.backbone
        if self.targets:
            overrides["targets"] = dict(self.targets)
        if self.backbone_weights:  # "none": from scratch, whatever the space transfers
            overrides["backbone_weights"] = (
                None if self.backbone_weights == "none" else self.backbone_weights
            )
        if self.gpu_memory_mb:
            overrides["gpu_memory_mb"] = self.gpu_memory_mb
        if self.mixed_precision:
            overrides["mixed_precision"] = True
        weights = self.backbone_weights
        if weights not in (None, "none") and "backbone" in space.params and not self.backbone:
            raise ConfigError(
                f"space {self.space!r} searches the backbone: --backbone-weights needs --backbone "
                "to say which backbone they are for"
            )
        return space.with_fixed(overrides) if overrides else space

    def named_weights(self) -> list[str]:
        """The named pretrained weights (core.model.pretrained) this study's trials may load: the
        driver fetches them before the first trial, since trials never fetch."""
        from core.model.pretrained import NAMED_WEIGHTS

        space = self.resolved_space()
        values = [space.fixed.get("backbone_weights")] + [
            links.get("backbone_weights")
            for by_value in space.linked.values()
            for links in by_value.values()
        ]
        return sorted({value for value in values if value in NAMED_WEIGHTS})

    def effective_targets(self) -> dict[str, float]:
        """The targets trials stop on: this study's own, else the space's."""
        return dict(self.resolved_space().fixed.get("targets", {}))

    def load_data(self, progress: bool = True) -> TrainingData:
        """The study's data and split, as every part of it sees them: the same source, seed,
        AUs, face detector and path rule (the run, the report and cross-validation)."""
        from core.data.dataset import load_training_data
        from core.labels import DEFAULT_AUS

        return load_training_data(
            self.data,
            seed=self.seed,
            aus=tuple(self.aus or DEFAULT_AUS),
            detector=self.detector,
            allow_outside_root=self.allow_outside_root,
            progress=progress,
        )

    def search_budget_s(self) -> float | None:
        """The search's share of the time budget: the rest is kept for confirming finalists."""
        if self.time_budget_s is None or not self.confirm:
            return self.time_budget_s
        return self.time_budget_s * (1 - self.confirm_share)

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
        return cls.parse(text, f"--resume: {path}")

    @classmethod
    def parse(cls, text: str, where: str) -> StudySettings:
        """study.json's text, every field checked against its type and every name against what
        this version knows; ConfigError naming `where` and the first thing wrong."""
        try:
            payload = json.loads(text)
            if not isinstance(payload, dict):
                raise TypeError(f"holds a {type(payload).__name__}, not an object")
            payload.setdefault("detector", LEGACY_DETECTOR)
            payload.setdefault("confirm", 0)  # a study from before confirmation ends as it began
            settings = cls(**payload)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{where} is damaged ({error})") from None
        values = asdict(settings)
        check(field_types(cls), values, STUDY_WORDING, ConfigError, where=where)
        named = {key: value for key, value in values.items() if value is not None}
        check(known_names(), named, STUDY_WORDING, ConfigError, where=where)
        return settings


# A study.json that breaks a rule: `study.json is damaged (num_samples is "8", expected int)`.
STUDY_WORDING = "{where} is damaged ({key} is {shown}, expected {expected})"


def field_types(settings: type[StudySettings]) -> dict[str, Rule]:
    """Each field of study.json is of its declared type (a hand-edited or damaged file)."""
    hints = typing.get_type_hints(settings)
    return {item.name: OfType(hints[item.name]) for item in fields(settings)}


def known_names() -> dict[str, Rule]:
    """The fields that name something this version must know: a space, objectives, a detector,
    a backbone, a search method, a scheduler."""
    from core.config import ALPHAS
    from core.images.faces import DETECTORS
    from search_spaces import names

    from .objectives import OBJECTIVES

    return {
        "space": OneOf(names()),
        "objectives": OneOf(list(OBJECTIVES), each=True),
        "detector": OneOf(DETECTORS),
        "backbone": OneOf(list(ALPHAS)),
        "search": OneOf(SEARCH_METHODS),
        "scheduler": OneOf(SCHEDULERS),
    }


def cpu_caps(space: SearchSpace) -> dict[str, Any]:
    """The CPU budget of a space: its own caps minus the trial count (applied separately)."""
    return {k: v for k, v in space.cpu_caps.items() if k not in STUDY_CAPS}


def describe_caps(caps: dict[str, Any]) -> str:
    """Caps as `key <= value` for messages and the report."""
    return ", ".join(f"{key} <= {value}" for key, value in caps.items())


def trial_name(trial) -> str:
    """Short trial folders (`trial_1a2b3c4d`); the config is in params.json beside it."""
    return f"trial_{trial.trial_id}"
