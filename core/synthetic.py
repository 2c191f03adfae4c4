"""Draw the built-in CK+-like synthetic face set and write it in the CK+ folder layout.

CK+ is licensed and cannot be shipped, so the default data set is drawn: subjects with their own
face geometry, sequences from neutral to peak, emotions that follow the FACS prototypes, CK+'s
class imbalance, sizes and grey/colour mix. It is written exactly like CK+ so the real reader
(`core.sources`) is exercised on every default run.

The work is split in two: `plan_dataset` decides everything from the seed (pure and cheap), and
the drawing turns one subject's plan into images. Every frame's randomness comes from its own seed,
so the files are identical for any number of workers.

Big shapes (brows, lids, lip corners, open mouth) carry the emotion and survive a 96 px input;
subtle AUs (crow's feet, nose wrinkles, chin texture, lip thickness, lower lid) are 1-2 px, low
contrast details at full size, so the input size matters to a tuner.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from .errors import ConfigError, DataError
from .labels import DEFAULT_AUS
from .paths import cache_root

GENERATOR_VERSION = 1

# Sequences per emotion code among CK+'s 327 labelled ones (negative 175, positive 69, surprise 83).
CKPLUS_CODE_COUNTS: dict[int, int] = {1: 45, 2: 18, 3: 59, 4: 25, 5: 69, 6: 28, 7: 83}
SIZES: tuple[tuple[int, int], ...] = ((640, 490), (640, 480), (720, 480))
SIZE_SHARES: tuple[float, ...] = (0.60, 0.25, 0.15)
COLOUR_SHARE = 0.10
# Coded now and then although outside DEFAULT_AUS, so readers must skip them; only 14 is drawn.
OTHER_AUS: tuple[int, ...] = (10, 14, 16, 26, 38, 43)
# Never added as label noise: they would turn the face into another emotion.
_NOT_EXTRA = (12, 27)
_INTENSITY_P = (0.10, 0.20, 0.30, 0.25, 0.15)
_KEY_INTENSITY_P = (0.0, 0.15, 0.35, 0.30, 0.20)
_SMIRK_P = (0.30, 0.40, 0.30, 0.0, 0.0)
# Level 1 with Huffman-only coding: the sensor noise defeats LZ matching, so this is faster and
# smaller than level 1's default strategy.
_PNG = (
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
)
_SHIFT = 4
_ONE = 1 << _SHIFT
_LOW = 2
_STRIP = 20
# Gaussian noise by table look-up of uniform bytes: a quarter of the cost of drawing normals.
_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)])


@dataclass(frozen=True)
class Geometry:
    """One subject's face, in face units: u across, v down, the oval spans -1..1 in both."""

    face_height: float
    aspect: float
    eye_u: float
    eye_v: float
    eye_width: float
    eye_open: float
    brow_gap: float
    brow_thickness: float
    nose_tip: float
    nose_width: float
    mouth_v: float
    mouth_width: float
    upper_lip: float
    lower_lip: float
    hair_line: float
    skin: float
    hair: float
    iris: float
    lip: float
    background: float
    cloth: float
    dark_background: bool
    age: float


@dataclass(frozen=True)
class SequencePlan:
    """One sequence: emotion, AUs as coded (FACS) and as drawn (0..1), and its shots' nuisances."""

    number: int
    code: int
    labelled: bool
    facs: tuple[tuple[int, int], ...]
    drawn: tuple[tuple[int, float], ...]
    side: int
    shift: tuple[float, float]
    scale: float
    light: tuple[float, float]
    noise: float


@dataclass(frozen=True)
class SubjectPlan:
    index: int
    number: int
    width: int
    height: int
    colour: bool
    tint: tuple[float, float, float]
    geometry: Geometry
    sequences: tuple[SequencePlan, ...]

    @property
    def name(self) -> str:
        return f"S{self.number:03d}"


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


# ---------------------------------------------------------------------------------------------
# Planning


