"""One frame: the face at its place with the frame's AU amounts, lit, tinted and noised."""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import cv2
import numpy as np

from .features import draw_features
from .head import draw_base
from .plan import SequencePlan, SubjectPlan
from .shapes import Amounts, Place

_STRIP = 20
# Gaussian noise by table look-up of uniform bytes: a quarter of the cost of drawing normals.
_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)])


def frame_amounts(sequence: SequencePlan, frame: int, n_frames: int) -> dict[int, float]:
    """AU amounts (0..1) at `frame` (1 = neutral, n_frames = peak)."""
    t = 1.0 if n_frames <= 1 else (frame - 1) / (n_frames - 1)
    return {au: amount * t for au, amount in sequence.drawn if amount * t > 0}


def face_place(
    subject: SubjectPlan, sequence: SequencePlan, rng: np.random.Generator | None = None
) -> Place:
    """The face's place in one shot: the sequence's offset and scale, plus a frame's jitter."""
    g = subject.geometry
    dx, dy = sequence.shift
    if rng is not None:
        dx, dy = dx + rng.uniform(-0.006, 0.006), dy + rng.uniform(-0.006, 0.006)
    b = g.face_height * subject.height * sequence.scale
    cy = subject.height * (0.46 + dy)
    return Place(subject.width * (0.5 + dx), cy, b * g.aspect, b)


def draw_frame(
    subject: SubjectPlan,
    sequence: SequencePlan,
    frame: int,
    n_frames: int,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One frame of a sequence; `rng` gives the frame's jitter and noise (None: none)."""
    return draw_expression(
        subject, sequence, frame_amounts(sequence, frame, n_frames), frame=frame, rng=rng
    )


def draw_expression(
    subject: SubjectPlan,
    sequence: SequencePlan,
    amounts: Mapping[int, float],
    *,
    frame: int = 1,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The subject's face with the given AU amounts (0..1): grey (H, W) or BGR (H, W, 3) uint8."""
    au = Amounts(amounts)
    place = face_place(subject, sequence, rng)
    grey, skin_mask = draw_base(subject, place, au)
    draw_features(grey, subject, place, au, sequence.side)
    image = _finish(grey, skin_mask, subject, sequence, rng)
    _draw_timestamp(image, subject, sequence, frame)
    return image


def _finish(
    grey: np.ndarray,
    skin_mask: np.ndarray | None,
    subject: SubjectPlan,
    sequence: SequencePlan,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """A lighting gradient over the whole shot, the colour tint, then sensor noise."""
    image = cv2.multiply(grey, _light_map(grey.shape, sequence.light), dtype=cv2.CV_8U)
    if skin_mask is not None:
        image = _tint(image, skin_mask, subject.tint)
    if rng is not None and sequence.noise > 0:
        lut = np.round(_NORMAL_QUANTILES * sequence.noise).astype(np.int16)
        noise = cv2.LUT(rng.integers(0, 256, image.shape, dtype=np.uint8), lut)
        image = cv2.add(image, noise, dtype=cv2.CV_8U)
    return image


def _light_map(shape: tuple[int, ...], light: tuple[float, float]) -> np.ndarray:
    """Gain that falls linearly across the shot, as from a lamp to one side."""
    h, w = shape[:2]
    angle, strength = light
    gx = np.linspace(-strength, strength, w, dtype=np.float32) * math.cos(angle)
    gy = np.linspace(-strength, strength, h, dtype=np.float32) * math.sin(angle)
    return 1 + gy[:, None] + gx[None, :]


def _tint(grey: np.ndarray, skin_mask: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    share = skin_mask.astype(np.float32) / 255
    return cv2.merge([cv2.multiply(grey, 1 + share * (t - 1), dtype=cv2.CV_8U) for t in tint])


def _draw_timestamp(
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
