"""Grey, face-centred square crop and resize: done once per data source and cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.records import Record, Source
from ..errors import DataError, first_line
from ..files import folder_in_place
from ..paths import cache_root
from .faces import DEFAULT_DETECTOR, Face, check_detector, detect_faces, face_square
from .image_files import GreyImage, read_grey_image

PREPARATION_VERSION = 4  # 2: checksums; 3: MTCNN, eyes levelled; 4: EXIF turns, batch-free boxes
CHECKSUM_FILE = "checksums.json"
DEFAULT_PREPARED_SIZE = 480
MAX_PREPARED_SIZE = 2048  # 560 squares of 2048 px are 2.3 GB; larger is a typo, not a plan
DEFAULT_FACE_MARGIN = 1.6
DETECTION_BATCH = 16  # images whose faces are found in one call (MTCNN batches those of a shape)


@dataclass
class PreparedData:
    """Arrays for every record, ready for any trial: images (n, size, size) uint8 grey."""

    images: np.ndarray
    emotions: np.ndarray  # (n,) int64
    aus: np.ndarray  # (n, k) float32 0/1
    subjects: np.ndarray  # (n,) str
    face_found: np.ndarray  # (n,) bool
    paths: list[str]
    au_list: tuple[int, ...]
    detector: str = DEFAULT_DETECTOR  # the face detector the squares were cut with

    @property
    def size(self) -> int:
        """The side of the prepared squares, in pixels."""
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class PreparedImage:
    """One image as the model's square, with the face it was cut around and the turn applied."""

    image: np.ndarray  # (size, size) uint8 grey
    face: Face | None  # None: no face found, the image's centre square was used
    angle: float  # degrees turned to level the eyes (0 without landmarks)
    frames: int = 1  # frames the file holds: the first was prepared (image_files)

    @property
    def face_found(self) -> bool:
        """Whether the square is cut around a detected face."""
        return self.face is not None


def prepare_images(
    paths: Sequence[Path],
    size: int = DEFAULT_PREPARED_SIZE,
    margin: float = DEFAULT_FACE_MARGIN,
    detector: str = DEFAULT_DETECTOR,
    pool: ThreadPoolExecutor | None = None,
) -> list[PreparedImage]:
    """The one code path from image files to model-ready squares: training, prediction and
    core.prepare. Files are read and cut in `pool`'s threads; faces are found as one batch."""
    run = pool.map if pool is not None else map
    greys = list(run(read_grey_image, paths))
    faces = detect_faces([grey.pixels for grey in greys], detector)

    def cut(grey: GreyImage, face: Face | None) -> PreparedImage:
        square, angle = face_square(grey.pixels, face, margin)
        interpolation = cv2.INTER_AREA if square.shape[0] > size else cv2.INTER_LINEAR
        resized = cv2.resize(square, (size, size), interpolation=interpolation)
        return PreparedImage(resized, face, angle, grey.frames)

    return list(run(cut, greys, faces))


def prepare_image(path: Path, **settings: Any) -> PreparedImage:
    """One image, as `prepare_images` prepares it."""
    return prepare_images([path], **settings)[0]


