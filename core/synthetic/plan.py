"""The seeded plan of the set: subjects, face geometry, sequences, emotions and AUs.

Pure and cheap: everything is decided from the seed, before any pixel is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..labels import DEFAULT_AUS

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
