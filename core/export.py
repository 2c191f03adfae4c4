"""`python -m core.export RUN_OR_MODEL --out DIR [--int8] [--data PATH] [--json]`.

A trained model as TensorFlow Lite for deployment: model.tflite (float32) and, with --int8,
model_int8.tflite (int8 weights and activations, float32 input and output), beside a copy of the
model's thresholds.json (so `core.predict --model DIR` runs them) and export.json (sizes, latency
per image on this CPU, agreement with the Keras model on the test split).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli import (
    MAX_TIMING_RUNS,
    Parser,
    add_data_option,
    exits_cleanly,
    folder_path,
    int_in,
    seed,
    threads,
)
from .deploy.predictor import Predictor, check_model_archive, find_model, load_model
from .deploy.tflite_model import TFLITE_SUFFIX
from .errors import DataError
from .evaluation.thresholds import THRESHOLDS_FILE, read_thresholds
from .files import (
    check_output_folder,
    folder_in_place,
    output_written,
    strict_json,
    write_bytes_atomically,
    write_json_atomically,
)

if TYPE_CHECKING:
    from .data.dataset import TrainingData

EXPORT_FILE = "export.json"
# TFLite's calibration runs every image: far more than this adds minutes, not accuracy.
MAX_CALIBRATION = 10_000
DESCRIPTION = (
    "A trained model as TensorFlow Lite files (float32, int8) with sizes, latency, agreement."
)


def build_parser() -> Parser:
    """The options of `python -m core.export`."""
    parser = Parser(prog="python -m core.export", description=DESCRIPTION)
    add = parser.add_argument
    add("model", type=Path, metavar="RUN_OR_MODEL", help="study, core.train folder or model.keras")
    add("--out", type=folder_path, required=True, help="output folder (new or empty)")
    add("--int8", action="store_true", help="also write model_int8.tflite (full-integer)")
    add_data_option(parser)  # the set the model was trained on: calibration and test images
    add("--seed", type=seed, default=0, help="the split seed the model was trained with")
    add(
        "--calibration-images",
        type=int_in(1, MAX_CALIBRATION),
        default=200,
        help=f"training images for int8 (at most {MAX_CALIBRATION}; all when the split has fewer)",
    )
    add("--threads", type=threads, default=1, help="TFLite interpreter threads for latency")
    add(
        "--runs",
        type=int_in(1, MAX_TIMING_RUNS),
        default=100,
        help="timed runs per model (median reported)",
    )
    add("--warmup", type=int_in(0, MAX_TIMING_RUNS), default=10, help="untimed runs first")
    add("--allow-outside-root", action="store_true", help="as for core.train with a CSV")
    add("--json", action="store_true", help="print export.json as one JSON object")
    return parser


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Convert, measure, write; a user's mistake is one line and exit code 2."""
    args = build_parser().parse_args(argv)
    check_output_folder("--out", args.out, empty=True)
    model_file, settings = _model_and_settings(args.model)
    data = _training_data(args, settings)  # a wrong --data is found before the slow load
    predictor = Predictor(load_model(model_file), settings)
    files, report = _export(args, predictor, settings, data)
    report = {"source": str(model_file), "source_bytes": model_file.stat().st_size, **report}
    write_all(args.out, files, {THRESHOLDS_FILE: settings, EXPORT_FILE: report})
    print(strict_json(report) if args.json else format_summary(report, args.out))
    return 0


def _model_and_settings(path: Path) -> tuple[Path, dict[str, Any]]:
    """The Keras model file and its thresholds.json settings, checked in that order so the
    first fault found is the one named."""
    model_file = find_model(path, option="")
    if model_file.suffix == TFLITE_SUFFIX:
        raise DataError(f"{model_file}: already a TFLite model; export converts a model.keras")
    check_model_archive(model_file)
    settings = read_thresholds(model_file.parent / THRESHOLDS_FILE)
    return model_file, settings


