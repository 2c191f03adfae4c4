"""The soft layer: the room, body, hair, beard and the shaded head (drawn small, blurred, scaled
up)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .identity import BALD, FRINGE, FULL_BEARD, LONG, MOUSTACHE, NO_BEARD, STUBBLE, Geometry
from .plan import SubjectPlan
from .shapes import Amounts, Place, ellipse, level, polygon

_LOW = 2


def draw_base(
    subject: SubjectPlan, place: Place, au: Amounts
) -> tuple[np.ndarray, np.ndarray | None]:
    """Room, shoulders, hair and the shaded face; the skin mask for colour subjects."""
    w, h = subject.width, subject.height
    sw, sh = math.ceil(w / _LOW), math.ceil(h / _LOW)
    small = place.scaled(sw / w, sh / h)
    g = subject.geometry
    img = _room(sw, sh, g)
    _draw_body(img, small, g, au)
    _draw_head(img, small, g, au)
    _draw_shading(img, small, g, au)
    _draw_facial_hair(img, small, g, au)
    img = cv2.GaussianBlur(img, (0, 0), 1.6)
    grey = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if not subject.colour:
        return grey, None
    mask = np.zeros((sh, sw), np.uint8)
    _draw_skin_mask(mask, small, g, au)
    mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    return grey, mask


def _room(width: int, height: int, g: Geometry) -> np.ndarray:
    """The subject's own cluttered background: a wall with a gradient, then shelves, frames,
    doors, lamps and cables of random tones (the same for every shot of the subject)."""
    rng = np.random.default_rng(g.clutter)
    ramp = np.linspace(-1, 1, width, dtype=np.float32)[None, :] * rng.uniform(-40, 40)
    ramp = ramp + np.linspace(-1, 1, height, dtype=np.float32)[:, None] * rng.uniform(-30, 30)
    img = np.clip(g.background + ramp, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(6, 16))):
        tone = int(np.clip(g.background + rng.normal(0, 70), 0, 255))
        kind = rng.random()
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        if kind < 0.45:
            x1 = x0 + int(rng.integers(10, width // 2))
            y1 = y0 + int(rng.integers(10, height // 2))
            cv2.rectangle(img, (x0, y0), (x1, y1), tone, -1 if rng.random() < 0.6 else 3)
        elif kind < 0.7:
            cv2.circle(img, (x0, y0), int(rng.integers(5, height // 4)), tone, -1, cv2.LINE_AA)
        else:
            x1, y1 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(img, (x0, y0), (x1, y1), tone, int(rng.integers(1, 6)), cv2.LINE_AA)
    return img


def jaw_drop(au: Amounts) -> float:
    return 0.24 * au[27]


def _draw_face_oval(
    img: np.ndarray,
    place: Place,
    g: Geometry,
    au: Amounts,
    tone: int,
    ku: float = 1.0,
    kv: float = 1.0,
) -> None:
    """The oval; its lower half is the subject's jaw and chin, and drops with the jaw (AU27)."""
    ellipse(img, place, 0, 0, ku, kv, tone, arc=(180, 360), depth=0.0)
    lower = (ku * g.jaw * (1 - 0.04 * au[27]), kv * g.chin + jaw_drop(au))
    ellipse(img, place, 0, 0, *lower, tone, arc=(0, 180), depth=0.0)


def _neck(place: Place, au: Amounts) -> np.ndarray:
    return place.px(
        [-0.55, 0.55, 0.62, -0.62], np.array([0.3, 0.3, 1.55, 1.55]) + jaw_drop(au) * 0.3, 0.0
    )


def _hair_cap(place: Place, g: Geometry) -> np.ndarray:
    """The part of the oval above the hair line, which curves down at the temples (a fringe
    hangs straight)."""
    u = np.linspace(-1, 1, 25)
    top = -np.sqrt(np.clip(1 - u**2, 0, 1))
    curve = 0.08 if g.hair_style == FRINGE else 0.32
    line = np.maximum(top, g.hair_line + curve * u**2)
    return np.concatenate([place.px(u, top - 0.02), place.px(u, line)[::-1]])


def _draw_body(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    ellipse(img, place, 0, 2.05, 2.5, 0.85, level(g.cloth), depth=0.0)
    if g.hair_style == LONG:
        hair = place.px([-1.25, 1.25, 1.35, -1.35], [-0.5, -0.5, 1.45, 1.45], -0.3)
        polygon(img, hair, level(g.hair))
    polygon(img, _neck(place, au), level(g.skin * 0.62))
    if g.hair_style != BALD:
        ellipse(img, place, 0, -0.12, 1.12, 1.02, level(g.hair), depth=-0.2)


def _draw_head(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    for s in (-1, 1):
        ellipse(img, place, s * 0.98, -0.02, 0.12, 0.2, level(g.skin * 0.85), depth=-0.15)
    _draw_face_oval(img, place, g, au, level(g.skin * 0.82))
    _draw_face_oval(img, place, g, au, level(g.skin), 0.86, 0.88)
    if g.hair_style != BALD:
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


def _draw_facial_hair(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Stubble or a beard over the jaw below the mouth (it drops with the jaw), a moustache
    between the nose and the upper lip."""
    if g.beard == NO_BEARD:
        return
    tone = level(g.skin + (min(g.hair, g.skin * 0.6) - g.skin) * g.beard_density)
    if g.beard in (STUBBLE, FULL_BEARD):
        u = np.linspace(-1, 1, 21)
        drop = jaw_drop(au)
        outline = g.chin * 0.98 * np.sqrt(np.clip(1 - u**2, 0, 1)) + drop
        inner = g.mouth_v + 0.1 + drop + 0.25 * u**2
        keep = inner < outline
        ring = np.concatenate(
            [
                place.px(u[keep] * g.jaw, outline[keep]),
                place.px((u[keep] * 0.35 * g.jaw)[::-1], inner[keep][::-1]),
            ]
        )
        beard = tone if g.beard == FULL_BEARD else level((tone + g.skin) / 2)
        polygon(img, ring, beard)
    if g.beard in (MOUSTACHE, FULL_BEARD):
        u = np.linspace(-1, 1, 13) * g.mouth_width * 0.95
        top = g.nose_tip + 0.09 + 0.02 * (u / g.mouth_width) ** 2
        bottom = g.mouth_v - 0.05 + 0.06 * (u / g.mouth_width) ** 2
        polygon(img, place.px(np.r_[u, u[::-1]], np.r_[top, bottom[::-1]]), tone)


def _draw_skin_mask(mask: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Where the colour tint goes: face, ears and neck, not hair."""
    polygon(mask, _neck(place, au), 255)
    for s in (-1, 1):
        ellipse(mask, place, s * 0.98, -0.02, 0.12, 0.2, 255, depth=-0.15)
    _draw_face_oval(mask, place, g, au, 255)
    if g.hair_style != BALD:
        polygon(mask, _hair_cap(place, g), 0)
