"""One writer per folder (core.folder_lock), with real processes holding the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.folder_lock import LOCK_NAME, folder_lock

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from core.folder_lock import folder_lock
with folder_lock(sys.argv[1], "--out"):
    print("held", flush=True)
    time.sleep(60)
"""


def holder(folder: Path) -> subprocess.Popen:
    """Another process holding `folder`'s lock (returns once it does)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_naming_the_first_and_a_killed_one_blocks_nobody(
    tmp_path: Path,
):
    out = tmp_path / "out"
    first = holder(out)
    try:
        with pytest.raises(ConfigError) as refused, folder_lock(out, "--out"):
            pass
        said = str(refused.value)
        assert said.startswith(f"--out {out.absolute()}: in use by process {first.pid} ("), said
        assert said.endswith("; wait for it to end or stop it")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (out / LOCK_NAME).exists()  # a kill -9 leaves the file, not the lock
    with folder_lock(out, "--out"):
        (out / "model.keras").write_bytes(b"")
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]


def test_a_lock_that_wrote_nothing_leaves_no_trace(tmp_path: Path):
    made = tmp_path / "new" / "out"
    with folder_lock(made, "--out"):
        assert made.is_dir()
    assert list(tmp_path.iterdir()) == []  # the folders it made for the lock are gone too
    kept = tmp_path / "study"
    kept.mkdir()
    (kept / "study.json").write_text("{}")
    os.utime(kept, ns=(1_000_000_000, 2_000_000_000))
    time.sleep(0.01)
    with folder_lock(kept, "--name s:"):
        pass
    assert kept.stat().st_mtime_ns == 2_000_000_000
    assert [p.name for p in kept.iterdir()] == ["study.json"]
