"""One writer per folder: a lock held for a command's life on the study or output folder it
writes, so a second run on the same folder is refused in one line naming the first one's process
(two `tune.run --name X` at once both ran in one folder, one died on a shared temporary name, and
results.csv and the journal disagreed afterwards).

The lock is the kernel's (`flock`): a killed holder releases it with its last descriptor, so a
lock file left by a `kill -9` never blocks the next run. Local folders only: an object store
(s3://, gs://) has no such lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError, shortened

LOCK_NAME = ".fertune.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, option: str) -> Iterator[None]:
    """Hold `folder`'s lock for the block (the folder is made when missing); ConfigError naming
    the holder's process when another run holds it. `option` names the folder in that line."""
    folder = Path(folder).absolute()
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # to remove if left empty
    folder.mkdir(parents=True, exist_ok=True)
    entries, times = _listing(folder)
    path = folder / LOCK_NAME
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 4096).decode(errors="replace").strip()
            os.close(descriptor)
            raise ConfigError(
                f"{option} {folder}: in use by process {shortened(holder, 120) or '(starting)'}; "
                "wait for it to end or stop it"
            ) from None
        if _still_named(descriptor, path):  # not removed by a holder that ended meanwhile
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} ({' '.join(sys.argv)})".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # before the release: a waiting run finds it gone, retries
        os.close(descriptor)
        if _listing(folder)[0] == entries:  # a run refused after all: the lock leaves no trace
            os.utime(folder, ns=times)
            for empty in made:
                with contextlib.suppress(OSError):
                    empty.rmdir()


def _listing(folder: Path) -> tuple[frozenset[str], tuple[int, int]]:
    """A folder's entries and its access and change times."""
    info = folder.stat()
    return frozenset(os.listdir(folder)), (info.st_atime_ns, info.st_mtime_ns)


def _still_named(descriptor: int, path: Path) -> bool:
    """Whether `path` still names the file open as `descriptor`."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
