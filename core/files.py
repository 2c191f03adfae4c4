"""Files that appear whole or not at all: write beside the target, then rename over it.

A reader (a resumed study, the report, `core.predict`) never sees half a file, even when the
writer is killed mid-write: `os.replace` is atomic on one filesystem.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError, StorageError
from .folder_lock import LOCK_NAME

# The most bytes a file of each kind may hold: far above any real one, far below memory.
IMAGE_BYTES_LIMIT = 256 << 20
TEXT_BYTES_LIMIT = 64 << 20  # a manifest of a million rows; label and JSON files are tiny


def replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write(temporary)` on a sibling of `path`, then rename it over `path`."""
    path = Path(path)
    # Unique (two writers of one file never share it) and with the file's suffix (Keras saves
    # by it); a dead writer's is removed by the next folder_in_place there.
    temporary = Path(f"{temporary_path(path.parent, path.name)}{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text_atomically(path: Path, text: str) -> None:
    """`path` holds `text`, or what it held before."""
    replace_atomically(path, lambda temporary: temporary.write_text(text))


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """`path` holds `content`, or what it held before."""
    replace_atomically(path, lambda temporary: temporary.write_bytes(content))


def strict_json(payload: Any, indent: int | None = None) -> str:
    """JSON every reader accepts: a NaN or infinite number (a metric with no positive case)
    becomes null instead of Python's bare `NaN`, which is not JSON."""
    return json.dumps(finite_or_null(payload), indent=indent, allow_nan=False)


def finite_or_null(value: Any) -> Any:
    """`value` with every non-finite float, however deep, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(item) for item in value]
    return value


def write_json_atomically(path: Path, payload: Any) -> None:
    """`payload` as indented strict JSON, written whole or not at all."""
    write_text_atomically(path, strict_json(payload, indent=2))


def check_output_folder(option: str, folder: Path, empty: bool = False) -> None:
    """The one check of every folder a command writes into (--out, --plots, --storage), made
    before any work: a folder or creatable inside one, writable, and empty when `empty`.
    Nothing is created here."""
    folder = Path(folder)
    where = f"{option} {folder}"
    if empty and folder.is_symlink():  # the folder is renamed into place: over the link itself
        raise ConfigError(f"{where}: a symbolic link (to {os.readlink(folder)}); name the folder")
    if empty and folder.absolute() in (Path.cwd(), *Path.cwd().parents):
        raise ConfigError(f"{where}: the current folder (or one above it); name a new folder")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{where}: exists and is not a folder")
    if empty and folder.is_dir() and any(e.name != LOCK_NAME for e in folder.iterdir()):
        raise ConfigError(f"{where}: folder exists and is not empty")
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{where}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {existing} is not writable")


def read_bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, never more than `limit`. A device, pipe or folder that is named
    like a data file (a symlink to /dev/zero read until memory ran out), or a file larger than
    any such file could be, is a DataError naming it; OSError when it cannot be opened."""
    info = os.stat(path)  # follows a symlink: what would be read
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: not a regular file (a {kind_of_entry(info.st_mode)})")
    with open(path, "rb") as handle:
        content = handle.read(limit + 1)
    if len(content) > limit or info.st_size > limit:
        size = max(len(content), info.st_size)
        raise DataError(f"{path}: {size:,} bytes or more, over the {limit:,} such a file may have")
    return content


def kind_of_entry(mode: int) -> str:
    """What a non-regular file is, in words."""
    kinds = [
        (stat.S_ISDIR, "folder"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


TEMPORARY_MARK = ".tmp-"  # .NAME.tmp-PID-RANDOM: the pid tells a live writer from a dead one


@contextlib.contextmanager
def folder_in_place(
    folder: Path, *, replace: bool = False, keep: tuple[str, ...] = ()
) -> Iterator[Path]:
    """A hidden sibling of `folder` to fill in the block; renamed to `folder` when the block
    ends without error, removed in any case: the folder appears whole or not at all. Over an
    absent or empty `folder`; with `replace` over a full one too (the sibling starts with
    copies of its `keep` files, and the old folder is removed after the swap: a report that
    failed half-way left new figures beside an old page). OSError when it cannot be made or
    renamed."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder.parent)
    temporary = temporary_path(folder.parent, folder.name)
    temporary.mkdir()
    try:
        for name in keep:
            if (folder / name).is_file():
                shutil.copy2(folder / name, temporary / name)
        yield temporary
        old = temporary_path(folder.parent, folder.name)
        if replace and folder.exists():
            os.replace(folder, old)
        os.replace(temporary, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


@contextlib.contextmanager
def output_written(option: str, folder: Path) -> Iterator[None]:
    """An OSError while the block writes `folder` (a full disk, a lost mount) is the one line
    StorageError naming the option and folder; the block writes whole or not at all."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise StorageError(
            f"{option} {folder}: not written ({reason}); nothing half-written is left"
        ) from None


def temporary_path(folder: Path, name: str) -> Path:
    """A hidden sibling to build `name` in before renaming it into place."""
    return Path(folder) / f".{name}{TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_stale_temporaries(folder: Path, names: str = "*") -> int:
    """Remove the temporaries (temporary_path) of writers that died (a `kill -9` left a 14-81 MB
    half-written folder for ever); a live writer's are left alone, and counted (returned).
    `names`: only those of temporaries for these names (a shell pattern), in a folder other
    programs share."""
    live = 0
    for entry in Path(folder).glob(f".{names}{TEMPORARY_MARK}*"):
        pid = entry.name.rpartition(TEMPORARY_MARK)[2].partition("-")[0]
        if not pid.isdigit():
            continue  # not one of ours
        if process_alive(int(pid)):
            live += 1
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return live


SCRATCH_NAMES = "fertune-*"  # every scratch folder of ours in the system's temporary folder


def scratch_name(job: str) -> str:
    """The name (before temporary_path's mark) of a job's scratch folder."""
    return f"fertune-{job}"


@contextlib.contextmanager
def scratch_folder(job: str) -> Iterator[Path]:
    """A private folder in the system's temporary folder for files that must not outlive a job
    (a trial's best model: 19 MB each, once left in /tmp for good): removed when the block
    ends, on error and on Ctrl-C too; those of killed processes are removed by the next one."""
    folder = _new_scratch(job)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _new_scratch(job: str) -> Path:
    """A new private folder for `job` in the system's temporary folder, after removing those of
    processes that ended."""
    base = Path(tempfile.gettempdir())
    remove_stale_temporaries(base, SCRATCH_NAMES)
    folder = temporary_path(base, scratch_name(job))
    folder.mkdir(mode=0o700)
    return folder


_process_scratch: Path | None = None


def use_process_scratch(job: str) -> Path:
    """Make a private folder this process's temporary folder for the rest of its life
    (tempfile's, so every library's temporary files go in it: TensorFlow's autograph writes a
    module per traced function and never removes it). A process that ended leaves it to the next
    scratch user, who removes it whole (remove_stale_temporaries)."""
    global _process_scratch
    if _process_scratch is None:
        _process_scratch = _new_scratch(job)
        tempfile.tempdir = str(_process_scratch)
    return _process_scratch


def await_stale_temporaries(folder: Path, names: str, wait_s: float) -> None:
    """remove_stale_temporaries, tried again for up to `wait_s` while some still have a live
    writer: the processes that made them are ending (a Ray that was just shut down)."""
    deadline = time.monotonic() + wait_s
    while remove_stale_temporaries(folder, names) and time.monotonic() < deadline:
        time.sleep(0.1)


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