def plan_dataset(
    *,
    seed: int = 0,
    n_subjects: int = 120,
    n_labelled: int = 560,
    n_unlabelled: int = 40,
) -> tuple[SubjectPlan, ...]:
    """Every subject, sequence, emotion and AU of a data set, decided from `seed` alone."""
    _check_counts(n_subjects, n_labelled, n_unlabelled)
    rng = np.random.default_rng([seed, 0])
    numbers = np.sort(rng.choice(np.arange(5, 1000), size=n_subjects, replace=False))
    sizes = _shuffled_shares(rng, n_subjects, SIZE_SHARES)
    colours = _shuffled_shares(rng, n_subjects, (1 - COLOUR_SHARE, COLOUR_SHARE))
    counts = _sequence_counts(rng, n_subjects, n_labelled + n_unlabelled)
    slots = _label_slots(rng, counts, n_labelled)
    subjects = []
    for index in range(n_subjects):
        sub_rng = np.random.default_rng([seed, 1, index])
        width, height = SIZES[sizes[index]]
        sequences = tuple(
            _plan_sequence(sub_rng, number, *slots[index][number - 1])
            for number in range(1, counts[index] + 1)
        )
        subjects.append(
            SubjectPlan(
                index=index,
                number=int(numbers[index]),
                width=width,
                height=height,
                colour=bool(colours[index]),
                tint=_skin_tint(sub_rng),
                geometry=_plan_geometry(sub_rng),
                sequences=sequences,
            )
        )
    return tuple(subjects)


def _check_counts(n_subjects: int, n_labelled: int, n_unlabelled: int) -> None:
    if not 1 <= n_subjects <= 995:
        raise ConfigError(f"n_subjects={n_subjects}: expected 1 to 995 (ids S005..S999)")
    if n_labelled < 0 or n_unlabelled < 0:
        raise ConfigError(f"n_labelled={n_labelled}, n_unlabelled={n_unlabelled}: expected >= 0")
    if n_labelled + n_unlabelled < n_subjects:
        raise ConfigError(
            f"{n_labelled} labelled + {n_unlabelled} unlabelled sequences cannot give each of "
            f"{n_subjects} subjects one"
        )


