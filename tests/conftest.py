"""Fixtures that build tiny data sources in the official formats."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:
    from core.data.dataset import TrainingData

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class Sequence:
    subject: str
    number: str
    code: int | None  # CK+ emotion code; None = unlabelled
    aus: Iterable[tuple[int, int]] = ()  # (AU, intensity)
    frames: int = 3
    colour: bool = False
    facs: bool = True


def ck_float(value: float) -> str:
    """CK+'s own number format: `   7.0000000e+00`."""
    return f"   {value:.7e}"


def write_image(path: Path, size: tuple[int, int] = (64, 48), colour: bool = False, seed: int = 0):
    width, height = size
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if colour else (height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rng.integers(0, 255, shape, dtype=np.uint8))
    return path


EXIF_ORIENTATION = 0x0112
SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}, "PNG": {}, "TIFF": {}}


def write_exif_turned(picture: np.ndarray, orientation: int, path: Path, kind: str = "JPEG"):
    """`picture` (grey or RGB) as a phone stores it: pixels as the sensor gave them, with the
    EXIF orientation that turns them upright (3: half a turn, 6: a quarter turn clockwise)."""
    from PIL import Image

    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}
    image = Image.fromarray(picture)
    if orientation in undo:
        image = image.transpose(undo[orientation])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    image.save(path, kind, exif=exif, **SAVE_OPTIONS[kind])
    return path


