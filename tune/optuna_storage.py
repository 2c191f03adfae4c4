"""The study's Optuna history on disk (`runs/NAME/optuna.journal`), where Optuna's own tools
(optuna-dashboard, `optuna.load_study`) can open it, during the study and after.

Optuna's journal file storage, not SQLite: the searcher runs on the driver only, so one writer;
the journal is an append-only log (a crash or a full disk can cut only its last record, which
`repair_journal` removes), it needs no database, and its lock is a lock file, which works on a
folder every node mounts (NFS), where SQLite's locking is documented as unreliable. A study in
an object store (s3://, gs://) keeps its Optuna history in memory, as before: appending to an
object is not possible.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

JOURNAL_FILE = "optuna.journal"
LOST_NOTE = "lost_in_interruption"


def journal_path(study_folder: Path) -> Path:
    """Where a study's Optuna journal lives."""
    return Path(study_folder) / JOURNAL_FILE


def journal_storage(study_folder: Path) -> JournalStorage:
    """The Optuna storage of a local study folder (made if it is not there yet)."""
    study_folder.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(journal_path(study_folder))))


def repair_journal(study_folder: Path) -> str | None:
    """Cut a last record that was written only in part (a full disk, a killed driver): Optuna
    skips it when it is last, but fails on the next read once a record follows it. A note for
    the user when something was cut, else None."""
    path = journal_path(study_folder)
    if not path.is_file():
        return None
    content = path.read_bytes()
    if not content or content.endswith(b"\n"):
        return None
    whole = content.rfind(b"\n") + 1
    with open(path, "r+b") as journal:
        journal.truncate(whole)
    return (
        f"note: the Optuna journal's last record was cut short ({len(content) - whole} bytes, "
        "written while the disk was full?); it was removed, the study's own state is whole"
    )


def close_lost_trials(study: optuna.Study, known_trial_ids: set[int]) -> int:
    """Optuna trials the journal shows running that the restored study does not know (created
    after its last saved state, so they never run again): marked failed, so that no tool shows
    them running for ever. How many there were."""
    lost = [
        frozen
        for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if frozen._trial_id not in known_trial_ids
    ]
    for frozen in lost:
        study._storage.set_trial_user_attr(frozen._trial_id, LOST_NOTE, True)
        study._storage.set_trial_state_values(frozen._trial_id, optuna.trial.TrialState.FAIL)
    return len(lost)