def apportion(total: int, weights: tuple[float, ...] | list[float]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), so shares are exact."""
    share = np.asarray(weights, np.float64) / float(np.sum(weights)) * total
    counts = np.floor(share).astype(int)
    for i in np.argsort(-(share - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _shuffled_shares(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    items = np.repeat(np.arange(len(shares)), apportion(n, shares))
    return rng.permutation(items)


def _sequence_counts(rng: np.random.Generator, n_subjects: int, total: int) -> list[int]:
    """About total / n_subjects each, never fewer than one, varied like CK+'s subjects."""
    counts = np.full(n_subjects, total // n_subjects)
    counts[rng.choice(n_subjects, total % n_subjects, replace=False)] += 1
    for _ in range(n_subjects // 3):
        give, take = rng.choice(n_subjects, 2, replace=False)
        if counts[give] > 2:
            counts[give] -= 1
            counts[take] += 1
    return counts.tolist()


def _label_slots(
    rng: np.random.Generator, counts: list[int], n_labelled: int
) -> list[list[tuple[int, bool]]]:
    """(emotion code, labelled) for every sequence; codes follow CK+'s counts exactly."""
    codes = list(CKPLUS_CODE_COUNTS)
    weights = list(CKPLUS_CODE_COUNTS.values())
    labelled_codes = np.repeat(codes, apportion(n_labelled, weights))
    total = sum(counts)
    unlabelled_codes = rng.choice(codes, total - n_labelled, p=np.divide(weights, sum(weights)))
    pool = [(int(c), True) for c in labelled_codes] + [(int(c), False) for c in unlabelled_codes]
    order = rng.permutation(total)
    slots, start = [], 0
    for count in counts:
        slots.append([pool[i] for i in order[start : start + count]])
        start += count
    return slots


def _skin_tint(rng: np.random.Generator) -> tuple[float, float, float]:
    return (
        float(rng.uniform(0.78, 0.90)),
        float(rng.uniform(0.92, 0.99)),
        float(rng.uniform(1.06, 1.16)),
    )


def _plan_geometry(rng: np.random.Generator) -> Geometry:
    u = rng.uniform
    eye_v = u(-0.14, -0.08)
    nose_tip = u(0.18, 0.28)
    skin = u(140, 205)
    dark = bool(rng.random() < 0.2)
    return Geometry(
        face_height=u(0.31, 0.35),
        aspect=u(0.72, 0.84),
        eye_u=u(0.36, 0.43),
        eye_v=eye_v,
        eye_width=u(0.19, 0.23),
        eye_open=u(0.055, 0.07),
        brow_gap=u(0.17, 0.22),
        brow_thickness=u(0.045, 0.07),
        nose_tip=nose_tip,
        nose_width=u(0.13, 0.18),
        mouth_v=nose_tip + u(0.22, 0.27),
        mouth_width=u(0.32, 0.40),
        upper_lip=u(0.035, 0.05),
        lower_lip=u(0.045, 0.065),
        hair_line=u(-0.78, -0.58),
        skin=skin,
        hair=u(15, 90),
        iris=u(40, 110),
        lip=u(0.62, 0.74),
        background=u(25, 60) if dark else u(150, 215),
        cloth=u(30, 200),
        dark_background=dark,
        age=u(0.0, 0.6),
    )


def prototype_aus(code: int, rng: np.random.Generator) -> tuple[list[int], int]:
    """The FACS/EMFACS prototype of a CK+ emotion code, and its key AU (never omitted)."""
    coin = rng.random
    if code == 5:
        return [6, 12] + ([25] if coin() < 0.6 else []), 12
    if code == 7:
        mouth = 27 if coin() < 0.55 else 25
        return [1, 2, 5, mouth], mouth
    if code == 6:
        return [1, 4, 15] + ([17] if coin() < 0.5 else []), 15
    if code == 1:
        return [4, 5, 7, 23 if coin() < 0.5 else 24] + ([17] if coin() < 0.5 else []), 4
    if code == 3:
        lower = [[15], [17], [15, 17]][rng.integers(3)]
        extra = ([4] if coin() < 0.4 else []) + ([25] if coin() < 0.25 else [])
        return [9, *lower, *extra], 9
    if code == 4:
        return [1, 2, 4, 5, 20, 25] + ([7] if coin() < 0.3 else []), 20
    if code == 2:
        return [12] + ([14] if coin() < 0.5 else []), 12
    raise ConfigError(f"emotion code {code}: expected 1-7")


def _plan_aus(rng: np.random.Generator, code: int) -> dict[int, int]:
    """Prototype AUs with realistic noise: omissions, an extra AU, random intensities."""
    aus, key = prototype_aus(code, rng)
    kept = [au for au in aus if au == key or rng.random() >= 0.15]
    if rng.random() < 0.15:
        pool = [au for au in DEFAULT_AUS if au not in kept and au not in _NOT_EXTRA]
        kept.append(int(rng.choice(pool)))
    if rng.random() < 0.10:
        other = int(rng.choice(OTHER_AUS))
        if other not in kept:
            kept.append(other)
    return {au: int(rng.choice(5, p=_intensity_p(code, au, key))) + 1 for au in sorted(kept)}


def _intensity_p(code: int, au: int, key: int) -> tuple[float, ...]:
    """Key AUs are clear (2-5); contempt's one-sided smile is a smirk (1-3)."""
    if code == 2 and au == 12:
        return _SMIRK_P
    return _KEY_INTENSITY_P if au == key else _INTENSITY_P


def _plan_sequence(
    rng: np.random.Generator, number: int, code: int, labelled: bool
) -> SequencePlan:
    intensities = _plan_aus(rng, code)
    facs = tuple((au, 0 if rng.random() < 0.05 else level) for au, level in intensities.items())
    drawn = tuple((au, (level + 1) / 6) for au, level in intensities.items())
    return SequencePlan(
        number=number,
        code=code,
        labelled=labelled,
        facs=facs,
        drawn=drawn,
        side=int(rng.choice([-1, 1])) if code == 2 else 0,
        shift=(float(rng.uniform(-0.10, 0.10)), float(rng.uniform(-0.05, 0.05))),
        scale=float(rng.uniform(0.92, 1.08)),
        light=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.03, 0.15))),
        noise=float(rng.uniform(2.0, 6.0)),
    )


