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
import os
import stat
import time
import zipfile
from pathlib import Path

from core.errors import ConfigError, StorageError
from core.files import replace_atomically, write_bytes_atomically

from .pickle_scan import Scan, embedded_pickles, scan

BACKUP_NAME = "state-backup.zip"
TUNER_FILE = "tuner.pkl"  # Tune's saved Tuner: written once when the study starts
# Tune's own names (TuneController.CKPT_FILE_TMPL, SearchGenerator.CKPT_FILE_TMPL,
# Searcher.CKPT_FILE_TMPL), each with the session's start time in the star.
STATE_PATTERNS = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def readable(name: str, content: bytes) -> bool:
    """Whether a state file is whole: the experiment state is JSON, the other two are pickles
    (read as opcodes, never loaded: tune.pickle_scan)."""
    if not name.startswith("experiment_state-"):
        return scan(content).whole
    try:
        json.loads(content)
    except ValueError:  # cut short (or not UTF-8)
        return False
    return True


# What each of Tune's state files holds at its top: a dict with these keys (Tune's own layouts,
# read from the opcodes). Another pickle in its place made Tune log "Failed to restore the run
# state" and start the study over in the same folder, exit 0.
LAYOUTS = {
    TUNER_FILE: ("Tune's saved Tuner", {"_tune_config", "_run_config"}),
    "searcher-state-*.pkl": ("a searcher's state", {"_sampler", "_study_name", "_space"}),
    "search_gen_state-*.json": ("a search generator's state", {"counter", "total_samples"}),
}
NAMED = (TUNER_FILE, "searcher-state-*.pkl")  # they name the study they were saved for


def refuse_untrusted_state(study: Path, option: str, name: str) -> None:
    """Before Tune unpickles a study's saved state on --resume: each file it may read is one
    its user could have written (owned by them, writable by no one else, as ssh judges its
    keys; the folder too); each pickle in it imports only what a study's state holds
    (tune.pickle_scan), is what its name says and, for the Tuner and the searcher, belongs to
    the study `name` (study.json's). ConfigError naming the first file that is not; a file cut
    short is left to repair_saved_state."""
    trust = "resume only study folders you trust"
    files = [study, study / TUNER_FILE, study / BACKUP_NAME]
    files += sorted(path for pattern in STATE_PATTERNS for path in study.glob(pattern))
    for path in files:
        if not path.exists():
            continue
        info = path.stat()
        if info.st_uid != os.geteuid():
            raise ConfigError(
                f"{option} {path}: owned by user {info.st_uid}, not by you: Tune's saved state "
                f"is code to Python; {trust}"
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(
                f"{option} {path}: writable by others (mode {stat.filemode(info.st_mode)}): "
                f"Tune's saved state is code to Python; {trust} (chmod go-w to trust this one)"
            )
        if path.is_dir():
            continue
        for member, content in members_of(path).items():
            shown = path if member == path.name else f"{path} ({member})"
            scans = [scan(pickle) for pickle in pickles_in(member, content)]
            refused = sorted({item for found in scans for item in found.refused()})
            if refused:
                raise ConfigError(
                    f"{option} {path}: names {', '.join(refused[:3])}, which no saved study "
                    f"holds: loading it could run code, so the study is not resumed; {trust}"
                )
            wrong = layout_problem(member, scans[0], name) if len(scans) == 1 else None
            if wrong:
                raise ConfigError(f"{option} {shown}: {wrong}; the study is not resumed")


def layout_problem(file_name: str, found: Scan, study_name: str) -> str | None:
    """What is wrong with a whole state file's layout (`found`: its pickle's scan), in words;
    None when it is what its name says (or cut short: repair_saved_state's to handle)."""
    kind = next((k for k in LAYOUTS if Path(file_name).match(k)), None)
    if kind is None or not found.whole:
        return None
    what, keys = LAYOUTS[kind]
    if found.top != "EMPTY_DICT" or not keys <= found.strings:
        return f"not {what} (a pickle of something else)"
    if kind in NAMED and study_name not in found.strings:
        return f"{what} of another study (it does not name {study_name!r}, study.json's)"
    return None


def members_of(path: Path) -> dict[str, bytes]:
    """A state file's content by name, or a whole copy's members; {} when it cannot be read."""
    try:
        if path.name != BACKUP_NAME:
            return {path.name: path.read_bytes()}
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return {}  # read_backup and repair_saved_state say what is wrong with it


def pickles_in(name: str, content: bytes) -> list[bytes]:
    """The pickles Tune would load from one state file: the file itself, or the experiment
    state's embedded ones ([] when it is not JSON: repair_saved_state handles that)."""
    if not name.startswith("experiment_state-"):
        return [content]
    with contextlib.suppress(ValueError):
        return list(embedded_pickles(content.decode()))
    return []


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
