"""bench/peers.py in its tiny mode: every peer really runs, is measured and lands in the table."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_peers_benchmark_runs_every_tool_in_tiny_mode(small_synthetic: Path, tmp_path: Path, peers):
    # Targets every first epoch meets, so each tool's time-to-target path is exercised.
    targets = ["--target", "val_emotion_accuracy=0", "--target", "val_au_binary_accuracy=0"]
    command = [sys.executable, str(ROOT / "bench" / "peers.py"), "--tiny"]
    command += ["--data", str(small_synthetic), "--out", str(tmp_path), *targets]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert [run["tool"] for run in runs] == list(peers.TOOLS)
    assert len(peers.TOOLS) == 5
    for run in runs:
        assert run["seed"] == 0
        assert 0 < run["time_to_target_s"] < run["wall_s"], run
        assert 1 <= run["trials_finished"] <= run["trials_started"], run
        assert run["epochs"] >= 1 and run["cpu_s"] > 0, run
        assert math.isfinite(run["best_val_score"]), run
        assert 0 <= run["test_emotion_accuracy"] <= 1 and 0 <= run["test_au_f1_macro"] <= 1, run
    assert sum(run["trials_started"] for run in runs if run["tool"] == "ours") <= 2
    table = (tmp_path / "table.md").read_text()
    for tool in peers.TOOLS:
        assert f"| {tool} |" in table
    assert "goal ours/kt-hyperband <= 0.5" in table and "goal ours/optuna <= 0.7" in table
    assert table.splitlines()[0] in done.stdout


@pytest.fixture
def peers(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import peers

    return peers


def run_of(peers, tool: str, time_to_target: float | None, wall_s: float):
    outcome = {"tool": tool, "seed": 0, "time_to_target_s": time_to_target}
    return peers.Run(outcome=outcome, wall_s=wall_s, cpu_s=1.0)


@pytest.mark.parametrize(
    ("ours", "peer", "shown", "met"),
    [
        ((30.0, 100.0), (100.0, 100.0), "0.30", True),  # both reached: the plain ratio
        ((30.0, 100.0), (None, 200.0), "< 0.15", True),  # the peer never did: below its wall time
        ((None, 100.0), (500.0, 600.0), "> 0.20", False),  # only the peer did: never a goal met
        ((None, 100.0), (None, 100.0), "n/a (neither reached)", False),
    ],
)
def test_time_ratio_is_a_bound_when_a_tool_never_reached_the_targets(
    peers, ours: tuple, peer: tuple, shown: str, met: bool
):
    rows = peers.summarise([run_of(peers, "ours", *ours), run_of(peers, "optuna", *peer)])
    (line,) = [line for line in peers.goal_lines(rows) if "optuna" in line]
    assert line == f"goal ours/optuna <= 0.7: {shown}, {'met' if met else 'NOT met'}"
