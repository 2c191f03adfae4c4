"""Where a study's files go: a local folder or a URI (s3://, gs://, file://) that Ray Tune and
pyarrow understand. Every "is this remote?" question of the project is asked here."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError, first_line
from core.files import check_output_folder, scratch_folder


def is_remote(storage: str) -> bool:
    """A URI rather than a local path (Tune and pyarrow read both)."""
    return "://" in storage


def local_folder(location: str) -> Path | None:
    """The folder on this machine's filesystem that a path or a file:// URI names; None for an
    object store (s3://, gs://, ...)."""
    if not is_remote(location):
        return Path(location)
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    return None


def resolve_storage(storage: str) -> str:
    """A URI as given; a local path made absolute (trials run in other working folders)."""
    return storage if is_remote(storage) else str(Path(storage).resolve())


def join_storage(storage: str, name: str) -> str:
    """`storage/name` for a folder or a URI."""
    return f"{storage.rstrip('/')}/{name}" if is_remote(storage) else str(Path(storage) / name)


def read_text(location: str) -> str | None:
    """A small text file from a local path or a URI (through pyarrow, as Ray Tune reads
    storage); None when there is no such file."""
    if not is_remote(location):
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
        reason = first_line(error)
        raise ConfigError(f"--resume: cannot read {location} ({reason})") from None


def check_local_storage(storage: str) -> None:
    """A local --storage must be (or be creatable in) a writable folder: say so before any work.

    Only the check is made here; nothing is created until the study starts writing.
    """
    if not is_remote(storage):
        check_output_folder("--storage", Path(storage))


def storage_is_full(storage: str, probe_bytes: int = 1 << 16) -> bool:
    """Whether a local --storage cannot take even a small file for want of space (ENOSPC)."""
    if is_remote(storage):
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


def write_into(location: str, write: Callable[[Path], None]) -> Path | None:
    """Let `write(folder)` fill a folder that ends up at `location`.

    Local: the folder is `location` itself (returned). Remote: a temporary folder, uploaded
    into the URI and removed (returns None).
    """
    if not is_remote(location):
        folder = Path(location)
        folder.mkdir(parents=True, exist_ok=True)
        write(folder)
        return folder
    with scratch_folder("upload") as folder:
        write(folder)
        upload(folder, location)
    return None


def upload(folder: Path, uri: str) -> None:
    """Copy a local folder's files into a storage URI."""
    import pyarrow.fs

    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    filesystem.create_dir(path, recursive=True)
    pyarrow.fs.copy_files(str(folder), path, destination_filesystem=filesystem)
