"""core.files: bounded reads, strict JSON, temporaries of dead writers, workers that die with
their parent."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import DataError
from core.files import (
    folder_in_place,
    read_bounded,
    remove_stale_temporaries,
    replace_atomically,
    scratch_folder,
    strict_json,
    temporary_path,
)

REPO = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    """The id of a process that has ended (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path):
    dead = tmp_path / f".set.tmp-{dead_pid()}-0123abcd"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "frame.png").write_bytes(b"half")
    dead_file = tmp_path / f".images.npy.tmp-{dead_pid()}-feedf00d"
    dead_file.write_bytes(b"half")
    live = temporary_path(tmp_path, "set")
    live.mkdir()
    finished = tmp_path / "set"
    finished.mkdir()
    remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "set"])


def test_a_scratch_folder_is_removed_on_error_and_a_dead_jobs_by_the_next(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    left = tmp_path / f".fertune-trial.tmp-{dead_pid()}-0123abcd"  # a killed trial's
    (left / "model.keras").parent.mkdir()
    (left / "model.keras").write_bytes(b"19 MB")
    others = tmp_path / f".editor.tmp-{dead_pid()}-0123abcd"  # not ours: left alone
    others.write_bytes(b"")
    with pytest.raises(KeyboardInterrupt), scratch_folder("trial") as scratch:
        assert scratch.parent == tmp_path and not left.exists()
        assert scratch.stat().st_mode & 0o777 == 0o700
        (scratch / "model.keras").write_bytes(b"best")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == [others.name]


def test_a_device_is_refused_before_it_is_read(tmp_path: Path):
    link = tmp_path / "frame.png"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match=r"frame.png: not a regular file \(a character device\)"):
        read_bounded(link, 1 << 20)


def test_a_file_over_its_limit_is_refused(tmp_path: Path):
    big = tmp_path / "labels.csv"
    big.write_bytes(b"x" * 101)
    assert read_bounded(big, 101) == b"x" * 101
    with pytest.raises(DataError, match="101 bytes or more, over the 100 such a file may have"):
        read_bounded(big, 100)


def test_strict_json_writes_null_for_what_is_not_a_number():
    text = strict_json({"f1": math.nan, "per_au": [1.0, math.inf], "n": 3})
    assert json.loads(text) == {"f1": None, "per_au": [1.0, None], "n": 3}
    assert "NaN" not in text and "Infinity" not in text


def test_pool_workers_die_with_the_command_that_started_them(tmp_path: Path):
    script = tmp_path / "pool.py"
    script.write_text(
        "import time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "import os\n"
        "from core.data.synthetic.write import _clean_context, exit_with\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(2, mp_context=_clean_context(),"
        " initializer=exit_with, initargs=(os.getpid(),)) as pool:\n"
        "        futures = [pool.submit(time.sleep, 600) for _ in range(2)]\n"
        "        time.sleep(1)\n"
        "        print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "        time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(workers) == 2
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(alive(pid) for pid in workers), "pool workers outlived their parent"
    finally:
        parent.kill()


def alive(pid: int) -> bool:
    """Running, not a zombie awaiting its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_replaced_folder_is_whole_old_or_whole_new(tmp_path: Path):
    report = tmp_path / "report"
    report.mkdir()
    for name in ("index.html", "old.png", "baselines.json"):
        (report / name).write_text(f"old {name}")
    with (
        pytest.raises(RuntimeError),
        folder_in_place(report, replace=True, keep=("baselines.json",)) as new,
    ):
        (new / "new.png").write_text("half of a report")
        raise RuntimeError("a figure failed")
    assert sorted(p.name for p in report.iterdir()) == ["baselines.json", "index.html", "old.png"]
    with folder_in_place(report, replace=True, keep=("baselines.json",)) as new:
        assert (new / "baselines.json").read_text() == "old baselines.json"
        (new / "index.html").write_text("new page")
    assert sorted(p.name for p in report.iterdir()) == ["baselines.json", "index.html"]
    assert (report / "index.html").read_text() == "new page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporaries left


def test_two_writers_of_one_file_never_share_a_temporary(tmp_path: Path):
    seen = []

    def write(temporary: Path) -> None:
        seen.append(temporary)
        temporary.write_text("whole")

    for _ in range(2):
        replace_atomically(tmp_path / "results.csv", write)
    first, second = seen
    assert first != second and first.name.startswith(f".results.csv.tmp-{os.getpid()}-")
    assert first.suffix == ".csv"  # writers that go by the suffix (Keras) still can
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
