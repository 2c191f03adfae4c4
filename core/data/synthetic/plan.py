"""The seeded plan of the set: subjects, sequences, emotions, AUs as drawn and as coded, and
every shot's nuisances (pose, place, light, noise, blur, compression).

Pure and cheap: everything is decided from the seed, before any pixel is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError
from ...labels import DEFAULT_AUS
from .identity import Geometry, plan_geometry, skin_tint

GENERATOR_VERSION = 2

# Sequences per emotion code among CK+'s 327 labelled ones (negative 175, positive 69, surprise 83).
CKPLUS_CODE_COUNTS: dict[int, int] = {1: 45, 2: 18, 3: 59, 4: 25, 5: 69, 6: 28, 7: 83}
SIZES: tuple[tuple[int, int], ...] = ((640, 490), (640, 480), (720, 480))
SIZE_SHARES: tuple[float, ...] = (0.60, 0.25, 0.15)
COLOUR_SHARE = 0.10
# Coded now and then although outside DEFAULT_AUS, so readers must skip them; only 14 is drawn.
OTHER_AUS: tuple[int, ...] = (10, 14, 16, 26, 38, 43)
# Coders disagree: each default AU's coded presence is flipped with this chance (never so that
# AU27 is coded without AU25).
FLIP_RATE = 0.03
# The share of peak frames with AU5 the plan aims at: about CK+'s (102 of 593 coded sequences,
# 17.2 %, in Lucey et al. 2010, table 1).
AU5_TARGET = 0.175
# AU5 (upper lid raiser) in the prototypes that may carry it; chosen so that, with omissions,
# extras and flips, about AU5_TARGET of the peaks have it.
_AU5_P = {7: 0.40, 1: 0.20, 4: 0.50}
# Never added as an extra AU: they would turn the face into another emotion.
_NOT_EXTRA = (12, 27)
_INTENSITY_P = (0.10, 0.20, 0.30, 0.25, 0.15)
_KEY_INTENSITY_P = (0.0, 0.15, 0.35, 0.30, 0.20)
_SMIRK_P = (0.30, 0.40, 0.30, 0.0, 0.0)
# Head pose in degrees: roll in the image plane, yaw (turned left/right), per sequence.
MAX_ROLL = 15.0
MAX_YAW = 15.0


@dataclass(frozen=True)
class SequencePlan:
    """One sequence: emotion, AUs as coded (FACS) and as drawn (0..1), and its shots' nuisances.

    `flipped` lists the default AUs whose coded presence disagrees with the drawn face."""

    number: int
    code: int
    labelled: bool
    facs: tuple[tuple[int, int], ...]
    drawn: tuple[tuple[int, float], ...]
    flipped: tuple[int, ...]
    intensity: float
    side: int
    roll: float
    yaw: float
    shift: tuple[float, float]
    scale: float
    exposure: float
    light: tuple[float, float]
    shadow: tuple[float, float, float]
    noise: float
    blur: float
    quality: int


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
                tint=skin_tint(sub_rng),
                geometry=plan_geometry(sub_rng),
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


def prototype_aus(code: int, rng: np.random.Generator) -> tuple[list[int], int]:
    """The FACS/EMFACS prototype of a CK+ emotion code, and its key AU (never omitted)."""
    coin = rng.random
    lids = [5] if code in _AU5_P and coin() < _AU5_P[code] else []
    if code == 5:
        return [6, 12] + ([25] if coin() < 0.6 else []), 12
    if code == 7:
        return [1, 2, *lids, 25] + ([27] if coin() < 0.7 else []), 25
    if code == 6:
        return [1, 4, 15] + ([17] if coin() < 0.5 else []), 15
    if code == 1:
        return [4, *lids, 7, 23 if coin() < 0.5 else 24] + ([17] if coin() < 0.5 else []), 4
    if code == 3:
        lower = [[15], [17], [15, 17]][rng.integers(3)]
        extra = ([4] if coin() < 0.4 else []) + ([25] if coin() < 0.25 else [])
        return [9, *lower, *extra], 9
    if code == 4:
        return [1, 2, 4, *lids, 20, 25] + ([7] if coin() < 0.3 else []), 20
    if code == 2:
        return [12] + ([14] if coin() < 0.5 else []), 12
    raise ConfigError(f"emotion code {code}: expected 1-7")


def _plan_aus(rng: np.random.Generator, code: int) -> dict[int, int]:
    """Prototype AUs with realistic noise: omissions, an extra AU, random intensities."""
    aus, key = prototype_aus(code, rng)
    kept = [au for au in aus if au == key or rng.random() >= 0.15]
    if 27 in kept and 25 not in kept:
        kept.append(25)
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


def _coded_level(amount: float) -> int:
    """The FACS intensity (1 = A, trace .. 5 = E, maximum) a coder gives a drawn amount."""
    return int(min(5, max(1, round(amount * 6 - 1))))


def flip_labels(
    rng: np.random.Generator, coded: dict[int, int]
) -> tuple[dict[int, int], tuple[int, ...]]:
    """Coder disagreement: each default AU flipped with FLIP_RATE; AU27 never without AU25.
    Returns the new coding and the default AUs whose presence changed."""
    flipped = dict(coded)
    for au in DEFAULT_AUS:
        if rng.random() >= FLIP_RATE:
            continue
        if au not in flipped:
            flipped[au] = int(rng.integers(1, 3))
        elif not (au == 25 and 27 in flipped):
            del flipped[au]
    if 27 in flipped and 25 not in flipped:
        flipped[25] = 1
    changed = tuple(au for au in DEFAULT_AUS if (au in coded) != (au in flipped))
    return dict(sorted(flipped.items())), changed


def _plan_sequence(
    rng: np.random.Generator, number: int, code: int, labelled: bool
) -> SequencePlan:
    levels = _plan_aus(rng, code)
    # Subtle to full: the whole expression's strength, 0.5 to 1 and mostly strong (as in CK+,
    # whose peaks are posed); a coder codes what is visible.
    intensity = float(1 - 0.5 * rng.random() ** 2)
    drawn = {au: intensity * (level + 1) / 6 for au, level in levels.items()}
    coded, flipped = flip_labels(rng, {au: _coded_level(a) for au, a in drawn.items()})
    facs = tuple((au, 0 if rng.random() < 0.05 else level) for au, level in coded.items())
    u = rng.uniform
    return SequencePlan(
        number=number,
        code=code,
        labelled=labelled,
        facs=facs,
        drawn=tuple(drawn.items()),
        flipped=flipped,
        intensity=intensity,
        side=int(rng.choice([-1, 1])) if code == 2 else 0,
        roll=float(u(-MAX_ROLL, MAX_ROLL)),
        yaw=float(u(-MAX_YAW, MAX_YAW)),
        shift=(float(u(-0.15, 0.15)), float(u(-0.06, 0.06))),
        scale=float(u(0.80, 1.12)),
        exposure=float(u(0.65, 1.25)),
        light=(float(u(0, 2 * math.pi)), float(u(0.05, 0.35))),
        shadow=_plan_shadow(rng),
        noise=float(u(2.0, 9.0)),
        blur=float(u(0.0, 1.8)),
        quality=int(rng.integers(25, 96)),
    )


def _plan_shadow(rng: np.random.Generator) -> tuple[float, float, float]:
    """A cast shadow over part of the face: its edge's angle, offset (face units) and depth."""
    if rng.random() >= 0.5:
        return (0.0, 0.0, 0.0)
    u = rng.uniform
    return (float(u(0, 2 * math.pi)), float(u(-0.5, 0.5)), float(u(0.15, 0.35)))
