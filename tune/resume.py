"""`tune.run --resume`: the saved study, checked and repaired before Ray Tune reads it, and
refused options that would change it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from core.cli import Parser
from core.errors import ConfigError
from core.folder_lock import folder_lock

from .optuna_storage import repair_journal
from .saved_state import TUNER_FILE, refuse_untrusted_state, repair_saved_state
from .storage import is_remote, join_storage, local_folder, resolve_storage
from .study import StudySettings

# What --resume may be given: where the study is, how to reach Ray, and whether to write the
# report. Everything else is the study's own, saved in study.json and Tune's tuner.pkl.
RESUME_OPTIONS = frozenset(
    {
        "resume",
        "name",
        "storage",
        "address",
        "dashboard",
        "optuna_dashboard",
        "shared_storage",
        "no_report",
    }
)


def refuse_changes_on_resume(args, parser: Parser) -> None:
    """A resumed study runs as it was saved: an option that would change it is refused, not
    silently ignored."""
    changed = [
        action.option_strings[0]
        for action in parser._actions  # argparse keeps no public list of a parser's options
        if action.dest not in RESUME_OPTIONS
        and action.dest in vars(args)  # not --help
        and getattr(args, action.dest) != action.default
    ]
    if changed:
        raise ConfigError(
            f"--resume continues the study as it was saved (study.json): "
            f"{', '.join(changed)} cannot be given with it"
        )


def load_study_to_resume(args, held: contextlib.ExitStack) -> StudySettings:
    """The saved settings of the study --name in --storage: the folder named, even when it was
    renamed or copied since (its study.json still holds the old name). A local study's lock
    goes into `held` before anything in the folder is read or repaired."""
    if not args.name:
        raise ConfigError("--resume needs --name NAME of the study to continue")
    storage = resolve_storage(args.storage)
    folder = join_storage(storage, args.name)
    if not is_remote(folder) and not Path(folder).is_dir():
        raise ConfigError(f"--resume --name {args.name}: no study at {folder}")
    local = local_folder(folder)  # None for an object store
    if local is not None:
        held.enter_context(folder_lock(local, f"--resume --name {args.name}:"))
    settings = StudySettings.load(folder)  # a folder or a URI
    saved_name = settings.name  # Tune's state names it, even in a renamed or copied folder
    settings.storage = storage
    settings.name = args.name
    settings.report = settings.report and not args.no_report
    if local is not None:
        if not (local / TUNER_FILE).is_file():
            raise ConfigError(
                f"--resume --name {args.name}: {folder} holds no saved Tune state ({TUNER_FILE} "
                "is missing): the study never started; remove the folder or pick another name, "
                "and start it without --resume"
            )
        refuse_untrusted_state(local, f"--resume --name {args.name}:", saved_name)
        note = repair_saved_state(local)  # Tune would silently start over on a damaged file
        if note:
            print(note, flush=True)
        note = repair_journal(local)
        if note:
            print(note, flush=True)
    return settings
