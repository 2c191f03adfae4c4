"""The whole copy of a study's saved state, and the repair a resume makes with it."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import pytest

from core.errors import ConfigError, StorageError
from tests.conftest import hostile_pickle
from tune.saved_state import (
    BACKUP_NAME,
    read_backup,
    refuse_untrusted_state,
    repair_saved_state,
    save_backup,
)

SESSION = "2026-11-25_10-00-00"
LATER = "2026-11-25_11-00-00"


def write_state(folder: Path, session: str, trials: int) -> dict[str, bytes]:
    """The three files Tune saves, in its formats (JSON; pickles), holding `trials` trials."""
    folder.mkdir(parents=True, exist_ok=True)
    experiment = {"trial_data": list(range(trials))}
    searcher = {"_sampler": None, "_study_name": "s", "_space": None, "trials": trials}
    files = {
        f"experiment_state-{session}.json": json.dumps(experiment).encode(),
        f"search_gen_state-{session}.json": pickle.dumps({"counter": trials, "total_samples": 4}),
        f"searcher-state-{session}.pkl": pickle.dumps(searcher),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return files


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_whole_state_files_are_left_as_they_are(tmp_path: Path):
    files = write_state(tmp_path, SESSION, trials=2)
    assert repair_saved_state(tmp_path) is None
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_a_cut_short_file_is_set_aside_and_the_whole_copy_put_back(tmp_path: Path):
    study = tmp_path / "study"
    study.mkdir()
    saved = write_state(tmp_path / "staging", SESSION, trials=2)
    save_backup(tmp_path / "staging", study)
    # The next save (a later session's) reached the storage only in part.
    write_state(study, SESSION, trials=2)
    later = write_state(study, LATER, trials=3)
    cut_short(study / f"searcher-state-{LATER}.pkl")

    note = repair_saved_state(study)

    assert note is not None and note.startswith("note: the study's saved state was damaged")
    assert f"searcher-state-{LATER}.pkl does not load" in note
    for name, content in saved.items():
        assert (study / name).read_bytes() == content
    assert (study / f"searcher-state-{LATER}.pkl.damaged").exists()
    for name in later:
        assert not (study / name).exists()
        if "searcher-state" not in name:
            assert (study / f"{name}.superseded").read_bytes() == later[name]
    assert repair_saved_state(study) is None  # Tune now reads the whole copy


def test_a_damaged_state_without_a_whole_copy_is_one_line(tmp_path: Path):
    write_state(tmp_path, SESSION, trials=2)
    cut_short(tmp_path / f"experiment_state-{SESSION}.json")
    with pytest.raises(StorageError) as raised:
        repair_saved_state(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    assert f"experiment_state-{SESSION}.json does not load" in message
    assert BACKUP_NAME in message
    assert (tmp_path / f"experiment_state-{SESSION}.json").exists()  # nothing moved


@pytest.mark.parametrize(
    "member", ["../searcher-state-x.pkl", "/tmp/searcher-state-x.pkl", "notes.txt"]
)
def test_a_copy_with_a_foreign_or_missing_member_is_no_copy(tmp_path: Path, member: str):
    files = write_state(tmp_path / "staging", SESSION, trials=1)
    with zipfile.ZipFile(tmp_path / BACKUP_NAME, "w") as archive:
        for name, content in files.items():
            if "searcher-state" not in name:
                archive.writestr(name, content)
        archive.writestr(member, pickle.dumps({}))
    assert read_backup(tmp_path) is None


def test_a_cut_short_copy_is_no_copy(tmp_path: Path):
    write_state(tmp_path / "staging", SESSION, trials=1)
    save_backup(tmp_path / "staging", tmp_path)
    assert read_backup(tmp_path) is not None
    cut_short(tmp_path / BACKUP_NAME)
    assert read_backup(tmp_path) is None


def test_a_full_disk_keeps_the_previous_copy(tmp_path: Path):
    study = tmp_path / "small"
    study.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(study)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        saved = write_state(tmp_path / "first", SESSION, trials=2)
        save_backup(tmp_path / "first", study)
        big = tmp_path / "second"
        write_state(big, LATER, trials=2)
        # Random bytes do not compress: this copy cannot fit in what is left.
        (big / f"searcher-state-{LATER}.pkl").write_bytes(pickle.dumps(os.urandom(1 << 17)))
        save_backup(big, study)
        assert read_backup(study) == saved
        assert sorted(p.name for p in study.iterdir()) == [BACKUP_NAME]  # no temporary left
    finally:
        subprocess.run(["umount", "-l", str(study)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_state_files_of_another_user_are_refused_before_tune_reads_them(tmp_path: Path):
    write_state(tmp_path, SESSION, trials=2)
    refuse_untrusted_state(tmp_path, "--resume --name s:", "s")  # the user's own: trusted
    os.chown(tmp_path / f"searcher-state-{SESSION}.pkl", 1000, 1000)
    with pytest.raises(ConfigError) as refused:
        refuse_untrusted_state(tmp_path, "--resume --name s:", "s")
    assert str(refused.value).startswith(
        f"--resume --name s: {tmp_path}/searcher-state-{SESSION}.pkl: owned by user 1000, not by"
    )


def test_a_hostile_member_of_the_whole_copy_is_refused(tmp_path: Path):
    study = tmp_path / "study"
    study.mkdir()
    write_state(tmp_path / "staging", SESSION, trials=2)
    (tmp_path / "staging" / f"searcher-state-{SESSION}.pkl").write_bytes(
        hostile_pickle(tmp_path / "marker")
    )
    save_backup(tmp_path / "staging", study)
    with pytest.raises(ConfigError, match=f"{BACKUP_NAME}: names posix.system"):
        refuse_untrusted_state(study, "--resume --name s:", "s")
    assert read_backup(study) is not None  # whole, yet never loaded
    assert not (tmp_path / "marker").exists()
