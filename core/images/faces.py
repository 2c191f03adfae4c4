"""Finding the face in a grey image, and cutting the square the model sees around it.

Two detectors, chosen by measurement (bench/detectors.py, bench/README.md "Face detectors"):
- `mtcnn`: the MTCNN cascade (`mtcnn` package, weights inside its wheel, TensorFlow on CPU). It
  finds turned and partly covered faces the Haar cascade misses, and gives five landmarks (eyes,
  nose, mouth corners), so the crop can be turned until the eyes are level.
- `haar`: OpenCV's frontal-face Haar cascade: fast and without landmarks (no alignment).

Both search a copy at most DETECTION_WIDTH pixels wide (boxes and landmarks are mapped back to
the image's own pixels) and keep the largest face.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"
LEGACY_DETECTOR = "haar"  # the only one before preparation v3: what older files were cut with
DETECTION_WIDTH = 320  # faces are searched on a copy this wide: several times faster, same boxes
# MTCNN's canvases: each side of the copy rounded up to a multiple of this. CK+'s three sizes
# share one canvas; a batch of each exact shape was 35 % slower on the built-in set (3 calls).
CANVAS_STEP = 64
CASCADE_FILE = "haarcascade_frontalface_default.xml"
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # as seen in the image
MIN_ALIGN_DEGREES = 0.5  # below this a turn only blurs the crop

_thread_state = threading.local()
Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """One face in an image's own pixels: its box (x, y, w, h), and landmarks where the detector
    gives them ("left_eye" is the eye on the image's left)."""

    box: tuple[int, int, int, int]
    landmarks: dict[str, Point] | None = None
    score: float | None = None

    @property
    def centre(self) -> Point:
        """The box's centre: what the crop is centred on."""
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    @property
    def eye_angle(self) -> float | None:
        """Degrees the eye line is turned from level (positive: the right-hand eye is lower)."""
        if not self.landmarks:
            return None
        (lx, ly), (rx, ry) = self.landmarks["left_eye"], self.landmarks["right_eye"]
        return math.degrees(math.atan2(ry - ly, rx - lx))


Finder = Callable[[list[np.ndarray]], list["Face | None"]]  # small grey copies to their faces


def check_detector(name: str) -> str:
    """The name, if it is a detector; a ValueError naming the known ones otherwise."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; known: {', '.join(DETECTORS)}")
    return name


def detect_faces(greys: list[np.ndarray], detector: str = DEFAULT_DETECTOR) -> list[Face | None]:
    """The largest face in each 8-bit grey image, or None, whatever the other images are. MTCNN
    runs the images of one shape as one batch: three times the images per second of one at a
    time."""
    scales = [min(1.0, DETECTION_WIDTH / grey.shape[1]) for grey in greys]
    smalls = [
        cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for grey, scale in zip(greys, scales, strict=True)
    ]
    found = _FINDERS[check_detector(detector)](smalls)
    return [_rescaled(face, scale) for face, scale in zip(found, scales, strict=True)]


def detect_face(grey: np.ndarray, detector: str = DEFAULT_DETECTOR) -> Face | None:
    """The largest face in one 8-bit grey image, or None."""
    return detect_faces([grey], detector)[0]


def _rescaled(face: Face | None, scale: float) -> Face | None:
    """A face found on the small copy, in the image's own pixels."""
    if face is None:
        return None
    box = tuple(int(round(v / scale)) for v in face.box)
    landmarks = face.landmarks and {
        name: (x / scale, y / scale) for name, (x, y) in face.landmarks.items()
    }
    return Face(box, landmarks, face.score)


def _haar(smalls: list[np.ndarray]) -> list[Face | None]:
    return [_haar_one(small) for small in smalls]


def _haar_one(small: np.ndarray) -> Face | None:
    min_side = max(24, int(min(small.shape) * 0.2))
    boxes = _haar_cascade().detectMultiScale(
        cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    if len(boxes) == 0:
        return None
    return Face(tuple(int(v) for v in max(boxes, key=lambda box: box[2] * box[3])))


def _haar_cascade() -> cv2.CascadeClassifier:
    """One classifier per thread: detectMultiScale is not documented as thread-safe."""
    cascade = getattr(_thread_state, "cascade", None)
    if cascade is None:
        cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE_FILE))
        if cascade.empty():
            raise RuntimeError(f"OpenCV's {CASCADE_FILE} could not be loaded (is OpenCV < 5?)")
        _thread_state.cascade = cascade
    return cascade


