"""One subject's looks: face shape and proportions, skin, hair, glasses, facial hair, room.

Identity is the nuisance a face set is mostly made of: the same expression on two subjects
differs more, pixel by pixel, than two expressions on one subject. The ranges are wide on purpose
(dark to light skin, bald to long hair, glasses, beards) so that a pixel-linear model cannot
learn an expression as a fixed pattern of grey levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Hair styles: short hair above the forehead, long hair down beside the face to the shoulders,
# bald (no hair cap), and a fringe that hangs down to just above the brows.
SHORT, LONG, BALD, FRINGE = 0, 1, 2, 3
_HAIR_STYLE_P = (0.40, 0.25, 0.10, 0.25)
# Facial hair: none, stubble over the jaw, a moustache, a full beard with moustache.
NO_BEARD, STUBBLE, MOUSTACHE, FULL_BEARD = 0, 1, 2, 3
_BEARD_P = (0.72, 0.10, 0.08, 0.10)
GLASSES_SHARE = 0.22


@dataclass(frozen=True)
class Geometry:
    """One subject's face, in face units: u across, v down, the oval spans -1..1 in both."""

    face_height: float
    aspect: float
    jaw: float
    chin: float
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
    hair_style: int
    skin: float
    hair: float
    iris: float
    lip: float
    background: float
    cloth: float
    dark_background: bool
    age: float
    glasses: float  # frame thickness in face units; 0 = none
    glasses_tone: float
    lens: float  # lens gain: 1 clear, below 1 tinted
    beard: int
    beard_density: float
    clutter: int  # seed of the room behind the subject


def skin_tint(rng: np.random.Generator) -> tuple[float, float, float]:
    return (
        float(rng.uniform(0.78, 0.90)),
        float(rng.uniform(0.92, 0.99)),
        float(rng.uniform(1.06, 1.16)),
    )


def plan_geometry(rng: np.random.Generator) -> Geometry:
    u = rng.uniform
    eye_v = u(-0.18, -0.05)
    nose_tip = eye_v + u(0.26, 0.40)
    skin = u(75, 215)
    dark = bool(rng.random() < 0.35)
    style = int(rng.choice(4, p=_HAIR_STYLE_P))
    beard = int(rng.choice(4, p=_BEARD_P))
    glasses = bool(rng.random() < GLASSES_SHARE)
    return Geometry(
        face_height=u(0.27, 0.34),
        aspect=u(0.68, 0.88),
        jaw=u(0.82, 1.05),
        chin=u(0.92, 1.10),
        eye_u=u(0.33, 0.45),
        eye_v=eye_v,
        eye_width=u(0.17, 0.24),
        eye_open=u(0.045, 0.075),
        brow_gap=u(0.15, 0.24),
        brow_thickness=u(0.035, 0.08),
        nose_tip=nose_tip,
        nose_width=u(0.12, 0.20),
        mouth_v=nose_tip + u(0.19, 0.29),
        mouth_width=u(0.30, 0.42),
        upper_lip=u(0.03, 0.055),
        lower_lip=u(0.04, 0.07),
        hair_line=u(-0.55, -0.42) if style == FRINGE else u(-0.80, -0.55),
        hair_style=style,
        skin=skin,
        hair=u(15, 200) if rng.random() < 0.3 else u(15, 80),
        iris=u(30, 130),
        lip=u(0.62, 0.80),
        background=u(25, 80) if dark else u(120, 225),
        cloth=u(20, 220),
        dark_background=dark,
        age=u(0.0, 0.8),
        glasses=u(0.012, 0.035) if glasses else 0.0,
        glasses_tone=u(10, 120),
        lens=u(0.55, 1.0) if rng.random() < 0.3 else 1.0,
        beard=beard,
        beard_density=u(0.35, 0.9),
        clutter=int(rng.integers(2**31)),
    )
