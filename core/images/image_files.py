"""Image files read as a person sees them: the one reader of every command (training, prepare,
predict, export's calibration, the summary), and the one list of image types they accept.

- Orientation: a phone stores a photo taken sideways as it left the sensor, with an EXIF tag
  that says how to turn it (orientation 6: a quarter turn clockwise). The picture is turned as
  every viewer turns it. OpenCV's decoder does this for JPEG, PNG, TIFF and WebP (all eight
  orientations, pixel for pixel what Pillow's `ImageOps.exif_transpose` gives) when it is not
  asked for the file's channels unchanged: READ_FLAGS keep the bit depth and drop alpha
  instead, which the grey conversion dropped anyway.
- Several frames (an animated GIF, WebP or PNG, a multi-page TIFF, a camera's multi-picture
  JPEG): the first frame is read, the one a viewer shows first (a camera's main picture); the
  number of frames is kept, so that `core.prepare` can say so.
- Before any pixel is decoded, a file is read whole but bounded (files.read_bounded) and its
  header's size is judged (check_declared_size): a decompression bomb never reaches a decoder.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import DataError
from ..files import IMAGE_BYTES_LIMIT, read_bounded

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"}
)
IMAGE_KINDS = ", ".join(sorted(IMAGE_SUFFIXES))
READ_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR  # EXIF orientation applied, depth kept
MIN_IMAGE_SIDE = 24  # the Haar face detector's window
MAX_IMAGE_PIXELS = 100_000_000  # a 100-megapixel photograph; CK+ frames are 0.3
MAX_SHOWN = f"{MAX_IMAGE_PIXELS // 1_000_000} million pixels any photograph here may have"
ORIENTATION_TAG = 0x0112
QUARTER_TURNS = frozenset({5, 6, 7, 8})  # orientations that swap width and height
# A bad file is reported once, as a DataError naming it; OpenCV's own warnings would add lines.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@dataclass(frozen=True)
class Header:
    """What an image file's header declares, as a person would see the picture."""

    width: int
    height: int
    frames: int  # frames the file holds; only the first is read
    colour: bool


@dataclass(frozen=True)
class GreyImage:
    """An image file's first frame, upright, as 8-bit grey."""

    pixels: np.ndarray  # (height, width) uint8
    frames: int


def is_image_file(path: Path) -> bool:
    """Whether a file's name ends in one of the image types every command reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def check_image_type(path: Path, where: str | None = None) -> Path:
    """`path` if its type is one of IMAGE_SUFFIXES; a DataError naming the types otherwise."""
    if not is_image_file(path):
        raise DataError(f"{where or path}: not an image type read here ({IMAGE_KINDS})")
    return Path(path)


def read_grey(path: Path) -> np.ndarray:
    """Any 8/16-bit grey, colour, RGBA or palette image as upright 8-bit grey."""
    return read_grey_image(path).pixels


def read_grey_image(path: Path) -> GreyImage:
    """An image file's first frame, upright, as 8-bit grey, with its number of frames; a bad
    file is a DataError naming it."""
    try:
        raw = read_bounded(Path(path), IMAGE_BYTES_LIMIT)
    except OSError as error:
        raise DataError(f"{path}: image cannot be read ({error.strerror})") from None
    if not raw:
        raise DataError(f"{path}: image file is empty (0 bytes)")
    header = check_declared_size(path, raw)
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), READ_FLAGS)
    if image is None or image.size == 0:
        raise DataError(f"{path}: not a readable image (corrupt, truncated or not an image)")
    return GreyImage(_to_grey_uint8(image), header.frames if header else 1)


def check_declared_size(path: Path, raw: bytes) -> Header | None:
    """The header of an image that passes: refused by the size it declares, before a decoder
    allocates it, when it could not hold a face or has more pixels than any photograph (a
    decompression bomb). None for formats Pillow cannot read: they are left to OpenCV, whose
    own pixel limit then applies."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: judged here
        try:
            with Image.open(io.BytesIO(raw)) as image:
                header = header_of(image)
        except Image.DecompressionBombError as error:  # Pillow's own limit: far over ours
            pixels = re.search(r"\((\d+) pixels\)", str(error))
            declared = f"{int(pixels[1]):,} pixels" if pixels else "more pixels than Pillow reads"
            raise DataError(f"{path}: image declares {declared}, over the {MAX_SHOWN}") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            return None
    width, height = header.width, header.height
    if min(width, height) < MIN_IMAGE_SIDE:
        raise DataError(
            f"{path}: image is {width}x{height} pixels, too small to hold a face "
            f"(at least {MIN_IMAGE_SIDE} a side, the face detector's window)"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{path}: image declares {width}x{height} pixels, over the {MAX_SHOWN}")
    return header


def header_of(image: Image.Image) -> Header:
    """An opened image's header facts; its pixels are not decoded."""
    width, height = image.size
    if _orientation(image) in QUARTER_TURNS:
        width, height = height, width
    return Header(width, height, _frames(image), _is_colour(image))


def _orientation(image: Image.Image) -> int:
    if image.format == "PNG" and "exif" not in image.info:
        return 1  # Pillow would decode every pixel to look for an eXIf chunk after them
    try:
        return int(image.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # Pillow fails on a damaged EXIF block in many ways; the decoder skips it
        return 1


def _frames(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except Exception:  # a damaged later frame (TypeError, KeyError, ...): the first is still read
        return 1


def _is_colour(image: Image.Image) -> bool:
    if image.mode == "P":
        palette = image.getpalette() or []
        triples = zip(palette[0::3], palette[1::3], palette[2::3], strict=False)
        return any(r != g or g != b for r, g, b in triples)
    return image.mode in {"RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"}


def _to_grey_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3:
        return np.ascontiguousarray(image[:, :, 0])
    return image