def _mtcnn(smalls: list[np.ndarray]) -> list[Face | None]:
    """Each image is padded, at its bottom and right, to a canvas its own size decides, and the
    images of one canvas are run as one batch: a face's box never depends on which other
    images share the call, and images of near sizes (CK+'s three) still share one."""
    canvases = [_on_canvas(small) for small in smalls]
    found: list[Face | None] = [None] * len(smalls)
    for indices in _by_shape(canvases).values():
        batch = [canvases[index] for index in indices]
        for index, face in zip(indices, _mtcnn_batch(batch), strict=True):
            found[index] = face
    return found


def _on_canvas(small: np.ndarray) -> np.ndarray:
    height, width = (-(-side // CANVAS_STEP) * CANVAS_STEP for side in small.shape)
    bottom, right = height - small.shape[0], width - small.shape[1]
    return cv2.copyMakeBorder(small, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=0)


def _by_shape(images: list[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(image.shape, []).append(index)
    return groups


def _mtcnn_batch(smalls: list[np.ndarray]) -> list[Face | None]:
    # Images of one shape only. mtcnn 1.0 pads a batch of unequal images onto one canvas and
    # runs every image through the scale pyramid of the one with the most levels: a landscape
    # photo beside a square one got a box 16 px shorter than alone (tests/core/test_faces.py).
    # Its min_face_size option finds nothing at all (its pyramid keeps the default's number of
    # levels and shrinks faces below PNet's 12 px): the default is used. Its numpy output keeps
    # the landmarks' sub-pixel places (the JSON output rounds them, a 2 degree error in the eye
    # line of a small face): rows of [image, x, y, w, h, score, 5 x, 5 y].
    batch = [np.repeat(small[..., None], 3, axis=2) for small in smalls]
    rows = _mtcnn_model().detect_faces(batch, output_type="numpy")
    rows = np.asarray(rows, dtype=float).reshape(-1, 16)
    return [_mtcnn_largest(rows[rows[:, 0] == index]) for index in range(len(smalls))]


def _mtcnn_largest(rows: np.ndarray) -> Face | None:
    if not len(rows):
        return None
    best = rows[np.argmax(rows[:, 3] * rows[:, 4])]
    xs, ys = best[6:11], best[11:16]
    landmarks = {name: (float(x), float(y)) for name, x, y in zip(LANDMARKS, xs, ys, strict=True)}
    box = tuple(int(round(v)) for v in best[1:5])
    return Face(box, landmarks, float(best[5]))


def _mtcnn_model():
    """One MTCNN per thread, built after TensorFlow is imported without its start-up noise."""
    model = getattr(_thread_state, "mtcnn", None)
    if model is None:
        from ..quiet import import_tensorflow

        import_tensorflow()
        from mtcnn import MTCNN

        model = _thread_state.mtcnn = MTCNN(device="CPU:0")
    return model


_FINDERS: dict[str, Finder] = {"haar": _haar, "mtcnn": _mtcnn}


def square_crop(grey: np.ndarray, centre: Point, side: int) -> np.ndarray:
    """A side x side window centred on `centre`; parts outside the image repeat its border."""
    cx, cy = centre
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    height, width = grey.shape
    pad = max(0, -left, -top, left + side - width, top + side - height)
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        left, top = left + pad, top + pad
    return grey[top : top + side, left : left + side]


def face_square(grey: np.ndarray, face: Face | None, margin: float) -> tuple[np.ndarray, float]:
    """The square around the face (its box's larger side times `margin`), turned so that the
    eyes are level when the detector gives them, and the angle turned by (degrees). Without a
    face: the image's centre square, unturned."""
    if face is None:
        height, width = grey.shape
        return square_crop(grey, (width / 2, height / 2), min(height, width)), 0.0
    side = max(8, int(round(margin * max(face.box[2], face.box[3]))))
    angle = face.eye_angle or 0.0
    if abs(angle) < MIN_ALIGN_DEGREES:
        return square_crop(grey, face.centre, side), 0.0
    cx, cy = face.centre
    turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    turn[:, 2] += (side / 2 - cx, side / 2 - cy)  # the face's centre to the square's centre
    square = cv2.warpAffine(
        grey, turn, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return square, angle
