"""The built-in CK+-like synthetic face set, drawn with OpenCV and written in the CK+ layout.

CK+ is licensed and cannot be shipped, so the default data set is drawn: subjects with their own
looks, sequences from neutral to peak, emotions that follow the FACS prototypes, CK+'s class
imbalance, sizes and grey/colour mix. It is written exactly like CK+ so the real reader
(`core.data.sources`) is exercised on every default run.

It is meant to be hard enough that tuning matters: identity (`identity`), head pose, scale and
position, cluttered rooms, uneven light and cast shadows, blur, noise and JPEG (`finish`), and
expressions from subtle to full keep a linear model on small pixels near the floors, while a CNN
with augmentation learns through them. AU statistics follow CK+: AU27 always with AU25, AU5 near
CK+'s rate, and a few percent of AU labels flipped (coders disagree), recorded in the plan.

`plan` decides everything from the seed (pure and cheap); `draw` (with `head`, `features`,
`shapes` and `finish`) turns one subject's plan into images; `write` lays images and labels out
like CK+. Every frame's randomness comes from its own seed, so the files are identical for any
number of workers.
"""

from .draw import draw_expression, draw_frame, face_place, frame_amounts
from .identity import Geometry
from .plan import (
    AU5_TARGET,
    CKPLUS_CODE_COUNTS,
    COLOUR_SHARE,
    FLIP_RATE,
    GENERATOR_VERSION,
    OTHER_AUS,
    SIZE_SHARES,
    SIZES,
    SequencePlan,
    SubjectPlan,
    apportion,
    plan_dataset,
    prototype_aus,
)
from .shapes import Place
from .write import builtin_root, ckplus_float, generate, write_subject

__all__ = [
    "AU5_TARGET",
    "CKPLUS_CODE_COUNTS",
    "COLOUR_SHARE",
    "FLIP_RATE",
    "GENERATOR_VERSION",
    "OTHER_AUS",
    "SIZES",
    "SIZE_SHARES",
    "Geometry",
    "Place",
    "SequencePlan",
    "SubjectPlan",
    "apportion",
    "builtin_root",
    "ckplus_float",
    "draw_expression",
    "draw_frame",
    "face_place",
    "frame_amounts",
    "generate",
    "plan_dataset",
    "prototype_aus",
    "write_subject",
]