def make_ckplus(root: Path, sequences: Iterable[Sequence]) -> Path:
    """A CK+ folder: images, Emotion and FACS files as the official release lays them out."""
    for index, seq in enumerate(sequences):
        folder = root / "cohn-kanade-images" / seq.subject / seq.number
        folder.mkdir(parents=True, exist_ok=True)
        name = ""
        for frame in range(1, seq.frames + 1):
            name = f"{seq.subject}_{seq.number}_{frame:08d}"
            write_image(folder / f"{name}.png", colour=seq.colour, seed=index * 100 + frame)
        if seq.code is None or not seq.frames:
            continue
        emotion = root / "Emotion" / seq.subject / seq.number / f"{name}_emotion.txt"
        emotion.parent.mkdir(parents=True, exist_ok=True)
        emotion.write_text(ck_float(seq.code) + "\n")
        if seq.facs:
            facs = root / "FACS" / seq.subject / seq.number / f"{name}_facs.txt"
            facs.parent.mkdir(parents=True, exist_ok=True)
            facs.write_text("".join(f"{ck_float(a)}{ck_float(i)}\n" for a, i in seq.aus))
    for name in ("cohn-kanade-images", "Emotion", "FACS"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def small_ckplus(tmp_path: Path) -> Path:
    """5 labelled sequences (one colour, one without FACS), 1 unlabelled, 1 empty, junk files."""
    root = make_ckplus(
        tmp_path / "ck",
        [
            Sequence("S005", "001", 3, [(9, 4), (17, 2), (14, 0)]),
            Sequence("S005", "002", 5, [(6, 3), (12, 4), (25, 0)], colour=True),
            Sequence("S010", "001", 7, [(1, 2), (2, 2), (5, 1), (27, 3)], frames=4),
            Sequence("S010", "002", 6, [(1, 1), (4, 2), (15, 3)]),
            Sequence("S011", "001", 1, [(4, 3)], facs=False),
            Sequence("S011", "002", None),
        ],
    )
    (root / "cohn-kanade-images" / "S011" / "003").mkdir()
    (root / "cohn-kanade-images" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / "cohn-kanade-images" / "S005" / "001" / "Thumbs.db").write_bytes(b"junk")
    (root / "Emotion" / "S005" / ".DS_Store").write_bytes(b"junk")
    return root


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FERTUNE_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def small_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small built-in-style set (24 subjects, 72 labelled images) in the CK+ layout."""
    from core.data.synthetic import generate

    root = tmp_path_factory.mktemp("synthetic") / "ck"
    return generate(root, seed=1, n_subjects=24, n_labelled=72, n_unlabelled=2)


@pytest.fixture(scope="module")
def tiny_data() -> TrainingData:
    """60 images of 20 subjects whose emotion is a bright square in one of three places."""
    from core.data.dataset import TrainingData
    from core.data.split import split_by_subject
    from core.images.preprocess import PreparedData

    rng = np.random.default_rng(0)
    n = 60
    emotions = np.tile([0, 1, 2], n // 3)
    images = rng.integers(0, 60, (n, 48, 48), dtype=np.uint8)
    for i, emotion in enumerate(emotions):
        images[i, 8 + 12 * emotion : 20 + 12 * emotion, 10:38] = 230
    aus = np.zeros((n, 15), np.float32)
    aus[:, 0] = emotions == 2
    aus[:, 7] = emotions == 1
    subjects = np.repeat([f"S{i:02d}" for i in range(20)], 3)
    prepared = PreparedData(
        images=images,
        emotions=emotions.astype(np.int64),
        aus=aus,
        subjects=subjects,
        face_found=np.ones(n, bool),
        paths=[f"img{i}.png" for i in range(n)],
        au_list=tuple(range(1, 16)),
    )
    return TrainingData(prepared, split_by_subject(emotions, subjects, seed=0))


@pytest.fixture(autouse=True, scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory):
    """Preparation caches of the tests never land in the user's cache folder."""
    previous = os.environ.get("FERTUNE_CACHE")
    os.environ["FERTUNE_CACHE"] = str(tmp_path_factory.mktemp("fertune-cache"))
    yield
    if previous is None:
        os.environ.pop("FERTUNE_CACHE", None)
    else:
        os.environ["FERTUNE_CACHE"] = previous


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    """A 2-CPU local Ray for a test module's studies, run in-process (`tune.run` then uses it as
    it is). address="local": a Ray of its own, even when another one runs on this machine (a
    parallel test worker's), which ray.init would otherwise join."""
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture
def study_ray():
    """A local Ray started as `python -m tune.run` starts it (`start_ray`), stopped after."""
    import ray

    from tune.tuner import start_ray

    if ray.is_initialized():
        ray.shutdown()
    assert start_ray(None, dashboard=False) is True
    yield ray
    ray.shutdown()


def start_study(args: list[str], **env: str):
    """`python -m tune.run ARGS` as its own process (so tests can signal or kill the driver)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "tune.run", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Touch:
    """Loaded from a pickle, it runs `touch PATH`: what a hostile study folder would hold."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def hostile_pickle(marker: Path) -> bytes:
    """A pickle that creates `marker` when it is loaded."""
    import pickle

    return pickle.dumps(Touch(marker))


def mount_tmpfs(folder: Path, options: str) -> None:
    """A small filesystem at `folder` (a full disk on demand); the test is skipped where
    mounting is not allowed. The caller unmounts it (`umount -l`)."""
    import subprocess

    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


def as_the_flat_layout_wrote_it(model_file: Path) -> int:
    """Rewrite a .keras file as a model saved before core/'s rooms: every module its config names
    back to the flat layout's path (core.model.builders -> core.model.builders). Names rewritten."""
    import json
    import zipfile

    from core import MOVED

    flat = {home: old for old, home in MOVED.items()}
    rewritten = 0

    def back(value: object) -> None:
        nonlocal rewritten
        if isinstance(value, dict):
            if value.get("module") in flat:
                value["module"] = flat[value["module"]]
                rewritten += 1
            for inner in value.values():
                back(inner)
        elif isinstance(value, list):
            for inner in value:
                back(inner)

    with zipfile.ZipFile(model_file) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(model_file, "w") as archive:
        for info, content in members:
            if info.filename == "config.json":
                config = json.loads(content)
                back(config)
                content = json.dumps(config).encode()
            archive.writestr(info, content)
    return rewritten
