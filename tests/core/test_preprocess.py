from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.data.sources import read_ckplus
from core.errors import DataError
from core.images.faces import DEFAULT_DETECTOR, DETECTORS, square_crop
from core.images.image_files import read_grey
from core.images.preprocess import crop_and_resize, prepare, prepare_image


def test_sixteen_bit_rgba_and_palette_images_are_converted(tmp_path: Path):
    sixteen = tmp_path / "16.png"
    cv2.imwrite(str(sixteen), np.full((30, 36), 40000, dtype=np.uint16))
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (36, 30), (200, 100, 50, 128)).save(rgba)
    palette = tmp_path / "palette.png"
    Image.new("RGB", (36, 30), (10, 200, 10)).convert("P").save(palette)
    assert read_grey(sixteen).dtype == np.uint8 and read_grey(sixteen)[0, 0] == 40000 >> 8
    assert read_grey(rgba).shape == (30, 36)
    expected_rgba = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert abs(int(read_grey(rgba)[0, 0]) - expected_rgba) <= 1
    assert read_grey(palette).shape == (30, 36) and read_grey(palette).dtype == np.uint8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "image file is empty (0 bytes)"),
        (b"this is not an image at all", "not a readable image"),
        ("truncated", "not a readable image"),
    ],
)
def test_bad_image_files_fail_with_their_path(tmp_path: Path, content, message: str):
    path = tmp_path / "bad.png"
    if content == "truncated":
        cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        read_grey(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_square_crop_pads_beyond_the_border_with_the_edge():
    image = np.arange(20, dtype=np.uint8).reshape(4, 5)
    crop = square_crop(image, (0, 0), 4)
    assert crop.shape == (4, 4)
    assert crop[0, 0] == image[0, 0] and crop[3, 3] == image[1, 1]


def test_no_face_falls_back_to_a_centre_crop(tmp_path: Path):
    path = tmp_path / "noise.png"
    image = np.zeros((60, 100), np.uint8)
    image[:, 20:80] = 255
    cv2.imwrite(str(path), image)
    for detector in DETECTORS:
        prepared = prepare_image(path, size=30, detector=detector)
        assert not prepared.face_found and prepared.angle == 0
        assert prepared.image.shape == (30, 30) and prepared.image.min() == 255


def test_preparation_is_cached_and_keyed_by_settings(small_ckplus: Path, tmp_path: Path):
    source = read_ckplus(small_ckplus)
    cache = tmp_path / "prep"
    first = prepare(source, size=32, cache_dir=cache, progress=False)
    assert first.images.shape == (4, 32, 32) and first.images.dtype == np.uint8
    assert len(list(cache.glob("[0-9a-f]*[0-9a-f]"))) == 1
    os.utime(source.records[0].path, ns=(0, 0))  # unchanged content, changed mtime
    second = prepare(source, size=32, cache_dir=cache, progress=False)
    assert len(list(cache.glob("[0-9a-f]*[0-9a-f]"))) == 2
    np.testing.assert_array_equal(first.images, second.images)
    prepare(source, size=40, cache_dir=cache, progress=False)
    assert len(list(cache.glob("[0-9a-f]*[0-9a-f]"))) == 3
    other = next(d for d in DETECTORS if d != DEFAULT_DETECTOR)
    prepare(source, size=40, detector=other, cache_dir=cache, progress=False)
    assert len(list(cache.glob("[0-9a-f]*[0-9a-f]"))) == 4  # the detector is in the key
    assert not list(cache.glob(".*.tmp-*"))


def test_second_preparation_reads_the_cache(small_ckplus: Path, tmp_path: Path, monkeypatch):
    source = read_ckplus(small_ckplus)
    prepare(source, size=32, cache_dir=tmp_path, progress=False)
    monkeypatch.setattr(
        "core.images.preprocess.prepare_images", lambda *a, **k: pytest.fail("again")
    )
    again = prepare(source, size=32, cache_dir=tmp_path, progress=False)
    assert again.images.shape == (4, 32, 32)
    assert again.emotions.tolist() == [r.emotion for r in source.records]
    assert again.aus.shape == (4, 15)


def zero_the_pixels(images_npy: Path) -> None:
    """Keep the .npy header, zero the data: a valid-looking array of black images."""
    content = images_npy.read_bytes()
    header = len(content) - 4 * 32 * 32
    images_npy.write_bytes(content[:header] + bytes(4 * 32 * 32))


def cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (zero_the_pixels, "its contents do not match their checksums"),
        (cut_in_half, "ValueError"),
        (lambda path: (path.parent / "checksums.json").unlink(), "FileNotFoundError"),
    ],
)
def test_a_damaged_cache_is_said_once_prepared_again_and_repaired(
    small_ckplus: Path, tmp_path: Path, capsys, damage, reason: str
):
    source = read_ckplus(small_ckplus)
    first = prepare(source, size=32, cache_dir=tmp_path, progress=False)
    (images_npy,) = tmp_path.glob("*/images.npy")
    damage(images_npy)
    capsys.readouterr()
    second = prepare(source, size=32, cache_dir=tmp_path, progress=False)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"warning: preparation cache {images_npy.parent} is damaged (")
    assert reason in line and line.endswith("preparing the images again")
    np.testing.assert_array_equal(second.images, first.images)
    third = prepare(source, size=32, cache_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == ""  # the cache was written again, whole
    np.testing.assert_array_equal(third.images, first.images)


def test_a_bad_image_stops_preparation_and_writes_no_cache(small_ckplus: Path, tmp_path: Path):
    source = read_ckplus(small_ckplus)
    source.records[2].path.write_bytes(b"")
    with pytest.raises(DataError, match="0 bytes"):
        prepare(source, size=32, cache_dir=tmp_path / "c", progress=False)
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


def test_crop_and_resize_takes_the_centre():
    images = np.zeros((2, 10, 10), np.uint8)
    images[:, 3:7, 3:7] = 200
    out = crop_and_resize(images, 0.4, 4)
    assert out.shape == (2, 4, 4) and (out == 200).all()
    assert crop_and_resize(images, 1.0, 5).shape == (2, 5, 5)
