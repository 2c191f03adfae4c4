"""Keras callbacks of one training run: target stopping with patience, and the epoch printer.

The best-so-far bookkeeping (`ScoreBook`) is plain Python so that the tuner's reporter keeps the
same books: the score a trial reports and the epoch training restores are one and the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import combined_score, targets_met
from ..errors import ConfigError


@dataclass
class ScoreBook:
    """Best combined validation score so far, its epoch, epochs since, first epoch on target."""

    targets: dict[str, float] = field(default_factory=dict)
    best_score: float = -math.inf
    best_epoch: int = 0  # 1-based; 0 before any epoch
    wait: int = 0
    targets_met_epoch: int | None = None

    def record(self, epoch: int, logs: Mapping[str, float]) -> tuple[float, bool, bool]:
        """Book 1-based `epoch`; returns (its score, whether it improved, whether it met)."""
        score = combined_score(logs)
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.wait = score, epoch, 0
        else:
            self.wait += 1
        met = targets_met(logs, self.targets)
        if met and self.targets_met_epoch is None:
            self.targets_met_epoch = epoch
        return score, improved, met

    def replay(self, history: Mapping[str, list[float]]) -> None:
        """Book a resumed run's past epochs, so it goes on where it stopped."""
        for epoch in range(len(history.get("loss", []))):
            self.record(epoch + 1, {key: values[epoch] for key, values in history.items()})


def make_target_stopping(
    targets: Mapping[str, float],
    min_epochs: int,
    patience: int,
    history: Mapping[str, list[float]] | None = None,
):
    """Stop once every target is met on validation; otherwise patience after `min_epochs`.

    The best epoch (by the combined validation score) is restored at the end either way.
    `history`: a resumed run's past epochs (the model passed in `on_train_begin` is their last).
    """
    import keras

    class TargetStopping(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.book = ScoreBook(dict(targets))
            self.book.replay(history or {})
            self.past_epochs = len((history or {}).get("loss", []))
            self.best_weights = None
            self.stopped_by = "targets" if self.book.targets_met_epoch else "max_epochs"

        def on_train_begin(self, logs=None) -> None:
            if self.past_epochs:  # a resumed run's model is its best so far (ResumePoint)
                self.best_weights = self.model.get_weights()

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = logs or {}
            unknown = [name for name in self.book.targets if name not in logs]
            if unknown:
                known = ", ".join(sorted(logs))
                raise ConfigError(f"unknown target metric(s) {', '.join(unknown)}; known: {known}")
            _, improved, met = self.book.record(epoch + 1, logs)
            if improved:
                self.best_weights = self.model.get_weights()
            if met:
                self.stopped_by = "targets"
                self.model.stop_training = True
            elif epoch + 1 >= min_epochs and self.book.wait >= patience > 0:
                self.stopped_by = "patience"
                self.model.stop_training = True

        def on_train_end(self, logs=None) -> None:
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return TargetStopping()


def make_epoch_printer(max_epochs: int):
    """One line per epoch: both heads' training and validation scores and the epoch's seconds."""
    import keras

    shown = ("emotion_accuracy", "au_binary_accuracy", "au_f1_macro")

    class EpochPrinter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs=None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs: dict[str, Any] = logs or {}
            parts = [
                f"epoch {epoch + 1}/{max_epochs}",
                f"loss {logs.get('loss', float('nan')):.3f}",
            ]
            parts += [f"{k} {logs[k]:.3f}" for k in shown if k in logs]
            parts += [f"val_{k} {logs['val_' + k]:.3f}" for k in shown if "val_" + k in logs]
            parts.append(f"({time.perf_counter() - self.started:.1f} s)")
            print("  ".join(parts), flush=True)

    return EpochPrinter()
