"""`python -m core.predict --model PATH_OR_RUN_DIR IMAGE_OR_FOLDER... [--json]`.

Emotion and AUs of new images with a trained model (core.deploy.predictor): each image goes through
the very code path training used, and AUs are cut at the thresholds tuned on validation.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .deploy.predictor import Prediction, Predictor, check_model_file, find_model, image_files
from .evaluation.thresholds import THRESHOLDS_FILE, read_thresholds
from .files import strict_json


def format_predictions(predictions: Sequence[Prediction]) -> str:
    """A table: image, emotion, its probability, face found, AUs present."""
    width = max([len("image"), *(len(p.path) for p in predictions)])
    lines = [f"{'image':<{width}}  {'emotion':<9}{'prob':>6}  {'face':<5} AUs present"]
    for p in predictions:
        aus = " ".join(p.aus) or "-"
        face = "yes" if p.face_found else "no"
        lines.append(f"{p.path:<{width}}  {p.emotion:<9}{p.probability:>6.3f}  {face:<5} {aus}")
    return "\n".join(lines)


def build_parser():
    """The options of `python -m core.predict`."""
    from .cli import Parser

    parser = Parser(prog="python -m core.predict", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        help="study folder (uses best/), core.train or core.export output folder, or a "
        "model.keras or .tflite file",
    )
    parser.add_argument("images", nargs="+", help="image files or folders of images")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Predict emotion and AUs for images; a user's mistake is one line and exit code 2."""
    from .cli import exits_cleanly

    return exits_cleanly(_main)(argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    model_file = find_model(args.model)
    check_model_file(model_file)  # fail before the slow model load
    read_thresholds(model_file.parent / THRESHOLDS_FILE)
    paths = image_files(args.images)
    predictor = Predictor.from_run(model_file)
    predictions = predictor.predict(paths)
    if args.json:
        payload = {
            "model": str(model_file),
            "thresholds": dict(zip(predictor.au_names, predictor.thresholds.tolist(), strict=True)),
            "predictions": [p.as_dict() for p in predictions],
        }
        print(strict_json(payload), file=sys.stdout)
    else:
        print(format_predictions(predictions), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
