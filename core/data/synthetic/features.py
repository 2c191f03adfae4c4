"""The sharp layer: brows, eyes, nose, mouth and the lines the AUs deepen."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .head import jaw_drop
from .identity import Geometry
from .plan import SubjectPlan
from .shapes import Amounts, Place, disc, ellipse, level, polygon, polyline


def draw_features(
    img: np.ndarray, subject: SubjectPlan, place: Place, au: Amounts, side: int
) -> None:
    g = subject.geometry
    _draw_forehead_lines(img, place, g, au)
    _draw_nose(img, place, g, au)
    mouth = _mouth_shape(g, au, side)
    _draw_nasolabial(img, place, g, au, mouth)
    for s in (-1, 1):
        _draw_brow(img, place, g, au, s)
        _draw_eye(img, place, g, au, s)
        _draw_eye_lines(img, place, g, au, s)
    _draw_furrows(img, place, g, au)
    if g.glasses > 0:
        _draw_glasses(img, place, g)
    _draw_mouth(img, place, g, au, mouth)
    _draw_chin(img, place, g, au, mouth, subject.number)
    if au[14] > 0:
        _draw_dimple(img, place, g, au, mouth, side or 1)


def _brow_points(g: Geometry, au: Amounts, s: int) -> np.ndarray:
    """Inner, middle and outer brow points: AU1 lifts the inner end, AU2 the outer, AU4 lowers
    both and pulls the inner ends together."""
    base = g.eye_v - g.brow_gap
    a1, a2, a4 = au[1], au[2], au[4]
    pull = 0.08 * a4
    inner = (s * (g.eye_u - g.eye_width * 0.95 - pull), base + 0.01 - 0.18 * a1 + 0.11 * a4)
    mid = (s * (g.eye_u + g.eye_width * 0.1 - pull * 0.4), base - 0.035 - 0.06 * a1 - 0.1 * a2)
    mid = (mid[0], mid[1] + 0.08 * a4)
    outer = (s * (g.eye_u + g.eye_width * 1.2), base + 0.02 - 0.18 * a2 + 0.06 * a4)
    return np.array([inner, mid, outer])


def _draw_brow(img: np.ndarray, place: Place, g: Geometry, au: Amounts, s: int) -> None:
    inner, mid, outer = _brow_points(g, au, s)
    t = np.linspace(0, 1, 16)[:, None]
    knot = 0.45
    centre = (
        inner * ((t - knot) * (t - 1) / knot)
        + mid * (t * (t - 1) / (knot * (knot - 1)))
        + outer * (t * (t - knot) / (1 - knot))
    )
    half = (g.brow_thickness * (1 - 0.45 * t[:, 0]) / 2)[:, None] * np.array([0.0, 1.0])
    outline = np.concatenate([centre - half, (centre + half)[::-1]])
    polygon(img, place.px(outline[:, 0], outline[:, 1]), level(min(g.hair + 20, g.skin * 0.5)))


def _draw_furrows(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """AU4's fine vertical lines between the brows."""
    if au[4] <= 0:
        return
    base = g.eye_v - g.brow_gap + 0.07 * au[4]
    tone = level(g.skin - 40 * au[4])
    for u in (-0.045, 0.045):
        polyline(img, place.px([u, u * 0.8, u * 0.9], [base - 0.05, base + 0.03, base + 0.1]), tone)