# ---------------------------------------------------------------------------------------------
# Drawing


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
    au = _Amounts(amounts)
    place = face_place(subject, sequence, rng)
    grey, skin_mask = _draw_base(subject, place, au)
    _draw_features(grey, subject, place, au, sequence.side)
    image = _finish(grey, skin_mask, subject, sequence, rng)
    _draw_timestamp(image, subject, sequence, frame)
    return image


class _Amounts:
    """AU amounts where an AU that is not given is 0."""

    def __init__(self, amounts: Mapping[int, float]) -> None:
        self._amounts = {int(k): float(v) for k, v in amounts.items()}

    def __getitem__(self, au: int) -> float:
        return self._amounts.get(au, 0.0)


def _tone(value: float) -> int:
    return int(round(min(255.0, max(0.0, value))))


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _fill(img: np.ndarray, points: np.ndarray, tone: int) -> None:
    cv2.fillPoly(img, [_fixed(points)], tone, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, points: np.ndarray, tone: int, thickness: int = 1) -> None:
    cv2.polylines(img, [_fixed(points)], False, tone, thickness, cv2.LINE_AA, _SHIFT)


def _disc(img: np.ndarray, centre: np.ndarray, radius: float, tone: int) -> None:
    """A filled circle; centre and radius in pixels."""
    x, y = (int(c) for c in _fixed(np.asarray(centre)))
    cv2.circle(img, (x, y), max(1, round(radius * _ONE)), tone, -1, cv2.LINE_AA, _SHIFT)


