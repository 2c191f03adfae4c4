"""`python -m core.train --out DIR [options]`: train one config, no Ray.

A thin command line over `core.training.loop`: parse the options into a config (each option's `dest`
is its config key, so no key is copied by hand), train, test, and write model.keras, report.json,
history.json, thresholds.json and TensorBoard files into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli import (
    Parser,
    add_data_option,
    add_detector_option,
    add_target_option,
    epochs,
    exits_cleanly,
    folder_path,
    fraction,
    int_in,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
    threads,
)
from .cli import backbone_weights as backbone_weights_option
from .config import ALPHAS, MIN_INPUT_SIZE, TrainConfig, targets_from_options, train_config
from .files import check_output_folder, replace_atomically, write_json_atomically
from .folder_lock import folder_lock
from .images.preprocess import MAX_PREPARED_SIZE
from .labels import parse_au_list

if TYPE_CHECKING:
    from .images.preprocess import PreparedData

# Options that are config keys (dest = key); the rest (--data, --out, ...) say where and how.
CONFIG_OPTIONS: tuple[str, ...] = (
    "input_size",
    "alpha",
    "backbone",
    "backbone_weights",
    "unfreeze_top_blocks",
    "sample_size",
    "crop_fraction",
    "l1",
    "dropout",
    "zoom",
    "brightness",
    "contrast",
    "rotation",
    "learning_rate",
    "batch_size",
    "max_epochs",
    "min_epochs",
    "patience",
    "au_weighting",
    "seed",
    "threads",
)


def build_parser() -> Parser:
    """The options of `python -m core.train`."""
    parser = Parser(
        prog="python -m core.train", description="Train one config of the dual-head CNN."
    )
    add = parser.add_argument
    add_data_option(parser)
    add(
        "--out",
        type=folder_path,
        required=True,
        help="output folder: tb/, model.keras, report.json",
    )
    add("--input-size", type=positive_int, default=96)
    add("--alpha", type=positive_float, default=0.25)
    add("--backbone", choices=tuple(ALPHAS), default="mobilenet")
    add(
        "--backbone-weights",
        help="none (from scratch, the default), fer2013 (mini_xception, fetched on first use), "
        "imagenet (MobileNets, fetched by Keras) or a local weights file",
    )
    add("--unfreeze-top-blocks", type=non_negative_int, default=0)
    add("--sample-size", type=positive_int, help="training images per emotion (default: majority)")
    add("--crop-fraction", type=positive_float, default=1.0)
    add("--l1", type=non_negative_float, default=0.0)
    add("--dropout", type=fraction, default=0.0)
    for name in ("zoom", "brightness", "contrast", "rotation"):
        add(f"--{name}", type=fraction, default=0.0, help=f"{name} augmentation factor, 0 = off")
    add("--learning-rate", type=positive_float, default=1e-3)
    add("--batch-size", type=positive_int, default=16)
    add("--epochs", dest="max_epochs", type=epochs, default=20, help="most epochs")
    add("--min-epochs", type=non_negative_int, default=5)
    add("--patience", type=non_negative_int, default=5)
    add("--au-weighting", choices=("none", "balanced"), default="none")
    add_target_option(parser)
    add("--aus", type=parse_au_list, help="AU list, e.g. 1,2,4 (default: the 15 CK+ AUs)")
    add("--prepared-size", type=int_in(MIN_INPUT_SIZE, MAX_PREPARED_SIZE), default=480)
    add_detector_option(parser)
    add("--seed", type=seed, default=0)
    add("--threads", type=threads, help="TF threads (default: all cores)")
    add(
        "--allow-outside-root",
        action="store_true",
        help="accept CSV image paths outside the manifest's folder",
    )
    return parser


def config_from_args(args) -> dict[str, Any]:
    """The training config the options describe."""
    config = {key: getattr(args, key) for key in CONFIG_OPTIONS}
    config["backbone_weights"] = backbone_weights_option(args.backbone_weights)
    config["targets"] = targets_from_options(args.targets, args.target)
    return config


def save_outputs(out: Path, result, report: dict[str, Any], *, prepared: PreparedData) -> None:
    """model.keras, report.json, thresholds.json (core.predict) appear whole or not at all."""
    from .evaluation.thresholds import write_thresholds

    replace_atomically(out / "model.keras", result.model.save)
    write_json_atomically(out / "history.json", result.history)
    write_json_atomically(out / "report.json", report)
    write_thresholds(out, report, result.config, prepared)


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Train, test and save one config; a user's mistake is one line and exit code 2."""
    args = build_parser().parse_args(argv)
    config = train_config(config_from_args(args))
    check_output_folder("--out", args.out, empty=True)  # a run never mixes its files
    with folder_lock(args.out, "--out"):  # one run writes a folder
        check_output_folder("--out", args.out, empty=True)  # still empty now that it is ours
        return train_and_save(args, config)


def train_and_save(args: argparse.Namespace, config: TrainConfig) -> int:
    """The work of `main` once its options are checked and --out is held."""
    from .model.pretrained import fetch_named_in

    fetch_named_in(config.model.backbone_weights)
    from .training.threads import configure_threads

    configure_threads(args.threads)
    from .data.dataset import data_summary, load_training_data
    from .evaluation.metrics import format_report
    from .labels import DEFAULT_AUS
    from .model.builders import build_model
    from .training.loop import au_head, evaluate_on_test, train, training_summary

    data = load_training_data(
        args.data,
        seed=args.seed,
        aus=args.aus or DEFAULT_AUS,
        prepared_size=args.prepared_size,
        detector=args.detector,
        allow_outside_root=args.allow_outside_root,
    )
    build_model(config.model, au_head(config, data))  # fail before writing
    print(data_summary(data), flush=True)
    from .evaluation.yardstick import (
        add_baselines,
        announce_floors,
        format_beside_baselines,
        validation_floors,
    )

    announce_floors(dict(config.targets), validation_floors(data))
    import keras

    board = keras.callbacks.TensorBoard(
        log_dir=str(args.out / "tb"), write_graph=False, profile_batch=0
    )
    result = train(config, data, callbacks=[board])
    report = evaluate_on_test(result.model, result.config, data)
    report["training"] = training_summary(result)
    add_baselines(report, data, seed=args.seed)
    save_outputs(args.out, result, report, prepared=data.prepared)
    print(format_report(report))
    print(format_beside_baselines(report))
    training = report["training"]
    print(
        f"stopped by {training['stopped_by']} after {training['epochs']} epochs "
        f"(best epoch {training['best_epoch']}, {training['seconds']:.0f} s); outputs in {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
