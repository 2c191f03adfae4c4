"""Where a face is in an image, and the anti-aliased, sub-pixel drawing primitives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Place:
    """Where the face is in one image: the oval's centre and half-axes, in pixels."""

    cx: float
    cy: float
    a: float
    b: float

    def px(self, u: np.ndarray | float, v: np.ndarray | float) -> np.ndarray:
        u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
        return np.stack([self.cx + u * self.a, self.cy + v * self.b], axis=-1)

    def scaled(self, sx: float, sy: float) -> Place:
        """The same face in an image resized by (sx, sy), with OpenCV's pixel-centre convention."""
        return Place(
            (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5, self.a * sx, self.b * sy
        )


class Amounts:
    """AU amounts where an AU that is not given is 0."""

    def __init__(self, amounts: Mapping[int, float]) -> None:
        self._amounts = {int(k): float(v) for k, v in amounts.items()}

    def __getitem__(self, au: int) -> float:
        return self._amounts.get(au, 0.0)


def level(value: float) -> int:
    return int(round(min(255.0, max(0.0, value))))


def fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def polygon(img: np.ndarray, points: np.ndarray, tone: int) -> None:
    cv2.fillPoly(img, [fixed(points)], tone, cv2.LINE_AA, _SHIFT)


def polyline(img: np.ndarray, points: np.ndarray, tone: int, thickness: int = 1) -> None:
    cv2.polylines(img, [fixed(points)], False, tone, thickness, cv2.LINE_AA, _SHIFT)


def disc(img: np.ndarray, centre: np.ndarray, radius: float, tone: int) -> None:
    """A filled circle; centre and radius in pixels."""
    x, y = (int(c) for c in fixed(np.asarray(centre)))
    cv2.circle(img, (x, y), max(1, round(radius * _ONE)), tone, -1, cv2.LINE_AA, _SHIFT)


def ellipse(
    img: np.ndarray,
    place: Place,
    u: float,
    v: float,
    au_: float,
    av: float,
    tone: int,
    angle: float = 0.0,
    arc: tuple[float, float] = (0.0, 360.0),
) -> None:
    """A filled ellipse at face point (u, v) with half-axes (au_, av) in face units."""
    centre = tuple(int(c) for c in fixed(place.px(u, v)))
    axes = (max(1, round(au_ * place.a * _ONE)), max(1, round(av * place.b * _ONE)))
    cv2.ellipse(img, centre, axes, angle, arc[0], arc[1], tone, -1, cv2.LINE_AA, _SHIFT)
