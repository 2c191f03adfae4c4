"""A whole copy of the study's saved state, and the check a resume makes before trusting it.

Tune writes its state (the experiment state, the search generator's, the searcher's) into the
storage file by file, in place. On a full disk a file is cut short; a resume then fails to read
it and Tune silently starts the study over (`TuneController.__init__` catches the error), which
dropped trials and drew new ones. So every time Tune saves, the three files just written also go
into one zip in the study folder, renamed into place only when whole. A resume reads the newest
state files first; when one is damaged it sets aside every state file newer than the last whole
copy and puts that copy back. Object stores (s3://, gs://) write each object whole, so only a
folder on a filesystem (a path or file://) needs this.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import time
import zipfile
from pathlib import Path

from core.errors import StorageError
from core.files import replace_atomically, write_bytes_atomically

BACKUP_NAME = "state-backup.zip"
TUNER_FILE = "tuner.pkl"  # Tune's saved Tuner: written once when the study starts
# Tune's own names (TuneController.CKPT_FILE_TMPL, SearchGenerator.CKPT_FILE_TMPL,
# Searcher.CKPT_FILE_TMPL), each with the session's start time in the star.
STATE_PATTERNS = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def readable(name: str, content: bytes) -> bool:
    """Whether a state file loads: the experiment state is JSON, the other two are pickles."""
    try:
        if name.startswith("experiment_state-"):
            json.loads(content)
        else:
            pickle.loads(content)
    except Exception:  # a cut-short file fails in many ways (EOFError, UnpicklingError, ...)
        return False
    return True


def newest_state_files(folder: Path) -> list[Path]:
    """The state files a resume reads: the newest of each kind, as Tune picks them (by name)."""
    newest = (max(folder.glob(pattern), default=None) for pattern in STATE_PATTERNS)
    return [path for path in newest if path is not None]


def save_backup(source: Path, study: Path) -> None:
    """Zip the newest state files of `source` (Tune's staging folder) into `study`, whole or not
    at all: on a full disk the previous copy stays."""
    files = newest_state_files(source)
    if len(files) < len(STATE_PATTERNS):
        return

    def write(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.name)

    # On a full disk Tune's own save fails too, and the study stops with the full-disk message.
    with contextlib.suppress(OSError):
        replace_atomically(study / BACKUP_NAME, write)


def read_backup(study: Path) -> dict[str, bytes] | None:
    """The last whole copy's files by name, or None when there is none that loads."""
    try:
        with zipfile.ZipFile(study / BACKUP_NAME) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return None
    kinds = [kind_of(name) for name in files]
    if None in kinds or sorted(kinds) != sorted(STATE_PATTERNS):  # one of each, plain names
        return None
    return files if all(map(readable, files, files.values())) else None


def kind_of(name: str) -> str | None:
    """The state pattern a plain file name matches (None for a path or another name)."""
    if Path(name).name != name:
        return None
    return next((pattern for pattern in STATE_PATTERNS if Path(name).match(pattern)), None)


def repair_saved_state(study: Path) -> str | None:
    """Make the study's newest state files whole before Tune reads them.

    None when they already load. Otherwise the damaged and newer files are renamed aside
    (`.damaged`, `.superseded`: nothing is deleted), the last whole copy is put back, and a
    line for the user says so. StorageError when there is no whole copy to go back to.
    """
    newest = newest_state_files(study)
    damaged = [path for path in newest if not readable(path.name, path.read_bytes())]
    if not damaged:
        return None
    backup = read_backup(study)
    names = ", ".join(path.name for path in damaged)
    names += " does not load" if len(damaged) == 1 else " do not load"
    if backup is None:
        raise StorageError(
            f"--resume: {study}: the study's saved state is damaged ({names}: "
            f"written while the disk was full?) and there is no whole copy ({BACKUP_NAME})"
        )
    try:
        for name, content in backup.items():
            for path in study.glob(kind_of(name)):
                if path.name >= name:
                    aside = "damaged" if path in damaged else "superseded"
                    path.rename(path.with_name(f"{path.name}.{aside}"))
            write_bytes_atomically(study / name, content)
    except OSError as error:
        raise StorageError(f"--resume: {study}: cannot put back the whole copy ({error})") from None
    saved = time.strftime("%H:%M:%S", time.localtime((study / BACKUP_NAME).stat().st_mtime))
    return (
        f"note: the study's saved state was damaged ({names}: written while the "
        f"disk was full?); resuming from its last whole copy, saved at {saved}"
    )
