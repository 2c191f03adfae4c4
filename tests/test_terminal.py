"""What a user reads: no TensorFlow start-up noise from any command, and a mistake found after
TensorFlow has loaded is still one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.quiet import CUDA_NOISE, NOISE

ROOT = Path(__file__).resolve().parents[1]
NOISE_MARKS = ("absl::InitializeLog", "cuInit", "cudart_stub", "cpu_feature_guard", "oneDNN")


def run(*args: str) -> subprocess.CompletedProcess:
    # As a user's fresh shell has it: no TF_CPP_MIN_LOG_LEVEL (conftest sets one for the suite).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    "line",
    [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795637146.793439   26619 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1795637146.793789   26619 cudart_stub.cc:31] Could not find cuda drivers",
        "E0000 00:00:1795637150.815482   26619 cuda_platform.cc:52] failed call to cuInit: X",
        "I0000 00:00:1795637146.874583   26619 cpu_feature_guard.cc:227] This TensorFlow binary",
    ],
)
def test_start_up_notices_are_recognised(line: str):
    assert NOISE.search(line) or CUDA_NOISE.search(line)


def test_a_real_error_is_not_taken_for_noise():
    line = "E0000 00:00:1.0 1 op_kernel.cc:1830] OP_REQUIRES failed: Out of memory"
    assert not NOISE.search(line) and not CUDA_NOISE.search(line)


@pytest.mark.slow
def test_training_prints_no_start_up_noise(small_synthetic: Path, tmp_path: Path):
    done = run(
        "core.train", "--data", str(small_synthetic), "--out", str(tmp_path / "out"),
        "--input-size", "32", "--epochs", "1", "--sample-size", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for mark in NOISE_MARKS:
        assert mark not in done.stderr and mark not in done.stdout, mark
    assert "epoch 1/1" in done.stdout
    assert re.search(r"^data: \d+ images, .* mtcnn found a face in \d+ \(\d+%\)", done.stdout, re.M)


@pytest.mark.slow
def test_a_mistake_found_after_tensorflow_loaded_is_one_line(small_synthetic: Path, tmp_path):
    weights = tmp_path / "broken.weights.h5"
    weights.write_bytes(b"not an HDF5 file")
    done = run(
        "core.train", "--data", str(small_synthetic), "--out", str(tmp_path / "out"),
        "--input-size", "32", "--epochs", "1", "--backbone-weights", str(weights),
    )  # fmt: skip
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and "broken.weights.h5" in done.stderr
    assert not (tmp_path / "out").exists()


def test_preparing_with_mtcnn_prints_only_its_json_lines(tmp_path: Path):
    """MTCNN loads TensorFlow: none of its start-up notices may reach the user."""
    import matplotlib.cbook

    portrait = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    done = run("core.prepare", str(portrait), "--out", str(tmp_path / "out"), "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert '"face_found": true' in line
