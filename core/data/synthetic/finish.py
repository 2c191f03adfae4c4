"""Finishing a drawn shot like a camera would: uneven light and a cast shadow, the colour tint,
defocus blur, sensor noise, lossy compression, and CK+'s timestamp strip."""

from __future__ import annotations

import math
from statistics import NormalDist

import cv2
import numpy as np

from .plan import SequencePlan, SubjectPlan
from .shapes import Place

_STRIP = 20
_LIGHT_STEP = 8
# Gaussian noise by table look-up of uniform bytes: a quarter of the cost of drawing normals.
_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)])


def finish(
    grey: np.ndarray,
    skin_mask: np.ndarray | None,
    subject: SubjectPlan,
    sequence: SequencePlan,
    place: Place,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Light, tint; with a frame's `rng` also blur, noise and compression (None: a clean shot)."""
    image = cv2.multiply(grey, light_map(grey.shape, sequence, place), dtype=cv2.CV_8U)
    if skin_mask is not None:
        image = _tint(image, skin_mask, subject.tint)
    if rng is None:
        return image
    if sequence.blur > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sequence.blur)
    if sequence.noise > 0:
        lut = np.round(_NORMAL_QUANTILES * sequence.noise).astype(np.int16)
        noise = cv2.LUT(rng.integers(0, 256, image.shape, dtype=np.uint8), lut)
        image = cv2.add(image, noise, dtype=cv2.CV_8U)
    return _compress(image, sequence.quality)


def light_map(shape: tuple[int, ...], sequence: SequencePlan, place: Place) -> np.ndarray:
    """Gain: the exposure, a lamp to one side of the face (so one half is darker than the
    other), and a soft-edged cast shadow; computed coarse and smoothed up, it is cheap."""
    h, w = shape[:2]
    ys, xs = np.mgrid[0:h:_LIGHT_STEP, 0:w:_LIGHT_STEP].astype(np.float32)
    u, v = (xs - place.cx) / place.a, (ys - place.cy) / place.b
    angle, strength = sequence.light
    side = np.clip(u * math.cos(angle) + v * math.sin(angle), -1.5, 1.5)
    gain = sequence.exposure * (1 + strength * side / 1.5)
    edge_angle, offset, depth = sequence.shadow
    if depth > 0:
        distance = u * math.cos(edge_angle) + v * math.sin(edge_angle) - offset
        gain = gain * (1 - depth / (1 + np.exp(-distance / 0.08)))
    return cv2.resize(gain.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _tint(grey: np.ndarray, skin_mask: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    share = skin_mask.astype(np.float32) / 255
    return cv2.merge([cv2.multiply(grey, 1 + share * (t - 1), dtype=cv2.CV_8U) for t in tint])


def _compress(image: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip at the sequence's quality: blocks and ringing, as in real footage."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return image
    flag = cv2.IMREAD_COLOR if image.ndim == 3 else cv2.IMREAD_GRAYSCALE
    return cv2.imdecode(data, flag)


def draw_timestamp(
    image: np.ndarray, subject: SubjectPlan, sequence: SequencePlan, frame: int
) -> None:
    h = image.shape[0]
    image[h - _STRIP :] = 0
    seconds = 3600 * 9 + 97 * subject.number + 13 * sequence.number
    text = (
        f"2004/{1 + subject.number % 12:02d}/{1 + sequence.number % 28:02d} "
        f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{frame:02d}"
    )
    colour = (230, 230, 230) if image.ndim == 3 else 230
    cv2.putText(image, text, (8, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