def _draw_forehead_lines(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Faint horizontal lines: central ones deepen with AU1, lateral ones with AU2."""
    base = g.eye_v - g.brow_gap
    u = np.linspace(-1, 1, 13)
    for i, dv in enumerate((0.12, 0.19, 0.26)):
        v = base - dv - 0.06 * au[1] - 0.015 * i
        if v < g.hair_line + 0.06:
            continue
        central = 18 * g.age + 30 * au[1]
        lateral = 18 * g.age + 30 * au[2]
        if central > 2:
            polyline(img, place.px(0.25 * u, v + 0.02 * u**2), level(g.skin - central))
        for s in (-1, 1):
            if lateral > 2:
                x = s * (0.3 + 0.2 * (u + 1) / 2)
                polyline(img, place.px(x, v + 0.02 + 0.03 * (x**2)), level(g.skin - lateral))


def _eye_curves(g: Geometry, au: Amounts, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid in face units, inner corner to outer: AU5 lifts the upper lid; AU7
    and AU6 raise the lower lid."""
    x = np.linspace(-1, 1, 19)
    up = g.eye_open * (1 + 1.1 * au[5] - 0.15 * au[7] - 0.1 * au[6])
    low = g.eye_open * 0.55 * (1 + 0.2 * au[5] - 0.6 * au[7] - 0.35 * au[6])
    u = s * (g.eye_u + x * g.eye_width)
    tilt = -0.008 * x
    upper = np.stack([u, g.eye_v + tilt - up * (1 - x**2) ** 0.6], axis=1)
    lower = np.stack([u, g.eye_v + tilt + low * (1 - x**2) ** 0.8], axis=1)
    return upper, lower


def _draw_eye(img: np.ndarray, place: Place, g: Geometry, au: Amounts, s: int) -> None:
    """Sclera, iris and pupil clipped to the lids, then the lash line and lower lid."""
    upper, lower = _eye_curves(g, au, s)
    aperture = place.px(*np.concatenate([upper, lower[::-1]]).T)
    x0, y0 = np.floor(aperture.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(aperture.max(axis=0)).astype(int) + 3
    x0, y0 = max(x0, 0), max(y0, 0)
    roi = img[y0:y1, x0:x1]
    if roi.size == 0:
        return
    local = aperture - [x0, y0]
    mask = np.zeros(roi.shape, np.uint8)
    polygon(mask, local, 255)
    layer = np.full(roi.shape, level(g.skin * 0.35 + 150), np.uint8)
    iris_r = g.eye_open * 1.15 * place.b
    centre = place.px(s * g.eye_u, g.eye_v + 0.12 * g.eye_open) - [x0, y0]
    disc(layer, centre, iris_r, level(g.iris))
    disc(layer, centre, iris_r * 0.45, 12)
    disc(layer, centre - 0.35 * iris_r, iris_r * 0.17, 235)
    weight = mask.astype(np.uint16)
    roi[:] = ((roi * (255 - weight) + layer * weight + 127) // 255).astype(np.uint8)
    lash = max(2, round(0.016 * place.b))
    polyline(img, place.px(*upper.T), level(min(g.hair, 40)), lash)
    polyline(img, place.px(*lower.T), level(g.skin * 0.62))


def _draw_eye_lines(img: np.ndarray, place: Place, g: Geometry, au: Amounts, s: int) -> None:
    """Lid crease; AU7's lower-lid bulge; AU6's crow's feet and the raised cheek's furrow."""
    upper, lower = _eye_curves(g, au, s)
    crease = upper[2:-1] + [0, -0.5 * g.eye_open]
    polyline(img, place.px(*crease.T), level(g.skin - 28))
    if au[7] > 0:
        bulge = lower[3:-3] + [0, 0.32 * g.eye_open]
        polyline(img, place.px(*bulge.T), level(g.skin - 40 * au[7]))
    feet = 14 * g.age + 34 * au[6]
    if feet > 2:
        corner = np.array([s * (g.eye_u + g.eye_width * 1.1), g.eye_v])
        for angle in (-0.45, 0.0, 0.45):
            end = corner + [s * 0.1 * math.cos(angle), 0.1 * math.sin(angle) * 1.2]
            mid = (corner + end) / 2 + [0, 0.01]
            polyline(img, place.px(*np.array([corner, mid, end]).T), level(g.skin - feet))
    if au[6] > 0:
        x = np.linspace(-0.7, 0.9, 9)
        u = s * (g.eye_u + x * g.eye_width * 1.1)
        v = g.eye_v + 0.16 + 0.03 * x**2
        polyline(img, place.px(u, v), level(g.skin - 30 * au[6]))


def _draw_nose(img: np.ndarray, place: Place, g: Geometry, au: Amounts) -> None:
    """Side shadows, wings and nostrils; AU9 wrinkles the bridge and lifts the wings."""
    lift = -0.025 * au[9]
    tip = g.nose_tip + lift
    for s in (-1, 1):
        side_u = np.array([0.08, 0.09, g.nose_width * 0.75])
        side_v = np.array([g.eye_v + 0.08, (g.eye_v + tip) / 2, tip - 0.05])
        polyline(img, place.px(s * side_u, side_v), level(g.skin * 0.86), 2)
        wing_u = s * g.nose_width * np.array([0.55, 0.95, 1.05, 0.9, 0.6])
        wing_v = tip + np.array([-0.05, -0.02, 0.05, 0.1, 0.09])
        polyline(img, place.px(wing_u, wing_v), level(g.skin * 0.72), 2)
        nostril = level(g.skin * 0.3)
        ellipse(img, place, s * g.nose_width * 0.45, tip + 0.055, 0.06, 0.022, nostril, s * 12)
    if au[9] > 0:
        tone = level(g.skin * 1.05 - 45 * au[9])
        u = np.linspace(-0.1, 0.1, 7)
        for i in range(4):
            v = g.eye_v + 0.02 + 0.04 * i + 0.03 * (u / 0.1) ** 2
            polyline(img, place.px(u, v), tone)


@dataclass(frozen=True)
class _Mouth:
    """Mouth outline in face units, sampled from the left corner to the right one."""

    u: np.ndarray
    line: np.ndarray
    gap_top: np.ndarray
    gap_bottom: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    gap: float


def _mouth_shape(g: Geometry, au: Amounts, side: int) -> _Mouth:
    """AU12/15 move the corners up/down (AU12 on one side only for contempt), AU20 widens,
    AU23 narrows and thins the lips, AU24 presses them, AU25/27 part them, AU17 pushes up."""
    width = g.mouth_width * (
        1 + 0.35 * au[20] - 0.12 * au[23] - 0.06 * au[24] + 0.15 * au[12] - 0.1 * au[27]
    )
    left = 0.21 * au[12] * (side <= 0)
    right = 0.21 * au[12] * (side >= 0)
    down = 0.12 * au[15] + 0.015 * au[20]
    x = np.linspace(-1, 1, 31)
    lift = np.where(x < 0, left, right) - down
    line = g.mouth_v - 0.02 * au[17] - lift * x**2 + 0.025 * au[17] * (1 - x**2)
    gap = 0.07 * au[25] * (1 - au[24]) + 0.34 * au[27]
    opening = gap * (1 - x**2) ** 0.7
    thin = max(0.08, 1 - 0.55 * au[23] - 0.8 * au[24])
    bow = 1 - 0.3 * np.exp(-((x / 0.12) ** 2))
    gap_top = line - 0.15 * opening
    gap_bottom = line + 0.85 * opening
    top = gap_top - g.upper_lip * thin * np.sqrt(1 - x**2) * bow
    bottom = gap_bottom + g.lower_lip * thin * (1 + 0.1 * au[17]) * (1 - x**2) ** 0.6
    return _Mouth(x * width, line, gap_top, gap_bottom, top, bottom, gap)


def _draw_mouth(img: np.ndarray, place: Place, g: Geometry, au: Amounts, m: _Mouth) -> None:
    lip_tone = level(g.skin * g.lip)
    polygon(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.top, m.gap_top[::-1]]), lip_tone)
    polygon(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.gap_bottom, m.bottom[::-1]]), lip_tone)
    dark = level(g.skin * (0.36 - 0.15 * au[24]))
    if m.gap > 0.004:
        polygon(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.gap_top, m.gap_bottom[::-1]]), 28)
        inner = slice(5, -5)
        teeth = np.minimum(m.gap_top + 0.05, (m.gap_top + m.gap_bottom) / 2)[inner]
        u = m.u[inner]
        outline = place.px(np.r_[u, u[::-1]], np.r_[m.gap_top[inner], teeth[::-1]])
        polygon(img, outline, level(g.skin * 0.25 + 165))
        polyline(img, place.px(m.u, m.gap_top), dark)
        polyline(img, place.px(m.u, m.gap_bottom), dark)
    else:
        polyline(img, place.px(m.u, m.line), dark, 3 if au[24] > 0.5 else 2)
    if au[24] > 0:
        for edge, dv in ((m.top, -0.012), (m.bottom, 0.012)):
            polyline(img, place.px(m.u[4:-4], edge[4:-4] + dv), level(g.skin + 25 * au[24]))