def _ellipse(
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
    centre = tuple(int(c) for c in _fixed(place.px(u, v)))
    axes = (max(1, round(au_ * place.a * _ONE)), max(1, round(av * place.b * _ONE)))
    cv2.ellipse(img, centre, axes, angle, arc[0], arc[1], tone, -1, cv2.LINE_AA, _SHIFT)


# --- the soft layer: background, head, shading (drawn small, blurred, scaled up) -------------


def _draw_base(
    subject: SubjectPlan, place: Place, au: _Amounts
) -> tuple[np.ndarray, np.ndarray | None]:
    """Background, shoulders, hair and the shaded face; the skin mask for colour subjects."""
    w, h = subject.width, subject.height
    sw, sh = math.ceil(w / _LOW), math.ceil(h / _LOW)
    small = place.scaled(sw / w, sh / h)
    g = subject.geometry
    img = np.full((sh, sw), _tone(g.background), np.uint8)
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


def _jaw(au: _Amounts) -> float:
    return 0.24 * au[27]


def _draw_face_oval(
    img: np.ndarray, place: Place, au: _Amounts, tone: int, ku: float = 1.0, kv: float = 1.0
) -> None:
    """The oval; its lower half drops with the jaw (AU27)."""
    _ellipse(img, place, 0, 0, ku, kv, tone, arc=(180, 360))
    lower = (ku * (1 - 0.04 * au[27]), kv + _jaw(au))
    _ellipse(img, place, 0, 0, *lower, tone, arc=(0, 180))


def _neck(place: Place, au: _Amounts) -> np.ndarray:
    return place.px([-0.55, 0.55, 0.62, -0.62], np.array([0.3, 0.3, 1.55, 1.55]) + _jaw(au) * 0.3)


def _hair_cap(place: Place, g: Geometry) -> np.ndarray:
    """The part of the oval above the hair line, which curves down at the temples."""
    u = np.linspace(-1, 1, 25)
    top = -np.sqrt(np.clip(1 - u**2, 0, 1))
    line = np.maximum(top, g.hair_line + 0.32 * u**2)
    return np.concatenate([place.px(u, top - 0.02), place.px(u, line)[::-1]])


def _draw_body(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    _ellipse(img, place, 0, 2.05, 2.5, 0.85, _tone(g.cloth))
    _fill(img, _neck(place, au), _tone(g.skin * 0.62))
    _ellipse(img, place, 0, -0.12, 1.12, 1.02, _tone(g.hair))


def _draw_head(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    for s in (-1, 1):
        _ellipse(img, place, s * 0.98, -0.02, 0.12, 0.2, _tone(g.skin * 0.85))
    _draw_face_oval(img, place, au, _tone(g.skin * 0.82))
    _draw_face_oval(img, place, au, _tone(g.skin), 0.86, 0.88)
    _fill(img, _hair_cap(place, g), _tone(g.hair))


def _draw_shading(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    """Eye sockets, nose bridge and shadow, cheeks and chin: the shapes a face detector keys on."""
    skin = g.skin
    for s in (-1, 1):
        _ellipse(img, place, s * g.eye_u, g.eye_v, g.eye_width * 1.4, 0.11, _tone(skin * 0.74))
        _ellipse(img, place, s * 0.45, g.eye_v + 0.24, 0.18, 0.09, _tone(skin * (1 + 0.05 * au[6])))
    _ellipse(img, place, 0, (g.eye_v + g.nose_tip) / 2, 0.08, 0.26, _tone(skin * 1.08))
    _ellipse(img, place, 0, g.nose_tip + 0.07, g.nose_width, 0.045, _tone(skin * 0.8))
    chin_v = (g.mouth_v + 1) / 2 + 0.05 + _jaw(au) * 0.9
    _ellipse(img, place, 0, chin_v, 0.2, 0.12, _tone(skin * (1.04 + 0.04 * au[17])))


def _draw_skin_mask(mask: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    """Where the colour tint goes: face, ears and neck, not hair."""
    _fill(mask, _neck(place, au), 255)
    for s in (-1, 1):
        _ellipse(mask, place, s * 0.98, -0.02, 0.12, 0.2, 255)
    _draw_face_oval(mask, place, au, 255)
    _fill(mask, _hair_cap(place, g), 0)


# --- the sharp layer: brows, eyes, nose, mouth, lines ---------------------------------------


def _draw_features(
    img: np.ndarray, subject: SubjectPlan, place: Place, au: _Amounts, side: int
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
    _draw_mouth(img, place, g, au, mouth)
    _draw_chin(img, place, g, au, mouth, subject.number)
    if au[14] > 0:
        _draw_dimple(img, place, g, au, mouth, side or 1)


def _brow_points(g: Geometry, au: _Amounts, s: int) -> np.ndarray:
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


def _draw_brow(img: np.ndarray, place: Place, g: Geometry, au: _Amounts, s: int) -> None:
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
    _fill(img, place.px(outline[:, 0], outline[:, 1]), _tone(min(g.hair + 20, g.skin * 0.5)))


def _draw_furrows(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    """AU4's fine vertical lines between the brows."""
    if au[4] <= 0:
        return
    base = g.eye_v - g.brow_gap + 0.07 * au[4]
    tone = _tone(g.skin - 40 * au[4])
    for u in (-0.045, 0.045):
        _line(img, place.px([u, u * 0.8, u * 0.9], [base - 0.05, base + 0.03, base + 0.1]), tone)


def _draw_forehead_lines(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
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
            _line(img, place.px(0.25 * u, v + 0.02 * u**2), _tone(g.skin - central))
        for s in (-1, 1):
            if lateral > 2:
                x = s * (0.3 + 0.2 * (u + 1) / 2)
                _line(img, place.px(x, v + 0.02 + 0.03 * (x**2)), _tone(g.skin - lateral))


def _eye_curves(g: Geometry, au: _Amounts, s: int) -> tuple[np.ndarray, np.ndarray]:
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


def _draw_eye(img: np.ndarray, place: Place, g: Geometry, au: _Amounts, s: int) -> None:
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
    _fill(mask, local, 255)
    layer = np.full(roi.shape, _tone(g.skin * 0.35 + 150), np.uint8)
    iris_r = g.eye_open * 1.15 * place.b
    centre = place.px(s * g.eye_u, g.eye_v + 0.12 * g.eye_open) - [x0, y0]
    _disc(layer, centre, iris_r, _tone(g.iris))
    _disc(layer, centre, iris_r * 0.45, 12)
    _disc(layer, centre - 0.35 * iris_r, iris_r * 0.17, 235)
    weight = mask.astype(np.uint16)
    roi[:] = ((roi * (255 - weight) + layer * weight + 127) // 255).astype(np.uint8)
    lash = max(2, round(0.016 * place.b))
    _line(img, place.px(*upper.T), _tone(min(g.hair, 40)), lash)
    _line(img, place.px(*lower.T), _tone(g.skin * 0.62))


def _draw_eye_lines(img: np.ndarray, place: Place, g: Geometry, au: _Amounts, s: int) -> None:
    """Lid crease; AU7's lower-lid bulge; AU6's crow's feet and the raised cheek's furrow."""
    upper, lower = _eye_curves(g, au, s)
    crease = upper[2:-1] + [0, -0.5 * g.eye_open]
    _line(img, place.px(*crease.T), _tone(g.skin - 28))
    if au[7] > 0:
        bulge = lower[3:-3] + [0, 0.32 * g.eye_open]
        _line(img, place.px(*bulge.T), _tone(g.skin - 40 * au[7]))
    feet = 14 * g.age + 34 * au[6]
    if feet > 2:
        corner = np.array([s * (g.eye_u + g.eye_width * 1.1), g.eye_v])
        for angle in (-0.45, 0.0, 0.45):
            end = corner + [s * 0.1 * math.cos(angle), 0.1 * math.sin(angle) * 1.2]
            mid = (corner + end) / 2 + [0, 0.01]
            _line(img, place.px(*np.array([corner, mid, end]).T), _tone(g.skin - feet))
    if au[6] > 0:
        x = np.linspace(-0.7, 0.9, 9)
        u = s * (g.eye_u + x * g.eye_width * 1.1)
        v = g.eye_v + 0.16 + 0.03 * x**2
        _line(img, place.px(u, v), _tone(g.skin - 30 * au[6]))


def _draw_nose(img: np.ndarray, place: Place, g: Geometry, au: _Amounts) -> None:
    """Side shadows, wings and nostrils; AU9 wrinkles the bridge and lifts the wings."""
    lift = -0.025 * au[9]
    tip = g.nose_tip + lift
    for s in (-1, 1):
        side_u = np.array([0.08, 0.09, g.nose_width * 0.75])
        side_v = np.array([g.eye_v + 0.08, (g.eye_v + tip) / 2, tip - 0.05])
        _line(img, place.px(s * side_u, side_v), _tone(g.skin * 0.86), 2)
        wing_u = s * g.nose_width * np.array([0.55, 0.95, 1.05, 0.9, 0.6])
        wing_v = tip + np.array([-0.05, -0.02, 0.05, 0.1, 0.09])
        _line(img, place.px(wing_u, wing_v), _tone(g.skin * 0.72), 2)
        nostril = _tone(g.skin * 0.3)
        _ellipse(img, place, s * g.nose_width * 0.45, tip + 0.055, 0.06, 0.022, nostril, s * 12)
    if au[9] > 0:
        tone = _tone(g.skin * 1.05 - 45 * au[9])
        u = np.linspace(-0.1, 0.1, 7)
        for i in range(4):
            v = g.eye_v + 0.02 + 0.04 * i + 0.03 * (u / 0.1) ** 2
            _line(img, place.px(u, v), tone)


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


def _mouth_shape(g: Geometry, au: _Amounts, side: int) -> _Mouth:
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


def _draw_mouth(img: np.ndarray, place: Place, g: Geometry, au: _Amounts, m: _Mouth) -> None:
    lip_tone = _tone(g.skin * g.lip)
    _fill(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.top, m.gap_top[::-1]]), lip_tone)
    _fill(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.gap_bottom, m.bottom[::-1]]), lip_tone)
    dark = _tone(g.skin * (0.36 - 0.15 * au[24]))
    if m.gap > 0.004:
        _fill(img, place.px(np.r_[m.u, m.u[::-1]], np.r_[m.gap_top, m.gap_bottom[::-1]]), 28)
        inner = slice(5, -5)
        teeth = np.minimum(m.gap_top + 0.05, (m.gap_top + m.gap_bottom) / 2)[inner]
        u = m.u[inner]
        outline = place.px(np.r_[u, u[::-1]], np.r_[m.gap_top[inner], teeth[::-1]])
        _fill(img, outline, _tone(g.skin * 0.25 + 165))
        _line(img, place.px(m.u, m.gap_top), dark)
        _line(img, place.px(m.u, m.gap_bottom), dark)
    else:
        _line(img, place.px(m.u, m.line), dark, 3 if au[24] > 0.5 else 2)
    if au[24] > 0:
        for edge, dv in ((m.top, -0.012), (m.bottom, 0.012)):
            _line(img, place.px(m.u[4:-4], edge[4:-4] + dv), _tone(g.skin + 25 * au[24]))


def _draw_nasolabial(img: np.ndarray, place: Place, g: Geometry, au: _Amounts, m: _Mouth) -> None:
    """Folds from the nose wings past the mouth corners; AU12 deepens them and lifts their end."""
    depth = 10 + 20 * g.age + 40 * au[12]
    for s, i in ((-1, 0), (1, -1)):
        corner = np.array([m.u[i], m.line[i]])
        start = np.array([s * (g.nose_width + 0.05), g.nose_tip - 0.01])
        end = corner + [s * 0.08, 0.08]
        mid = (start + end) / 2 + [s * 0.05, 0]
        _line(img, place.px(*np.array([start, mid, end]).T), _tone(g.skin - depth), 2)


def _draw_chin(
    img: np.ndarray, place: Place, g: Geometry, au: _Amounts, m: _Mouth, number: int
) -> None:
    """AU17: a deeper furrow under the lower lip and a dimpled 'orange peel' chin boss."""
    if au[17] <= 0:
        return
    bottom = float(m.bottom[len(m.bottom) // 2])
    x = np.linspace(-0.18, 0.18, 9)
    _line(img, place.px(x, bottom + 0.05 + 0.8 * x**2), _tone(g.skin - 35 * au[17]))
    dots = np.random.default_rng([number, 17]).uniform(-1, 1, size=(40, 2))
    centre_v = (bottom + 1 + _jaw(au)) / 2 + 0.04
    tone = _tone(g.skin - 30 * au[17])
    for du, dv in dots:
        _disc(img, place.px(0.17 * du, centre_v + 0.09 * dv), 1.0, tone)


def _draw_dimple(
    img: np.ndarray, place: Place, g: Geometry, au: _Amounts, m: _Mouth, side: int
) -> None:
    """AU14 (outside the default list): a faint dimple beside one mouth corner."""
    i = -1 if side > 0 else 0
    u, v = m.u[i] + side * 0.04, m.line[i]
    fold = place.px([u, u + side * 0.01, u], [v - 0.04, v, v + 0.04])
    _line(img, fold, _tone(g.skin - 25 * au[14]))


# --- finishing: lighting, colour, noise, timestamp --------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Writing


def ckplus_float(value: float) -> str:
    """A number the way CK+ writes it: '   7.0000000e+00'."""
    return f"{value:16.7e}"


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, list(_PNG)):
        raise DataError(f"{path}: OpenCV could not write the image")


def write_subject(root: Path, subject: SubjectPlan, seed: int, frames_per_sequence: int) -> None:
    """Draw and write one subject's sequences; each frame's randomness has its own seed."""
    for sequence in subject.sequences:
        stem = f"{subject.name}_{sequence.number:03d}"
        rel = Path(subject.name) / f"{sequence.number:03d}"
        folder = root / "cohn-kanade-images" / rel
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(1, frames_per_sequence + 1):
            rng = np.random.default_rng([seed, 2, subject.index, sequence.number, frame])
            image = draw_frame(subject, sequence, frame, frames_per_sequence, rng)
            _write_png(folder / f"{stem}_{frame:08d}.png", image)
        if sequence.labelled:
            _write_labels(root, rel, f"{stem}_{frames_per_sequence:08d}", sequence)


def _write_labels(root: Path, rel: Path, peak: str, sequence: SequencePlan) -> None:
    emotion = root / "Emotion" / rel
    facs = root / "FACS" / rel
    emotion.mkdir(parents=True, exist_ok=True)
    facs.mkdir(parents=True, exist_ok=True)
    (emotion / f"{peak}_emotion.txt").write_text(ckplus_float(sequence.code) + "\n")
    lines = "".join(ckplus_float(au) + ckplus_float(level) + "\n" for au, level in sequence.facs)
    (facs / f"{peak}_facs.txt").write_text(lines)


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _clean_context() -> multiprocessing.context.BaseContext:
    """Workers that do not inherit the caller's threads (TensorFlow, OpenCV's pool): a fork of
    a threaded process can hang. Like any non-fork start, the caller's script needs a
    `if __name__ == "__main__":` guard."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def generate(
    root: Path,
    *,
    seed: int = 0,
    n_subjects: int = 120,
    n_labelled: int = 560,
    n_unlabelled: int = 40,
    frames_per_sequence: int = 3,
    workers: int | None = None,
) -> Path:
    """Draw the set into `root` in the CK+ layout (one process per core, subjects in parallel)."""
    if frames_per_sequence < 1:
        raise ConfigError(f"frames_per_sequence={frames_per_sequence}: expected >= 1")
    subjects = plan_dataset(
        seed=seed, n_subjects=n_subjects, n_labelled=n_labelled, n_unlabelled=n_unlabelled
    )
    root = Path(root)
    for part in ("cohn-kanade-images", "Emotion", "FACS"):
        (root / part).mkdir(parents=True, exist_ok=True)
    n_workers = min(_worker_count(workers), len(subjects))
    if n_workers == 1:
        for subject in subjects:
            write_subject(root, subject, seed, frames_per_sequence)
        return root
    with ProcessPoolExecutor(n_workers, mp_context=_clean_context()) as pool:
        jobs = [
            pool.submit(write_subject, root, subject, seed, frames_per_sequence)
            for subject in subjects
        ]
        for job in jobs:
            job.result()
    return root


def builtin_root(
    *,
    seed: int = 0,
    n_subjects: int = 120,
    n_labelled: int = 560,
    cache_dir: Path | None = None,
) -> Path:
    """The default data set, drawn once into the cache; a half-drawn folder never gets the name."""
    base = Path(cache_dir) if cache_dir is not None else cache_root()
    final = base / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-s{n_subjects}-n{n_labelled}"
    if final.is_dir():
        return final
    base.mkdir(parents=True, exist_ok=True)
    temp = base / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate(temp, seed=seed, n_subjects=n_subjects, n_labelled=n_labelled)
        try:
            os.replace(temp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final
