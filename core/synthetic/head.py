"""The soft layer: background, body, hair and the shaded head (drawn small, blurred, scaled up)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .plan import Geometry, SubjectPlan
from .shapes import Amounts, Place, ellipse, level, polygon

_LOW = 2


def draw_base(
    subject: SubjectPlan, place: Place, au: Amounts
) -> tuple[np.ndarray, np.ndarray | None]:
    """Background, shoulders, hair and the shaded face; the skin mask for colour subjects."""
    w, h = subject.width, subject.height
    sw, sh = math.ceil(w / _LOW), math.ceil(h / _LOW)
    small = place.scaled(sw / w, sh / h)
    g = subject.geometry
    img = np.full((sh, sw), level(g.background), np.uint8)
    _draw_body(img, small, g, au)
    _draw_head(img, small, g, au)
    _draw_shading(img, small, g, au)
    img = cv2.GaussianBlur(img, (0, 0), 1.6)
    grey = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if not subject.colour:
        return grey, None
    mask = np.zeros((sh, sw), np.uint8)
    _draw_skin_mask(mask, small, g, au)
    mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    return grey, mask


def jaw_drop(au: Amounts) -> float:
    return 0.24 * au[27]


def _draw_face_oval(
    img: np.ndarray, place: Place, au: Amounts, tone: int, ku: float = 1.0, kv: float = 1.0
) -> None:
    """The oval; its lower half drops with the jaw (AU27)."""
    ellipse(img, place, 0, 0, ku, kv, tone, arc=(180, 360))
    lower = (ku * (1 - 0.04 * au[27]), kv + jaw_drop(au))
    ellipse(img, place, 0, 0, *lower, tone, arc=(0, 180))


def _neck(place: Place, au: Amounts) -> np.ndarray:
    return place.px(
        [-0.55, 0.55, 0.62, -0.62], np.array([0.3, 0.3, 1.55, 1.55]) + jaw_drop(au) * 0.3
    )


def _hair_cap(place: Place, g: Geometry) -> np.ndarray:
    """The part of the oval above the hair line, which curves down at the temples."""
    u = np.linspace(-1, 1, 25)
    top = -np.sqrt(np.clip(1 - u**2, 0, 1))
    line = np.maximum(top, g.hair_line + 0.32 * u**2)
    return np.concatenate([place.px(u, top - 0.02), place.px(u, line)[::-1]])


def _draw_body(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    ellipse(img, place, 0, 2.05, 2.5, 0.85, level(g.cloth))
    polygon(img, _neck(place, au), level(g.skin * 0.62))
    ellipse(img, place, 0, -0.12, 1.12, 1.02, level(g.hair))


def _draw_head(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    for s in (-1, 1):
        ellipse(img, place, s * 0.98, -0.02, 0.12, 0.2, level(g.skin * 0.85))
    _draw_face_oval(img, place, au, level(g.skin * 0.82))
    _draw_face_oval(img, place, au, level(g.skin), 0.86, 0.88)
    polygon(img, _hair_cap(place, g), level(g.hair))


def _draw_shading(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Eye sockets, nose bridge and shadow, cheeks and chin: the shapes a face detector keys on."""
    skin = g.skin
    for s in (-1, 1):
        ellipse(img, place, s * g.eye_u, g.eye_v, g.eye_width * 1.4, 0.11, level(skin * 0.74))
        ellipse(img, place, s * 0.45, g.eye_v + 0.24, 0.18, 0.09, level(skin * (1 + 0.05 * au[6])))
    ellipse(img, place, 0, (g.eye_v + g.nose_tip) / 2, 0.08, 0.26, level(skin * 1.08))
    ellipse(img, place, 0, g.nose_tip + 0.07, g.nose_width, 0.045, level(skin * 0.8))
    chin_v = (g.mouth_v + 1) / 2 + 0.05 + jaw_drop(au) * 0.9
    ellipse(img, place, 0, chin_v, 0.2, 0.12, level(skin * (1.04 + 0.04 * au[17])))


def _draw_skin_mask(mask: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Where the colour tint goes: face, ears and neck, not hair."""
    polygon(mask, _neck(place, au), 255)
    for s in (-1, 1):
        ellipse(mask, place, s * 0.98, -0.02, 0.12, 0.2, 255)
    _draw_face_oval(mask, place, au, 255)
    polygon(mask, _hair_cap(place, g), 0)