def prepare(
    source: Source,
    *,
    size: int = DEFAULT_PREPARED_SIZE,
    margin: float = DEFAULT_FACE_MARGIN,
    detector: str = DEFAULT_DETECTOR,
    cache: bool = True,
    cache_dir: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> PreparedData:
    """Prepare every record once; a second call on unchanged files reads the cache."""
    if size < 16:
        raise DataError(f"prepared size must be at least 16 pixels, got {size}")
    try:
        check_detector(detector)
    except ValueError as error:
        raise DataError(str(error)) from None
    if not source.records:
        raise DataError(f"{source.root}: no labelled images found")
    settings = {"size": size, "margin": margin, "detector": detector}
    cache_file = _cache_file(source.records, settings, cache_dir)
    arrays = _load_cached(cache_file, len(source.records), size) if cache else None
    if arrays is None:
        arrays = _prepare_all(source.records, settings, workers, progress)
        if cache:
            _save_atomically(cache_file, arrays)
    images, face_found = arrays
    records = source.records
    return PreparedData(
        images=images,
        emotions=np.array([r.emotion for r in records], dtype=np.int64),
        aus=np.array([r.aus for r in records], dtype=np.float32).reshape(len(records), -1),
        subjects=np.array([r.subject for r in records]),
        face_found=face_found,
        paths=[str(r.path) for r in records],
        au_list=tuple(source.aus),
        detector=detector,
    )


def _prepare_all(
    records: list[Record], settings: dict[str, Any], workers: int | None, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    size = settings["size"]
    images = np.empty((len(records), size, size), dtype=np.uint8)
    face_found = np.empty(len(records), dtype=bool)
    paths = [record.path for record in records]
    for index, prepared in enumerate(prepare_each(paths, settings, workers, progress)):
        images[index] = prepared.image
        face_found[index] = prepared.face_found
    return images, face_found


def prepare_each(
    paths: Sequence[Path], settings: dict[str, Any], workers: int | None, progress: bool
) -> Iterator[PreparedImage]:
    """Every image prepared (`prepare_images` settings), in order, batch by batch, with a
    progress bar on stderr when it takes more than a second."""
    from tqdm import tqdm

    bar = tqdm(
        total=len(paths),
        desc="preparing images",
        unit="img",
        delay=1.0,
        mininterval=0.5,
        file=sys.stderr,
        disable=not progress,
    )
    with bar, ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for start in range(0, len(paths), DETECTION_BATCH):
            chunk = paths[start : start + DETECTION_BATCH]
            yield from prepare_images(chunk, **settings, pool=pool)
            bar.update(len(chunk))


def _cache_file(records: list[Record], settings: dict[str, Any], cache_dir: Path | None) -> Path:
    """Keyed by every file's path, size and mtime, and by every preparation setting."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": PREPARATION_VERSION, **settings}, sort_keys=True).encode())
    for record in records:
        try:
            stat = record.path.stat()
        except OSError as error:
            raise DataError(f"{record.path}: image cannot be read ({error.strerror})") from None
        digest.update(f"{record.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return (cache_dir or cache_root() / "prepared") / digest.hexdigest()[:32]


def _load_cached(folder: Path, count: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Memory-mapped, read-only: a cached study starts in well under a second, whatever the
    set's size. Verified before use (shapes and CRC-32 checksums): a truncated or zeroed cache
    is removed with one warning line and prepared again, never used as black images."""
    if not folder.exists():
        return None
    try:
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
        face_found = np.load(folder / "face_found.npy", allow_pickle=False)
        expected = json.loads((folder / CHECKSUM_FILE).read_text())
        problem = None
        if images.shape != (count, size, size) or images.dtype != np.uint8:
            problem = f"images of shape {images.shape}, expected {(count, size, size)}"
        elif face_found.shape != (count,):
            problem = f"{face_found.shape[0] if face_found.ndim else 0} face flags for {count}"
        elif _checksums(images, face_found) != expected:
            problem = "its contents do not match their checksums"
    except (OSError, ValueError, TypeError) as error:  # missing, cut short, not an array
        problem = f"{type(error).__name__}: {first_line(error)}"
    if problem is None:
        return images, face_found
    print(
        f"warning: preparation cache {folder} is damaged ({problem}); preparing the images again",
        file=sys.stderr,
    )
    shutil.rmtree(folder, ignore_errors=True)
    return None


def _checksums(images: np.ndarray, face_found: np.ndarray) -> dict[str, int]:
    return {
        "images_crc32": zlib.crc32(memoryview(np.ascontiguousarray(images)).cast("B")),
        "face_found_crc32": zlib.crc32(np.ascontiguousarray(face_found).tobytes()),
    }


def _save_atomically(folder: Path, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    """Write a sibling folder and rename it: a crash never leaves a half-written cache."""
    images, face_found = arrays
    try:
        with folder_in_place(folder) as temporary:
            np.save(temporary / "images.npy", images)
            np.save(temporary / "face_found.npy", face_found)
            (temporary / CHECKSUM_FILE).write_text(json.dumps(_checksums(images, face_found)))
    except OSError as error:
        if not folder.is_dir():  # another process may have won the rename: theirs is as good
            print(
                f"warning: preparation cache not written to {folder.parent}: {error}",
                file=sys.stderr,
            )


def crop_and_resize(images: np.ndarray, crop_fraction: float, input_size: int) -> np.ndarray:
    """A trial's view of the prepared squares: a centre crop then a resize (uint8 in and out).

    `crop_fraction` in (0, 1] as its reader checked it (a config, thresholds.json)."""
    size = images.shape[1]
    side = max(1, int(round(size * crop_fraction)))
    start = (size - side) // 2
    cropped = images[:, start : start + side, start : start + side]
    if side == input_size:
        return np.ascontiguousarray(cropped)
    interpolation = cv2.INTER_AREA if side > input_size else cv2.INTER_LINEAR
    return np.stack(
        [cv2.resize(im, (input_size, input_size), interpolation=interpolation) for im in cropped]
    )
