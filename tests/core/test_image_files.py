"""Image files read as a person sees them: EXIF orientation, the first of several frames, one
list of image types (core.images.image_files)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from core.errors import DataError
from core.images.image_files import IMAGE_SUFFIXES, check_image_type, read_grey, read_grey_image
from core.summary import image_facts
from tests.conftest import EXIF_ORIENTATION, SAVE_OPTIONS, write_exif_turned


def gradient(width: int = 60, height: int = 40) -> np.ndarray:
    """A picture no turn or flip leaves unchanged: every pixel differs from its mirror images."""
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs * 3 + ys * 1.5 + 7).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", sorted(SAVE_OPTIONS))
@pytest.mark.parametrize("orientation", [3, 6])
def test_a_photo_stored_turned_reads_upright(tmp_path: Path, kind: str, orientation: int):
    picture = gradient()
    upright = read_grey(write_exif_turned(picture, 1, tmp_path / "upright", kind))
    turned = read_grey(write_exif_turned(picture, orientation, tmp_path / "turned", kind))
    assert turned.shape == picture.shape == upright.shape
    tolerance = 3 if kind == "JPEG" else 0  # JPEG compresses the turned pixels a little apart
    assert np.abs(turned.astype(int) - upright.astype(int)).max() <= tolerance


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_every_orientation_reads_as_pillows_exif_transpose_shows_it(tmp_path: Path, kind: str):
    picture = gradient()
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}"
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        Image.fromarray(picture).save(path, kind, exif=exif, **SAVE_OPTIONS[kind])
        # From bytes: Pillow 13 forgets a TIFF file's orientation once it has loaded the pixels.
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            shown = np.asarray(ImageOps.exif_transpose(image).convert("L"))
        read = read_grey(path)
        assert read.shape == shown.shape, orientation
        assert np.abs(read.astype(int) - shown.astype(int)).max() <= 1, orientation


def test_the_summary_gives_a_sideways_photo_its_upright_size(tmp_path: Path):
    path = write_exif_turned(gradient(60, 40), 6, tmp_path / "sideways.jpg")
    with Image.open(path) as image:
        assert image.size == (40, 60)  # stored as the sensor gave it
    assert image_facts(path) == ("60x40", False)


def frames_file(tmp_path: Path, kind: str, suffix: str) -> Path:
    """Two frames: the gradient, then its negative."""
    first = Image.fromarray(gradient())
    second = Image.fromarray(255 - gradient())
    if kind == "WEBP":
        first, second = first.convert("RGB"), second.convert("RGB")
    path = tmp_path / f"two{suffix}"
    first.save(path, kind, save_all=True, append_images=[second], **SAVE_OPTIONS.get(kind, {}))
    return path


@pytest.mark.parametrize(
    ("kind", "suffix"), [("GIF", ".gif"), ("TIFF", ".tif"), ("WEBP", ".webp"), ("PNG", ".png")]
)
def test_a_file_of_several_frames_gives_its_first_and_says_how_many(
    tmp_path: Path, kind: str, suffix: str
):
    read = read_grey_image(frames_file(tmp_path, kind, suffix))
    assert read.frames == 2
    assert np.abs(read.pixels.astype(int) - gradient().astype(int)).max() <= 1


def test_a_damaged_later_frame_still_gives_the_first(tmp_path: Path):
    """Pillow raised TypeError ("Missing dimensions") counting the frames of such a TIFF."""
    path = frames_file(tmp_path, "TIFF", ".tif")
    raw = bytearray(path.read_bytes())
    second = struct.unpack_from("<I", raw, 4)[0]  # the first directory's offset ...
    entries = struct.unpack_from("<H", raw, second)[0]
    second = struct.unpack_from("<I", raw, second + 2 + 12 * entries)[0]  # ... its next one's
    for index in range(struct.unpack_from("<H", raw, second)[0]):
        struct.pack_into("<H", raw, second + 2 + 12 * index, 0xFFF0 + index)  # unknown tags
    path.write_bytes(bytes(raw))
    read = read_grey_image(path)
    assert read.frames == 1 and read.pixels.shape == (40, 60)


def test_a_damaged_exif_block_is_ignored_as_viewers_ignore_it(tmp_path: Path):
    encoded = io.BytesIO()
    Image.fromarray(gradient()).save(encoded, "JPEG", quality=95)
    segment = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05" + b"\xff" * 30
    raw = encoded.getvalue()
    raw = raw[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + raw[2:]
    path = tmp_path / "odd.jpg"
    path.write_bytes(raw)
    assert read_grey(path).shape == (40, 60)


def test_one_list_of_image_types_judges_a_named_file(tmp_path: Path):
    assert {".jpg", ".png", ".tif", ".webp", ".gif"} <= IMAGE_SUFFIXES
    assert check_image_type(tmp_path / "Face.JPG") == tmp_path / "Face.JPG"
    with pytest.raises(DataError) as error:
        check_image_type(tmp_path / "notes.txt")
    assert str(error.value).startswith(f"{tmp_path / 'notes.txt'}: not an image type read here")
    assert ".gif, .jpeg, .jpg" in str(error.value)