def _draw_nasolabial(img: np.ndarray, place: Place, g: Geometry, au: Amounts, m: _Mouth) -> None:
    """Folds from the nose wings past the mouth corners; AU12 deepens them and lifts their end."""
    depth = 10 + 20 * g.age + 40 * au[12]
    for s, i in ((-1, 0), (1, -1)):
        corner = np.array([m.u[i], m.line[i]])
        start = np.array([s * (g.nose_width + 0.05), g.nose_tip - 0.01])
        end = corner + [s * 0.08, 0.08]
        mid = (start + end) / 2 + [s * 0.05, 0]
        polyline(img, place.px(*np.array([start, mid, end]).T), level(g.skin - depth), 2)


def _draw_chin(
    img: np.ndarray, place: Place, g: Geometry, au: Amounts, m: _Mouth, number: int
) -> None:
    """AU17: a deeper furrow under the lower lip and a dimpled 'orange peel' chin boss."""
    if au[17] <= 0:
        return
    bottom = float(m.bottom[len(m.bottom) // 2])
    x = np.linspace(-0.18, 0.18, 9)
    polyline(img, place.px(x, bottom + 0.05 + 0.8 * x**2), level(g.skin - 35 * au[17]))
    dots = np.random.default_rng([number, 17]).uniform(-1, 1, size=(40, 2))
    centre_v = (bottom + 1 + jaw_drop(au)) / 2 + 0.04
    tone = level(g.skin - 30 * au[17])
    for du, dv in dots:
        disc(img, place.px(0.17 * du, centre_v + 0.09 * dv), 1.0, tone)


def _draw_dimple(
    img: np.ndarray, place: Place, g: Geometry, au: Amounts, m: _Mouth, side: int
) -> None:
    """AU14 (outside the default list): a faint dimple beside one mouth corner."""
    i = -1 if side > 0 else 0
    u, v = m.u[i] + side * 0.04, m.line[i]
    fold = place.px([u, u + side * 0.01, u], [v - 0.04, v, v + 0.04])
    polyline(img, fold, level(g.skin - 25 * au[14]))


def _draw_glasses(img: np.ndarray, place: Place, g: Geometry) -> None:
    """Two rims around the eyes (tinted lenses darken what is behind them), a bridge over the
    nose and the arms to the ears."""
    t = np.linspace(0, 2 * math.pi, 33)
    half_u, half_v = g.eye_width * 1.45, 0.14
    thickness = max(1, round(g.glasses * place.b))
    tone = level(g.glasses_tone)
    for s in (-1, 1):
        centre_u, centre_v = s * g.eye_u, g.eye_v + 0.01
        rim = place.px(centre_u + half_u * np.cos(t), centre_v + half_v * np.sin(t))
        if g.lens < 1:
            _darken(img, rim, g.lens)
        polyline(img, rim, tone, thickness)
        arm_u = s * np.array([g.eye_u + half_u, 0.97])
        polyline(img, place.px(arm_u, [centre_v - 0.03, centre_v - 0.05]), tone, thickness)
    inner = g.eye_u - half_u
    bridge_u = np.array([-inner, -0.05, 0.05, inner])
    bridge_v = g.eye_v + np.array([-0.02, -0.05, -0.05, -0.02])
    polyline(img, place.px(bridge_u, bridge_v), tone, thickness)


def _darken(img: np.ndarray, outline: np.ndarray, gain: float) -> None:
    x0, y0 = np.maximum(np.floor(outline.min(axis=0)).astype(int), 0)
    x1, y1 = np.ceil(outline.max(axis=0)).astype(int) + 1
    roi = img[y0:y1, x0:x1]
    if roi.size == 0:
        return
    mask = np.zeros(roi.shape, np.uint8)
    polygon(mask, outline - [x0, y0], 255)
    factor = 1 - (1 - gain) * mask.astype(np.float32) / 255
    roi[:] = np.round(roi * factor).astype(np.uint8)
