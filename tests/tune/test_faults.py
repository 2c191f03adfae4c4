"""Faults a long study must survive, on a real local Ray with the tiny space.

Covered here: a trial's worker SIGKILLed mid-training (retried from its checkpoint), the driver
SIGKILLed (`--resume` finishes the study, nothing re-run or lost), a worker node lost on a
multi-node cluster, and a storage folder that cannot be written. Ctrl-C is covered by
tests/test_tune.py::test_interrupted_study_resumes_with_every_trial_once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import mount_tmpfs, start_study
from tune.ray_compat import WORKER_DEATH_NOTICE
from tune.trainable import HOLD_EPOCH_ENV, PID_DIR_ENV

DONE = {"met-targets", "pruned", "finished"}
# Perfect emotion and AU scores at once: out of a smoke trial's reach, so it trains all its epochs.
UNREACHABLE = ["--target", "val_emotion_accuracy=1", "--target", "val_au_f1_macro=1"]


def driver(args: list[str], pids: Path, **env: str) -> subprocess.Popen:
    return start_study(args, **{PID_DIR_ENV: str(pids)}, **env)


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def starts(pids: Path) -> dict[str, list[int]]:
    """trial id -> the pids of its starts, trials in the order they first started.

    One file a start: `<trial>.<pid>.pid`, written by the trial (tune.trainable.write_pid).
    """
    found = []
    for path in pids.glob("*.pid"):
        trial, pid, _ = path.name.rsplit(".", 2)
        found.append((path.stat().st_mtime_ns, trial, int(pid)))
    ordered: dict[str, list[int]] = {}
    for _, trial, pid in sorted(found):
        ordered.setdefault(trial, []).append(pid)
    return ordered


def finish(process: subprocess.Popen, timeout: float) -> str:
    output, _ = process.communicate(timeout=timeout)
    return output


@pytest.mark.slow
def test_a_killed_trial_is_retried_from_its_checkpoint(small_synthetic: Path, tmp_path: Path):
    pids = tmp_path / "pids"
    args = ["--smoke-test", "--data", str(small_synthetic), "--storage", str(tmp_path)]
    # The trial's first start waits after reporting epoch 2: `tune.report` has returned, so Tune
    # has registered that epoch's checkpoint (a checkpoint folder in the storage alone is not one
    # Tune restores from), and epoch 3 cannot finish before the kill lands.
    hold = {HOLD_EPOCH_ENV: "2"}
    # The study's own temporary folder (short: Ray's sockets go in it too), to see what is left.
    scratch = Path(tempfile.mkdtemp(prefix="ft-", dir="/tmp"))
    study = driver(
        [*args, "--name", "kill", "--num-samples", "1", *UNREACHABLE],
        pids,
        **hold,
        TMPDIR=str(scratch),
    )
    try:
        held = wait_for(lambda: next(pids.glob("*.held"), None), 150, "the trial to hold")
        trial_id, pid, _ = held.name.rsplit(".", 2)
        os.kill(int(pid), signal.SIGKILL)
        killed_at = time.monotonic()
        held.unlink()
        output = finish(study, 150)
    finally:
        study.kill()
        left = sorted(p.name for p in scratch.iterdir() if p.name != "ray")  # Ray's session logs
        shutil.rmtree(scratch, ignore_errors=True)
    assert study.returncode == 0, output
    # The killed start's scratch (its best model) went with the retry; the retry's at its end.
    assert not left, f"left in the temporary folder: {left}"
    table = pd.read_csv(tmp_path / "kill" / "results.csv", dtype={"trial_id": str})
    (row,) = table.to_dict("records")
    assert row["trial_id"] == trial_id and row["status"] in DONE
    assert row["retries"] >= 1 and row["epochs"] == 3
    assert starts(pids)[trial_id][0] == int(pid)
    assert len(starts(pids)[trial_id]) == 2, "the trial was not started again"
    (progress,) = (tmp_path / "kill").glob("trial_*/progress.csv")
    epochs = pd.read_csv(progress)["epoch"].tolist()
    assert epochs.count(1) == 1, f"the retry started from scratch, not its checkpoint: {epochs}"
    assert time.monotonic() - killed_at < 150
    (said,) = [line for line in output.splitlines() if f"{trial_id} failed: " in line]
    assert said.endswith("retrying from its last checkpoint (failure 1)"), said
    assert "Traceback" not in output
    assert WORKER_DEATH_NOTICE not in output  # Ray's 900-character notice: said in our line


@pytest.mark.slow
def test_a_killed_driver_resumes_without_rerunning_or_losing_a_trial(
    small_synthetic: Path, tmp_path: Path
):
    from ray.tune.search.optuna import OptunaSearch

    pids = tmp_path / "pids"
    args = ["--smoke-test", "--data", str(small_synthetic), "--storage", str(tmp_path)]
    args += ["--name", "cut", "--num-samples", "3", "--max-concurrent", "1"]
    study = driver(args, pids)
    try:
        wait_for(lambda: len(starts(pids)) >= 2, 200, "a second trial to start", poll=0.2)
        study.send_signal(signal.SIGKILL)
        study.wait(30)
    finally:
        study.kill()
    before = starts(pids)
    finished = list(before)[:-1]  # one trial at a time: every trial before the last had ended
    resumed = driver(["--resume", "--name", "cut", "--storage", str(tmp_path)], pids)
    try:
        output = finish(resumed, 200)
    finally:
        resumed.kill()
    assert resumed.returncode == 0, output
    table = pd.read_csv(tmp_path / "cut" / "results.csv", dtype={"trial_id": str})
    assert len(table) == 3 and table["trial_id"].is_unique
    assert set(table["status"]) <= DONE
    assert set(before) <= set(table["trial_id"]), "a trial started before the kill is missing"
    after = starts(pids)
    rerun = {trial: after[trial] for trial in finished if after[trial] != before[trial]}
    assert not rerun, f"finished trials ran again after --resume: {rerun}"
    searcher = OptunaSearch()
    # The resumed run's state file is the newest by the timestamp in its name (a sync copies
    # every state file at once, so their mtimes tie).
    searcher.restore(str(max((tmp_path / "cut").glob("searcher-state-*.pkl"))))
    told = searcher._ot_study.trials
    assert len(told) == 3, "the Optuna history did not carry over the trials before the kill"


def _node_of(pid: int, cluster) -> object:
    """The cluster node whose raylet started the worker `pid`."""
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for node in cluster.list_all_nodes():
        raylets = node.all_processes.get("raylet", [])
        if any(info.process.pid == parent for info in raylets):
            return node
    raise AssertionError(f"worker {pid} (parent {parent}) belongs to no node of the cluster")


@pytest.mark.slow
def test_a_lost_worker_node_has_its_trial_rescheduled_and_the_study_finishes(
    small_synthetic: Path, tmp_path: Path, monkeypatch
):
    import ray
    from ray.cluster_utils import Cluster

    from tune.run import main as tune_main

    assert not ray.is_initialized()
    pids = tmp_path / "pids"
    monkeypatch.setenv(PID_DIR_ENV, str(pids))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    lost: list[object] = []

    def lose_the_node_of_the_first_trial() -> None:
        def on_a_worker():
            for first, *_ in starts(pids).values():
                try:
                    node = _node_of(first, cluster)
                except (OSError, AssertionError):  # the worker is gone or not yet a child
                    continue
                if node in workers:
                    return node
            return None

        node = wait_for(on_a_worker, 150, "a trial on a worker node", poll=0.2)
        cluster.remove_node(node)  # at once: the trial is mid-start or mid-training
        lost.append(node)

    killer = threading.Thread(target=lose_the_node_of_the_first_trial, daemon=True)
    killer.start()
    try:
        code = tune_main(
            ["--smoke-test", "--data", str(small_synthetic), "--storage", f"file://{tmp_path}"]
            + ["--name", "lost", "--num-samples", "3", "--max-concurrent", "2"]
            + ["--address", cluster.address, *UNREACHABLE]
        )
        killer.join(10)
    finally:
        cluster.shutdown()
    assert code == 0 and lost, "no node was removed during the study"
    table = pd.read_csv(tmp_path / "lost" / "results.csv", dtype={"trial_id": str})
    assert len(table) == 3 and set(table["status"]) <= DONE
    assert table["retries"].max() >= 1


@pytest.mark.slow
def test_a_full_storage_is_one_line_and_the_study_resumes_once_space_is_freed(
    small_synthetic: Path, tmp_path: Path
):
    storage = tmp_path / "small"
    mount_tmpfs(storage, "size=1m")
    try:
        args = ["--smoke-test", "--data", str(small_synthetic), "--storage", str(storage)]
        first = driver(
            [*args, "--name", "full", "--num-samples", "2", "--max-failures", "0"], tmp_path
        )
        output = finish(first, 200)
        assert first.returncode == 2, output
        last = output.strip().splitlines()[-1]
        assert last.startswith(f"error: --storage {storage}: no space left on device"), output
        assert last.endswith(f"--resume --name full --storage {storage}")
        assert "Traceback" not in output  # errors are one line each; the trials' are on disk
        assert re.search(r" errored: OSError: .*No space left on device \(see ", output), output
        subprocess.run(["mount", "-o", "remount,size=512m", str(storage)], check=True)
        # Tune writes its state in place: the full disk may have cut a file short (it did in
        # about 1 run of 3, and Tune then started the study over). Cut the searcher's short
        # every time: the resume must go back to the last whole copy.
        searcher_state = max((storage / "full").glob("searcher-state-*.pkl"))
        searcher_state.write_bytes(searcher_state.read_bytes()[:100])
        resumed = driver(["--resume", "--name", "full", "--storage", str(storage)], tmp_path)
        output = finish(resumed, 200)
        assert resumed.returncode == 0, output
        # The full disk may have cut another state file short too: the note names them all.
        (note,) = [line for line in output.splitlines() if line.startswith("note: the study's")]
        assert note.startswith("note: the study's saved state was damaged (") and (
            f"{searcher_state.name} do" in note or f"{searcher_state.name}, " in note
        ), note
        table = pd.read_csv(storage / "full" / "results.csv", dtype={"trial_id": str})
        assert len(table) == 2 and set(table["status"]) <= DONE, table.to_string()
    finally:
        subprocess.run(["umount", "-l", str(storage)], check=False)


def test_a_read_only_storage_is_one_line_before_any_work(tmp_path: Path, capfd):
    from tune.run import main as tune_main

    readonly = tmp_path / "ro"
    mount_tmpfs(readonly, "ro,size=1m")
    try:
        code = tune_main(["--smoke-test", "--storage", str(readonly / "runs"), "--name", "x"])
    finally:
        subprocess.run(["umount", str(readonly)], check=True)
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"error: --storage {readonly}/runs: {readonly} is not writable"]
