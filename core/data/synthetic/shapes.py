"""Where a face is in an image, and the anti-aliased, sub-pixel drawing primitives."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Place:
    """Where the face is in one image: the oval's centre and half-axes in pixels, and the head's
    pose in degrees (roll turns it in the image plane, yaw to the left or right).

    Yaw moves each face point across by its depth on an ellipsoid head: the oval's outline stays,
    the features slide towards one side, the nose the most."""

    cx: float
    cy: float
    a: float
    b: float
    roll: float = 0.0
    yaw: float = 0.0

    def px(
        self, u: np.ndarray | float, v: np.ndarray | float, depth: float | None = None
    ) -> np.ndarray:
        """Pixels of face points; `depth` fixes their depth (0 for the outline and what lies
        behind it), None puts them on the face's surface."""
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        if u.shape != v.shape:
            u, v = np.broadcast_arrays(u, v)
        cos_yaw, sin_yaw, cos_roll, sin_roll = self._turns
        x = u * self.a
        if sin_yaw:
            z = surface_depth(u, v) if depth is None else depth
            x = (u * cos_yaw + z * sin_yaw) * self.a
        y = v * self.b
        if sin_roll:
            x, y = x * cos_roll - y * sin_roll, x * sin_roll + y * cos_roll
        return np.stack([self.cx + x, self.cy + y], axis=-1)

    @cached_property
    def _turns(self) -> tuple[float, float, float, float]:
        yaw, roll = math.radians(self.yaw), math.radians(self.roll)
        return math.cos(yaw), math.sin(yaw), math.cos(roll), math.sin(roll)

    def units(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face units (u, v) of pixels: the inverse of `px`, exact when yaw is 0."""
        dx, dy = np.asarray(x, np.float64) - self.cx, np.asarray(y, np.float64) - self.cy
        r = math.radians(self.roll)
        rx, ry = dx * math.cos(r) + dy * math.sin(r), -dx * math.sin(r) + dy * math.cos(r)
        return rx / (self.a * math.cos(math.radians(self.yaw))), ry / self.b

    def scaled(self, sx: float, sy: float) -> Place:
        """The same face in an image resized by (sx, sy), with OpenCV's pixel-centre convention."""
        return Place(
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            self.a * sx,
            self.b * sy,
            self.roll,
            self.yaw,
        )


def surface_depth(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Depth towards the camera, in face half-widths: an ellipsoid head and a nose."""
    head = 0.55 * np.sqrt(np.maximum(1 - u * u - v * v, 0))
    return head + 0.22 * np.exp(-((u / 0.12) ** 2) - ((v - 0.12) / 0.2) ** 2)


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
    *,
    depth: float | None = None,
    thickness: int = -1,
) -> None:
    """An ellipse at face point (u, v) with half-axes (au_, av) in face units, turned with the
    head; filled unless `thickness` is given."""
    centre = tuple(int(c) for c in fixed(place.px(u, v, depth)))
    width = au_ * place.a * math.cos(math.radians(place.yaw))
    axes = (max(1, round(width * _ONE)), max(1, round(av * place.b * _ONE)))
    turn = angle + place.roll
    cv2.ellipse(img, centre, axes, turn, arc[0], arc[1], tone, thickness, cv2.LINE_AA, _SHIFT)