def _export(
    args, predictor: Predictor, settings: dict[str, Any], data: TrainingData
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The TFLite files by name, and export.json's measurements of them."""
    from .deploy import conversion
    from .training.pipeline import trial_views

    views = trial_views(data.prepared, settings["crop_fraction"], settings["input_size"])
    inputs = conversion.model_inputs(views[data.split.test])
    reference = conversion.Reference(
        inputs,
        conversion.outputs_of(predictor.model, inputs),
        data.prepared.aus[data.split.test],
        predictor.thresholds.tolist(),
        predictor.au_names,
    )
    kinds = {conversion.FLOAT32: None}
    if args.int8:
        count, train = args.calibration_images, data.split.train
        kinds[conversion.INT8] = conversion.calibration_inputs(views, train, count, args.seed)
        if len(train) < count:
            print(
                f"note: --calibration-images {count}: the training split has {len(train)} "
                "images; int8 is calibrated on all of them",
                file=sys.stderr,  # stdout may be --json's
            )
    files, models = {}, {}
    timing = (args.threads, args.runs, args.warmup)
    for kind, calibration in kinds.items():
        content = conversion.convert(predictor.model, calibration)
        files[conversion.FILES[kind]] = content
        models[kind] = conversion.describe(kind, content, reference, *timing)
        if calibration is not None:
            models[kind]["calibration_images"] = len(calibration)
    return files, {
        "data": str(args.data) if args.data else "built-in",
        "seed": args.seed,
        "models": models,
        "latency": _latency_settings(args),
        "test": {
            "images": len(inputs),
            "keras_au_f1_macro": reference.au_f1(reference.outputs["au"]),
            "thresholds": "tuned on validation (thresholds.json)",
        },
    }


def _training_data(args, settings: dict[str, Any]) -> TrainingData:
    """The data the model was trained on, split and prepared as it was (size, face detector),
    with the model's AUs."""
    from .data.dataset import load_training_data
    from .labels import parse_au_list

    aus = parse_au_list(",".join(name.removeprefix("AU") for name in settings["au_names"]))
    data = load_training_data(
        args.data,
        seed=args.seed,
        aus=aus,
        prepared_size=settings["prepared_size"],
        detector=settings["face_detector"],
        allow_outside_root=args.allow_outside_root,
    )
    if len(data.split.test) == 0:
        raise DataError(f"{args.data or 'the built-in set'}: no test images to measure on")
    return data


def _latency_settings(args) -> dict[str, Any]:
    from .deploy.conversion import cpu_name

    return {
        "batch": 1,
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "statistic": "median",
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
    }


def write_all(out: Path, files: dict[str, bytes], payloads: dict[str, Any]) -> None:
    """Every file into a hidden sibling of `out`, renamed to `out` at the end: a run that fails
    or is killed leaves no half export."""
    with output_written("--out", out), folder_in_place(out) as temporary:  # over an empty one
        for name, content in files.items():
            write_bytes_atomically(temporary / name, content)
        for name, payload in payloads.items():
            write_json_atomically(temporary / name, payload)


def format_summary(report: dict[str, Any], out: Path) -> str:
    """A few lines: each file's size, latency and agreement with the Keras model."""
    latency, test = report["latency"], report["test"]
    keras_f1 = _signed(test["keras_au_f1_macro"], sign="")
    lines = [f"exported {report['source']} ({report['source_bytes'] / 1e6:.1f} MB) to {out}"]
    for kind, model in report["models"].items():
        agree = model["agreement"]
        lines.append(
            f"  {model['file']:<18} {kind:<8}{model['bytes'] / 1e6:>7.2f} MB"
            f"{model['latency_ms']:>8.2f} ms/image  max |diff| {agree['max_abs_difference']:.2g}"
            f"  emotion agrees {agree['emotion_argmax_agreement']:.1%}"
            f"  AU F1 {_signed(agree['au_f1_macro_change'])}"
        )
    lines.append(
        f"latency: batch 1, median of {latency['runs']} runs after {latency['warmup']} warm-up "
        f"runs, {latency['threads']} thread(s), {latency['cpu']}; agreement with the Keras model "
        f"on {test['images']} test images (its AU macro F1 {keras_f1})"
    )
    if "int8" in report["models"]:
        lines.append("int8: int8 weights and activations, float32 input and output")
    return "\n".join(lines)


def _signed(value: float | None, sign: str = "+") -> str:
    """A score or a change of one, three decimals; n/a when undefined (no AU positive)."""
    return "n/a" if value is None else f"{value:{sign}.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
