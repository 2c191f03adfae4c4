"""The built-in CK+-like synthetic face set, drawn with OpenCV and written in the CK+ layout.

CK+ is licensed and cannot be shipped, so the default data set is drawn: subjects with their own
face geometry, sequences from neutral to peak, emotions that follow the FACS prototypes, CK+'s
class imbalance, sizes and grey/colour mix. It is written exactly like CK+ so the real reader
(`core.sources`) is exercised on every default run.

The work is split in two: `plan` decides everything from the seed (pure and cheap), and `draw`
(with `head`, `features` and `shapes`) turns one subject's plan into images; `write` lays the
images and labels out like CK+. Every frame's randomness comes from its own seed, so the files are
identical for any number of workers.

Big shapes (brows, lids, lip corners, open mouth) carry the emotion and survive a 96 px input;
subtle AUs (crow's feet, nose wrinkles, chin texture, lip thickness, lower lid) are 1-2 px, low
contrast details at full size, so the input size matters to a tuner.
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
