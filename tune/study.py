"""What a study is: its space (capped for the machine), resources, settings; saved for --resume."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from search_spaces import SearchSpace, get

STUDY_FILE = "study.json"

# A CPU-only study has to finish on a laptop: these bound it when the space has no caps of its own.
CPU_TIME_BUDGET_S = 960
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

    @property
    def experiment_path(self) -> str:
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
            from dataclasses import replace

            space = replace(space, fixed={**space.fixed, **overrides})
        return space

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / (STUDY_FILE + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        os.replace(temporary, folder / STUDY_FILE)

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


def read_text(location: str) -> str | None:
    """A small text file from a local path or a URI (through pyarrow, as Ray Tune reads
    storage); None when there is no such file."""
    if "://" not in location:
        local = Path(location)
        return local.read_text() if local.is_file() else None
    import pyarrow
    import pyarrow.fs

    try:
        filesystem, path = pyarrow.fs.FileSystem.from_uri(location)
        if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
            return None
        with filesystem.open_input_stream(path) as stream:
            return stream.read().decode()
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"--resume: cannot read {location} ({reason})") from None


def check_local_storage(storage: str) -> None:
    """A local --storage must be (or be creatable in) a writable folder: say so before any work.

    Only the check is made here; nothing is created until the study starts writing.
    """
    if "://" in storage:
        return
    path = Path(storage)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        raise ConfigError(f"--storage {storage}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--storage {storage}: {existing} is not writable")


def storage_is_full(storage: str, probe_bytes: int = 1 << 16) -> bool:
    """Whether a local --storage cannot take even a small file for want of space (ENOSPC)."""
    if "://" in storage:
        return False
    existing = next((p for p in (Path(storage), *Path(storage).parents) if p.is_dir()), None)
    if existing is None:
        return False
    try:
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"\0" * probe_bytes)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error.errno == errno.ENOSPC
    return False


def join_storage(storage: str, name: str) -> str:
    return f"{storage.rstrip('/')}/{name}" if "://" in storage else str(Path(storage) / name)


def cpu_caps(space: SearchSpace) -> dict[str, Any]:
    """The CPU budget of a space: its own caps minus the trial count (applied separately)."""
    return {k: v for k, v in space.cpu_caps.items() if k != "num_samples"}


def describe_caps(caps: dict[str, Any]) -> str:
    return ", ".join(f"{key} <= {value}" for key, value in caps.items())


def trial_name(trial) -> str:
    """Short trial folders (`trial_1a2b3c4d`); the config is in params.json beside it."""
    return f"trial_{trial.trial_id}"
