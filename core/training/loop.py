"""One config's training run and its test evaluation; no command line, no Ray."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import AUHead, TrainConfig, as_train_config
from .pipeline import make_datasets, trial_views
from .seeds import seed_everything
from .threads import configure_threads

if TYPE_CHECKING:
    from ..data.dataset import TrainingData


@dataclass
class ResumePoint:
    """Where a retried trial picks up: its best model so far (with optimizer state) and the
    history of every epoch it reported; it goes on after the last of those epochs.
    `weights_file`: the best epoch's weights beside the model file (core.model.best_weights),
    when a later epoch than the model file's was the best."""

    model_file: Path
    history: dict[str, list[float]]
    weights_file: Path | None = None


@dataclass
class TrainResult:
    """What a run leaves: its history, the best epoch's model, and why it stopped."""

    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    model: Any  # keras.Model holding the best epoch's weights
    stopped_by: str  # "targets", "patience" or "max_epochs"
    targets_met_epoch: int | None
    seconds: float
    config: TrainConfig

    @property
    def epochs(self) -> int:
        """Epochs trained, resumed ones included."""
        return len(self.history.get("loss", []))


def train(
    config: TrainConfig | Mapping[str, Any],
    data: TrainingData,
    callbacks: Sequence[Any] = (),
    *,
    resume: ResumePoint | None = None,
    verbose: bool = True,
    warm: bool = False,
) -> TrainResult:
    """Fit one config up to `max_epochs`; return the history, the best epoch and the best model.

    `config`: checked (core.config.train_config) where the run starts, or a flat dict, checked
    here. `warm`: take the model from this process's cache of compiled models (core.model.warm),
    reset for this config and seed, rather than build and trace a new one; the returned model is
    then the cached one, which the next warm run of its shape resets. A resumed run always loads
    its own.
    """
    config = as_train_config(config)
    configure_threads(config.threads)
    from .callbacks import make_epoch_printer, make_target_stopping

    started = time.perf_counter()
    seed_everything(config.seed)
    train_ds, val_ds, _, _ = make_datasets(config, data, _views(config, data))
    history = {k: list(v) for k, v in resume.history.items()} if resume else {}
    stopper = make_target_stopping(
        dict(config.targets), config.min_epochs, config.patience, history
    )
    model = _model_for(config, au_head(config, data), resume, warm)
    all_callbacks = [stopper, *callbacks]
    if verbose:
        all_callbacks.append(make_epoch_printer(config.max_epochs))
    initial_epoch = len(history.get("loss", []))
    if initial_epoch < config.max_epochs and stopper.stopped_by != "targets":
        fitted = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.max_epochs,
            initial_epoch=initial_epoch,
            callbacks=all_callbacks,
            shuffle=False,  # the pipeline reshuffles every epoch itself
            verbose=0,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return TrainResult(
        history=history,
        best_epoch=stopper.book.best_epoch,
        model=model,
        stopped_by=stopper.stopped_by,
        targets_met_epoch=stopper.book.targets_met_epoch,
        seconds=time.perf_counter() - started,
        config=config,
    )


def au_head(config: TrainConfig, data: TrainingData) -> AUHead:
    """The AU head the data asks for: its AUs, and the config's positive weights, or with
    `au_weighting="balanced"` the training split's (core.models.au_pos_weights_from_labels)."""
    weights = config.au_pos_weights
    if weights is None and config.au_weighting == "balanced":
        from ..model.builders import au_pos_weights_from_labels

        weights = tuple(au_pos_weights_from_labels(data.prepared.aus[data.split.train]))
    return AUHead(int(data.prepared.aus.shape[1]), weights)


def _views(config: TrainConfig, data: TrainingData) -> np.ndarray:
    return trial_views(data.prepared, config.crop_fraction, config.model.input_size)


def _model_for(config: TrainConfig, head: AUHead, resume: ResumePoint | None, warm: bool):

    if resume is not None:
        from ..model.best_weights import load_model_with_weights

        return load_model_with_weights(resume.model_file, resume.weights_file)
    if warm:
        from ..model.warm import warm_model

        return warm_model(config.model, head)
    from ..model.builders import build_model

    return build_model(config.model, head)


def model_outputs(model, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def evaluate_on_test(model, config: TrainConfig, data: TrainingData) -> dict[str, Any]:
    """The test report of a trained model, with AU thresholds tuned on validation, a 95%
    subject-level interval on each figure, and the per-image "test_outputs" that the paired
    comparisons with the baselines (`core.evaluation.yardstick.add_baselines`) read."""
    from ..evaluation.outputs import test_outputs
    from ..evaluation.verdicts import scored_report
    from ..labels import au_names

    _, val_ds, test_ds, _ = make_datasets(config, data, _views(config, data))
    _, _, val_au, val_au_prob = model_outputs(model, val_ds)
    test_e, test_e_prob, test_au, test_au_prob = model_outputs(model, test_ds)
    outputs = test_outputs(
        data.prepared.subjects[data.split.test],  # the test pipeline keeps the split's order
        test_e,
        test_e_prob,
        test_au,
        test_au_prob,
        val_au,
        val_au_prob,
    )
    report = scored_report(outputs, au_names(data.prepared.au_list), keep_outputs=True)
    report["split_sizes"] = {k: int(len(v)) for k, v in data.split.as_dict().items()}
    return report


def training_summary(result: TrainResult) -> dict[str, Any]:
    """The `training` entry of a report: epochs, best epoch, why it stopped, seconds."""
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_by": result.stopped_by,
        "targets_met_epoch": result.targets_met_epoch,
        "seconds": round(result.seconds, 2),
    }
