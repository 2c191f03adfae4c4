"""`python -m core.prepare`: what the model sees, from files, folders, CK+ and CSV sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

from core.images.preprocess import prepare_image
from core.prepare import RECORDS_FILE, SHEET_FILE, THUMB, main
from tests.conftest import mount_tmpfs, write_exif_turned, write_image

KEYS = {"path", "face_found", "box", "landmarks", "score", "angle", "frames", "output"}


@pytest.fixture
def portrait(tmp_path: Path) -> Path:
    """A real face photograph (inside matplotlib's wheel)."""
    source = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return Path(shutil.copy(source, tmp_path / "grace_hopper.jpg"))


def test_files_and_folders_give_crops_json_lines_and_a_contact_sheet(
    portrait: Path, tmp_path: Path, capsys
):
    folder = tmp_path / "more"
    write_image(folder / "noise.png", size=(200, 150), seed=3)  # no face in noise
    shutil.copy(portrait, folder / "sub_portrait.jpg")
    out = tmp_path / "out"
    assert main([str(portrait), str(folder), "--out", str(out), "--size", "64", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    records = [json.loads(line) for line in lines]  # one valid JSON object per line
    assert [Path(r["path"]).name for r in records] == [
        "grace_hopper.jpg",
        "noise.png",
        "sub_portrait.jpg",
    ]
    assert all(set(r) == KEYS for r in records)
    face, noise, _ = records
    assert face["face_found"] and set(face["landmarks"]) >= {"left_eye", "right_eye"}
    assert not noise["face_found"] and noise["box"] is None and noise["angle"] == 0
    crop = cv2.imread(face["output"], cv2.IMREAD_UNCHANGED)
    expected = prepare_image(portrait, size=64).image  # exactly what training prepares
    np.testing.assert_array_equal(crop, expected)
    saved = [json.loads(line) for line in (out / RECORDS_FILE).read_text().splitlines()]
    assert [s["output"] for s in saved] == [Path(r["output"]).name for r in records]
    sheet = cv2.imread(str(out / SHEET_FILE))
    assert sheet.shape == (THUMB, 3 * THUMB, 3)
    border = sheet[THUMB // 2, THUMB + 1]  # the no-face tile is framed in red
    assert border[2] > 200 and border[0] < 50 and border[1] < 50


def test_a_ckplus_folder_and_a_csv_manifest_give_their_labelled_images(
    small_ckplus: Path, tmp_path: Path, capsys
):
    manifest = tmp_path / "csv" / "labels.csv"
    write_image(manifest.parent / "a.png", seed=1)
    manifest.write_text("path,subject,emotion,aus\na.png,s1,3,1+2\n")
    out = tmp_path / "out"
    code = main([str(small_ckplus), str(manifest), "--out", str(out), "--detector", "haar"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "prepared 5 images with haar" in printed and f"in {out}" in printed
    assert len(list(out.glob("[0-9]*_*.png"))) == 5  # 4 labelled CK+ peaks and the CSV's image


def test_a_phone_photo_stored_turned_gives_the_upright_photos_crop(tmp_path: Path, capsys):
    """Orientation 6 (a quarter turn) and 3 (half a turn): before EXIF was read, the quarter
    turn found no face. JPEG compresses the turned pixels apart, which moves the box a pixel or
    two: the crops must correlate as closely as that allows (a sideways crop: 0.06; the upright
    one moved by 3 px: 0.77)."""
    source = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(source) as image:
        picture = np.asarray(image.convert("RGB"))
    folder = tmp_path / "phone"
    folder.mkdir()
    for orientation in (1, 3, 6):
        write_exif_turned(picture, orientation, folder / f"o{orientation}.jpg")
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--size", "160", "--json"]) == 0
    upright, *turned = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    crop = cv2.imread(upright["output"], cv2.IMREAD_UNCHANGED).astype(float).ravel()
    for record in turned:
        assert record["face_found"] and record["frames"] == 1
        assert np.abs(np.subtract(record["box"], upright["box"])).max() <= 2
        assert abs(record["angle"] - upright["angle"]) <= 0.5
        other = cv2.imread(record["output"], cv2.IMREAD_UNCHANGED).astype(float).ravel()
        assert np.corrcoef(other, crop)[0, 1] >= 0.95


def test_a_file_of_several_frames_is_said_to_give_its_first(portrait: Path, tmp_path: Path, capsys):
    with Image.open(portrait) as image:
        first = image.convert("L")
    animation = tmp_path / "blink.gif"
    first.save(animation, save_all=True, append_images=[first.rotate(90), first.rotate(180)])
    assert main([str(animation), str(portrait), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "several frames (the first of each was prepared) in 1:" in printed
    assert f"  {animation}" in printed and f"  {portrait}" not in printed
    saved = (tmp_path / "out" / RECORDS_FILE).read_text().splitlines()
    assert [json.loads(line)["frames"] for line in saved] == [3, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/nope.png"], "{tmp}/nope.png: no such image file or folder"),
        (["{tmp}/face.png", "--size", "8"], "--size: expected a whole number from"),
        (["{tmp}/face.png", "--detector", "dlib"], "--detector: invalid choice: 'dlib'"),
        (["{tmp}/face.png", "--out", "{tmp}/face.png"], "exists and is not a folder"),
    ],
)
def test_a_mistake_is_one_line_and_writes_nothing(args, message, tmp_path: Path, capsys):
    write_image(tmp_path / "face.png")
    before = sorted(tmp_path.rglob("*"))
    argv = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message.format(tmp=tmp_path) in error[0]
    assert sorted(tmp_path.rglob("*")) == before


def test_a_folder_that_is_not_empty_is_refused(tmp_path: Path, capsys):
    write_image(tmp_path / "face.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    assert main([str(tmp_path / "face.png"), "--out", str(tmp_path / "out")]) == 2
    assert "folder exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


@pytest.mark.slow
def test_a_ctrl_c_while_preparing_is_one_line_and_leaves_nothing(tmp_path: Path):
    import signal
    import subprocess
    import sys
    import time

    images = tmp_path / "images"
    for index in range(150):  # about 4 s of MTCNN: time to be interrupted in the middle
        write_image(images / f"{index:03d}.png", size=(320, 240), seed=index)
    out = tmp_path / "out"
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "core.prepare", str(images), "--out", str(out), "--json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal starts it: a suite run in the background (`pytest &`) has SIGINT
        # ignored, which a child inherits, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(any(p.iterdir()) for p in tmp_path.glob(".out.tmp-*")):  # crops being written
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    printed, said = process.communicate(timeout=60)
    assert process.returncode == 130, said
    assert said.splitlines()[-1] == "interrupted; nothing half-written is left", said
    assert "Traceback" not in said and printed == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]  # no --out, no temporary


def test_a_full_disk_under_out_is_one_line_and_leaves_nothing(tmp_path: Path, capsys):
    import subprocess

    for index in range(30):
        write_image(tmp_path / "images" / f"{index:02d}.png", size=(320, 240), seed=index)
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "size=64k")
    try:
        out = disk / "out"
        assert main([str(tmp_path / "images"), "--out", str(out), "--detector", "haar"]) == 2
        said = capsys.readouterr().err.strip().splitlines()
        assert said == [
            f"error: --out {out}: not written (No space left on device); nothing half-written "
            "is left"
        ]
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
