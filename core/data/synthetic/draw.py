"""One frame: the face at its place and pose with the frame's AU amounts, then finished."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .features import draw_features
from .finish import draw_timestamp, finish
from .head import draw_base
from .plan import SequencePlan, SubjectPlan
from .shapes import Amounts, Place


def frame_amounts(sequence: SequencePlan, frame: int, n_frames: int) -> dict[int, float]:
    """AU amounts (0..1) at `frame` (1 = neutral, n_frames = peak)."""
    t = 1.0 if n_frames <= 1 else (frame - 1) / (n_frames - 1)
    return {au: amount * t for au, amount in sequence.drawn if amount * t > 0}


def face_place(
    subject: SubjectPlan, sequence: SequencePlan, rng: np.random.Generator | None = None
) -> Place:
    """The face's place in one shot: the sequence's offset, scale and pose, plus a frame's
    jitter (the head moves a little while the expression unfolds)."""
    g = subject.geometry
    dx, dy = sequence.shift
    roll, yaw = sequence.roll, sequence.yaw
    if rng is not None:
        dx, dy = dx + rng.uniform(-0.006, 0.006), dy + rng.uniform(-0.006, 0.006)
        roll, yaw = roll + rng.uniform(-1.5, 1.5), yaw + rng.uniform(-2.0, 2.0)
    b = g.face_height * subject.height * sequence.scale
    cy = subject.height * (0.46 + dy)
    return Place(subject.width * (0.5 + dx), cy, b * g.aspect, b, roll, yaw)


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
    image = finish(grey, skin_mask, subject, sequence, place, rng)
    draw_timestamp(image, subject, sequence, frame)
    return image
