"""Train one config end to end: tf.data pipeline, target-based stopping, best model, test report."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .augment import build_augmenter
from .errors import ConfigError
from .preprocess import PreparedData, crop_and_resize
from .split import Split, oversample

DEFAULT_TARGETS: dict[str, float] = {"val_emotion_accuracy": 0.80, "val_au_binary_accuracy": 0.70}

TRAIN_DEFAULTS: dict[str, Any] = {
    "crop_fraction": 1.0,  # centre crop of the prepared square, before the resize to input_size
    "sample_size": None,  # training images per emotion after oversampling; None = majority count
    "batch_size": 16,
    "max_epochs": 20,
    "min_epochs": 5,  # patience applies only after this many epochs
    "patience": 5,
    "zoom": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "rotation": 0.0,
    "au_weighting": "none",  # "balanced": positive weight per AU from the training prevalence
    "seed": 0,
    "threads": None,  # TF intra-op threads; None = FERTUNE_TF_THREADS or OMP_NUM_THREADS
}


@dataclass
class TrainingData:
    """Prepared arrays and the split a config trains on; shared read-only between trials."""

    prepared: PreparedData
    split: Split


@dataclass
class ResumePoint:
    """Where a retried trial picks up: its saved model (with optimizer state) and history."""

    model_file: Path
    history: dict[str, list[float]]


@dataclass
class TrainResult:
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    model: Any  # keras.Model holding the best epoch's weights
    stopped_by: str  # "targets", "patience" or "max_epochs"
    targets_met_epoch: int | None
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))


def combined_score(logs: Mapping[str, float], prefix: str = "val_") -> float:
    """One number for both heads that is fair at any epoch: emotion accuracy and AU macro F1.

    AU binary accuracy is left out: predicting no AU already scores about 0.8 on it.
    """
    return 0.5 * float(logs[f"{prefix}emotion_accuracy"]) + 0.5 * float(
        logs[f"{prefix}au_f1_macro"]
    )


def full_config(config: Mapping[str, Any]) -> dict[str, Any]:
    from .models import MODEL_DEFAULTS

    merged = {**MODEL_DEFAULTS, **TRAIN_DEFAULTS, "targets": dict(DEFAULT_TARGETS)}
    merged.update({k: v for k, v in config.items() if v is not None or k not in merged})
    _check_train_config(merged)
    return merged


def _check_train_config(config: Mapping[str, Any]) -> None:
    for key in ("batch_size", "max_epochs"):
        if not isinstance(config[key], int | np.integer) or config[key] < 1:
            raise ConfigError(f"{key} must be a positive whole number, got {config[key]!r}")
    for key in ("min_epochs", "patience"):
        if config[key] < 0:
            raise ConfigError(f"{key} must be zero or positive, got {config[key]!r}")
    if config["sample_size"] is not None and config["sample_size"] < 1:
        raise ConfigError(f"sample_size must be positive, got {config['sample_size']!r}")
    if not 0 < float(config["crop_fraction"]) <= 1:
        raise ConfigError(f"crop_fraction must be in (0, 1], got {config['crop_fraction']!r}")
    for key in ("zoom", "brightness", "contrast", "rotation"):
        if not 0 <= float(config[key]) < 1:
            raise ConfigError(f"{key} must be in [0, 1), got {config[key]!r}")
    if config["au_weighting"] not in ("none", "balanced"):
        raise ConfigError(
            f"au_weighting must be 'none' or 'balanced', got {config['au_weighting']!r}"
        )


def configure_threads(threads: int | None = None) -> int | None:
    """Cap TF's thread pools so trials sharing a machine do not fight over its cores."""
    import tensorflow as tf

    threads = threads or _int_env("FERTUNE_TF_THREADS") or _int_env("OMP_NUM_THREADS")
    if not threads:
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # TF already started in this process; its pools keep their size
    return threads


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


# --- tf.data ---------------------------------------------------------------------------------


def trial_views(config: Mapping[str, Any], prepared: PreparedData) -> np.ndarray:
    """Every image cropped and resized for this config, once, before any epoch."""
    return crop_and_resize(
        prepared.images, float(config["crop_fraction"]), int(config["input_size"])
    )


def make_datasets(config: Mapping[str, Any], data: TrainingData, views: np.ndarray):
    """(train, val, test) tf.data pipelines; augmentation runs on training batches only."""
    import tensorflow as tf

    prepared, split = data.prepared, data.split
    seed = int(config["seed"])
    batch = int(config["batch_size"])
    images = tf.constant(views[..., None])
    emotions = tf.constant(prepared.emotions)
    aus = tf.constant(prepared.aus)

    def gather(indices):
        x = tf.cast(tf.gather(images, indices), tf.float32)
        return x, {"emotion": tf.gather(emotions, indices), "au": tf.gather(aus, indices)}

    train_indices = oversample(
        split.train, prepared.emotions, sample_size=config["sample_size"], seed=seed
    )
    augmenter = build_augmenter(config, seed=seed)
    train = (
        tf.data.Dataset.from_tensor_slices(train_indices)
        .shuffle(len(train_indices), seed=seed, reshuffle_each_iteration=True)
        .batch(batch)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    )
    if augmenter is not None:
        train = train.map(
            lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    train = train.prefetch(tf.data.AUTOTUNE)

    def evaluation(indices: np.ndarray):
        return tf.data.Dataset.from_tensor_slices(indices).batch(64).map(gather).cache().prefetch(2)

    return train, evaluation(split.val), evaluation(split.test), len(train_indices)


# --- callbacks -------------------------------------------------------------------------------


def make_target_stopping(targets: Mapping[str, float], min_epochs: int, patience: int):
    import keras

    class TargetStopping(keras.callbacks.Callback):
        """Stop once every target is met on validation; otherwise patience after `min_epochs`.

        The best epoch (by the combined validation score) is restored at the end either way.
        """

        def __init__(self) -> None:
            super().__init__()
            self.targets = dict(targets)
            self.best_score = -np.inf
            self.best_epoch = 0
            self.best_weights = None
            self.wait = 0
            self.stopped_by = "max_epochs"
            self.targets_met_epoch: int | None = None

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = logs or {}
            unknown = [name for name in self.targets if name not in logs]
            if unknown:
                known = ", ".join(sorted(logs))
                raise ConfigError(f"unknown target metric(s) {', '.join(unknown)}; known: {known}")
            score = combined_score(logs)
            if score > self.best_score:
                self.best_score, self.best_epoch, self.wait = score, epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
            if all(logs[name] >= value for name, value in self.targets.items()):
                self.stopped_by, self.targets_met_epoch = "targets", epoch + 1
                self.model.stop_training = True
            elif epoch + 1 >= min_epochs and self.wait >= patience > 0:
                self.stopped_by = "patience"
                self.model.stop_training = True

        def on_train_end(self, logs=None) -> None:
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return TargetStopping()


def make_epoch_printer(max_epochs: int):
    import keras

    shown = ("emotion_accuracy", "au_binary_accuracy", "au_f1_macro")

    class EpochPrinter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = logs or {}
            parts = [
                f"epoch {epoch + 1}/{max_epochs}",
                f"loss {logs.get('loss', float('nan')):.3f}",
            ]
            parts += [f"{k} {logs[k]:.3f}" for k in shown if k in logs]
            parts += [f"val_{k} {logs['val_' + k]:.3f}" for k in shown if "val_" + k in logs]
            parts.append(f"({time.perf_counter() - self.started:.1f} s)")
            print("  ".join(parts), flush=True)

    return EpochPrinter()


# --- training --------------------------------------------------------------------------------


def train(
    config: Mapping[str, Any],
    data: TrainingData,
    callbacks: Sequence[Any] = (),
    *,
    resume: ResumePoint | None = None,
    verbose: bool = True,
) -> TrainResult:
    """Fit one config up to `max_epochs`; return the history, the best epoch and the best model."""
    config = full_config(config)
    configure_threads(config["threads"])
    import keras

    from .models import au_pos_weights_from_labels, build_model

    started = time.perf_counter()
    keras.utils.set_random_seed(int(config["seed"]))
    views = trial_views(config, data.prepared)
    train_ds, val_ds, _, _ = make_datasets(config, data, views)
    if config["au_weighting"] == "balanced" and config.get("au_pos_weights") is None:
        config["au_pos_weights"] = au_pos_weights_from_labels(data.prepared.aus[data.split.train])
    config["n_aus"] = int(data.prepared.aus.shape[1])
    stopper = make_target_stopping(config["targets"], config["min_epochs"], config["patience"])
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if resume is not None:
        model = keras.models.load_model(resume.model_file, safe_mode=True)
        history = {k: list(v) for k, v in resume.history.items()}
        initial_epoch = len(history.get("loss", []))
        _seed_stopper(stopper, history, model)
    else:
        model = build_model(config)
    all_callbacks = [stopper, *callbacks]
    if verbose:
        all_callbacks.append(make_epoch_printer(config["max_epochs"]))
    if initial_epoch < config["max_epochs"] and stopper.stopped_by != "targets":
        fitted = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config["max_epochs"],
            initial_epoch=initial_epoch,
            callbacks=all_callbacks,
            shuffle=False,  # the pipeline reshuffles every epoch itself
            verbose=0,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return TrainResult(
        history=history,
        best_epoch=stopper.best_epoch,
        model=model,
        stopped_by=stopper.stopped_by,
        targets_met_epoch=stopper.targets_met_epoch,
        seconds=time.perf_counter() - started,
        config=config,
    )


def _seed_stopper(stopper, history: dict[str, list[float]], model) -> None:
    """A resumed run continues the stopper's bookkeeping from the saved history."""
    epochs = len(history.get("loss", []))
    for epoch in range(epochs):
        logs = {key: values[epoch] for key, values in history.items()}
        score = combined_score(logs)
        if score > stopper.best_score:
            stopper.best_score, stopper.best_epoch, stopper.wait = score, epoch + 1, 0
        else:
            stopper.wait += 1
        if all(logs[name] >= value for name, value in stopper.targets.items()):
            stopper.stopped_by, stopper.targets_met_epoch = "targets", epoch + 1
    stopper.best_weights = model.get_weights() if stopper.best_epoch == epochs else None


def predict(model, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(emotion labels, emotion probabilities, AU labels, AU probabilities) over a dataset."""
    labels_e, labels_a, probs_e, probs_a = [], [], [], []
    for x, y in dataset:
        out = model(x, training=False)
        probs_e.append(np.asarray(out["emotion"]))
        probs_a.append(np.asarray(out["au"]))
        labels_e.append(np.asarray(y["emotion"]))
        labels_a.append(np.asarray(y["au"]))
    return (
        np.concatenate(labels_e),
        np.concatenate(probs_e),
        np.concatenate(labels_a),
        np.concatenate(probs_a),
    )


def evaluate(model, config: Mapping[str, Any], data: TrainingData) -> dict[str, Any]:
    """The test report of a trained model, with AU thresholds tuned on validation."""
    from .labels import au_names
    from .metrics import test_report

    config = full_config(config)
    views = trial_views(config, data.prepared)
    _, val_ds, test_ds, _ = make_datasets(config, data, views)
    _, _, val_au, val_au_prob = predict(model, val_ds)
    test_e, test_e_prob, test_au, test_au_prob = predict(model, test_ds)
    report = test_report(
        test_e,
        test_e_prob,
        test_au,
        test_au_prob,
        val_au,
        val_au_prob,
        au_names(data.prepared.au_list),
    )
    report["split_sizes"] = {k: int(len(v)) for k, v in data.split.as_dict().items()}
    return report


def training_summary(result: TrainResult) -> dict[str, Any]:
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_by": result.stopped_by,
        "targets_met_epoch": result.targets_met_epoch,
        "seconds": round(result.seconds, 2),
    }


def write_json_atomically(path: Path, payload: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    os.replace(temporary, path)


# --- command line ----------------------------------------------------------------------------


def parse_targets(items: Sequence[str]) -> dict[str, float]:
    """`val_emotion_accuracy=0.8` pairs; the metric names are checked against Keras' history."""
    targets = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            targets[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError(
                f"--target {item!r}: expected METRIC=VALUE, e.g. val_emotion_accuracy=0.8"
            )
    return targets


def known_target_metrics() -> list[str]:
    from .metrics import METRIC_KEYS

    return [f"val_{key}" for key in METRIC_KEYS] + [f"val_{key}" for key in ("loss",)]


def check_targets(targets: Mapping[str, float]) -> None:
    known = known_target_metrics()
    unknown = [name for name in targets if name not in known]
    if unknown:
        raise ConfigError(f"unknown --target metric {unknown[0]!r}; known: {', '.join(known)}")


def add_target_option(parser) -> None:
    """`--target METRIC=VALUE`, repeatable, shared by core.train and tune.run."""
    defaults = ", ".join(f"{k}={v}" for k, v in DEFAULT_TARGETS.items())
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help=f"validation target; all must be met to stop (default: {defaults})",
    )


def build_parser():
    from .cli import (
        Parser,
        fraction,
        non_negative_float,
        non_negative_int,
        positive_float,
        positive_int,
    )
    from .labels import parse_au_list

    parser = Parser(
        prog="python -m core.train", description="Train one config of the dual-head CNN."
    )
    add = parser.add_argument
    add("--data", help="CK+ folder or CSV manifest (default: the built-in synthetic set)")
    add("--out", type=Path, required=True, help="output folder: tb/, model.keras, report.json")
    add("--input-size", type=positive_int, default=96)
    add("--alpha", type=positive_float, default=0.25)
    add("--backbone", choices=("mobilenet", "mobilenet_v2"), default="mobilenet")
    add("--backbone-weights", help="local MobileNet weights file (transfer), or 'imagenet'")
    add("--unfreeze-top-blocks", type=non_negative_int, default=0)
    add("--sample-size", type=positive_int, help="training images per emotion (default: majority)")
    add("--crop-fraction", type=positive_float, default=1.0)
    add("--l1", type=non_negative_float, default=0.0)
    add("--dropout", type=fraction, default=0.0)
    for name in ("zoom", "brightness", "contrast", "rotation"):
        add(f"--{name}", type=fraction, default=0.0, help=f"{name} augmentation factor, 0 = off")
    add("--learning-rate", type=positive_float, default=1e-3)
    add("--batch-size", type=positive_int, default=16)
    add("--epochs", type=positive_int, default=20, help="most epochs")
    add("--min-epochs", type=non_negative_int, default=5)
    add("--patience", type=non_negative_int, default=5)
    add("--au-weighting", choices=("none", "balanced"), default="none")
    add_target_option(parser)
    add("--aus", type=parse_au_list, help="AU list, e.g. 1,2,4 (default: the 15 CK+ AUs)")
    add("--prepared-size", type=positive_int, default=480)
    add("--seed", type=int, default=0)
    add("--threads", type=positive_int, help="TF threads (default: all cores)")
    add(
        "--allow-outside-root",
        action="store_true",
        help="accept CSV image paths outside the manifest's folder",
    )
    return parser


def config_from_args(args) -> dict[str, Any]:
    targets = parse_targets(args.target) if args.target else dict(DEFAULT_TARGETS)
    check_targets(targets)
    return {
        "input_size": args.input_size,
        "alpha": args.alpha,
        "backbone": args.backbone,
        "backbone_weights": args.backbone_weights,
        "unfreeze_top_blocks": args.unfreeze_top_blocks,
        "sample_size": args.sample_size,
        "crop_fraction": args.crop_fraction,
        "l1": args.l1,
        "dropout": args.dropout,
        "zoom": args.zoom,
        "brightness": args.brightness,
        "contrast": args.contrast,
        "rotation": args.rotation,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "max_epochs": args.epochs,
        "min_epochs": args.min_epochs,
        "patience": args.patience,
        "au_weighting": args.au_weighting,
        "targets": targets,
        "seed": args.seed,
        "threads": args.threads,
    }


def save_outputs(
    out: Path, result: TrainResult, report: dict[str, Any], *, prepared_size: int
) -> None:
    """model.keras, report.json, thresholds.json (core.predict) appear whole or not at all."""
    from .thresholds import write_thresholds

    temporary = out / "model.tmp.keras"
    result.model.save(temporary)
    os.replace(temporary, out / "model.keras")
    write_json_atomically(out / "history.json", result.history)
    write_json_atomically(out / "report.json", report)
    write_thresholds(out, report, result.config, prepared_size)


def check_out_folder(out: Path) -> None:
    """--out is a new or empty folder: a run never mixes its files with another's."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: folder exists and is not empty")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"--out {out}: {parent} is a file, not a folder")


def main(argv: list[str] | None = None) -> int:
    from .cli import exits_cleanly

    return exits_cleanly(_main)(argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    full_config(config)
    check_out_folder(args.out)
    configure_threads(args.threads)
    from .dataset import load_training_data
    from .labels import DEFAULT_AUS
    from .metrics import format_report

    data = load_training_data(
        args.data,
        seed=args.seed,
        aus=args.aus or DEFAULT_AUS,
        prepared_size=args.prepared_size,
        allow_outside_root=args.allow_outside_root,
    )
    from .models import build_model

    build_model({**full_config(config), "n_aus": data.prepared.aus.shape[1]})  # fail before writing
    import keras

    args.out.mkdir(parents=True, exist_ok=True)
    board = keras.callbacks.TensorBoard(
        log_dir=str(args.out / "tb"), write_graph=False, profile_batch=0
    )
    result = train(config, data, callbacks=[board])
    report = evaluate(result.model, result.config, data)
    report["training"] = training_summary(result)
    save_outputs(args.out, result, report, prepared_size=data.prepared.size)
    print(format_report(report))
    training = report["training"]
    print(
        f"stopped by {training['stopped_by']} after {training['epochs']} epochs "
        f"(best epoch {training['best_epoch']}, {training['seconds']:.0f} s); outputs in {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
