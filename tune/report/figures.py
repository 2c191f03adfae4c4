"""The report's own matplotlib figures (Agg, PNG): data, training curves, test scores, comparisons.

Each function draws one figure from plain inputs and returns the PNG's path, so the page builder
never touches matplotlib and a figure can be checked on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from core.labels import EMOTIONS

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def save(figure, path: Path, layout: bool = True) -> Path:
    """Write a PNG and free the figure; `layout` False for figures with a colour bar (Optuna's)."""
    if layout:
        figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches=None if layout else "tight")
    plt.close(figure)
    return path


def samples(
    squares: Sequence[np.ndarray | None],
    views: Sequence[np.ndarray | None],
    captions: Sequence[str],
    path: Path,
) -> Path:
    """One image per emotion: the prepared square (top) and what the best model sees (bottom)."""
    figure, axes = plt.subplots(2, len(EMOTIONS), figsize=(3 * len(EMOTIONS), 7), squeeze=False)
    for column, name in enumerate(EMOTIONS):
        for row, images in enumerate((squares, views)):
            axis = axes[row][column]
            axis.axis("off")
            image = images[column]
            if image is None:
                axis.text(0.5, 0.5, "no image", ha="center", va="center")
                continue
            axis.imshow(image, cmap="gray", vmin=0, vmax=255)
            size = f"{image.shape[1]}x{image.shape[0]}"
            label = "prepared" if row == 0 else "model input"
            axis.set_title(f"{name}: {label} {size}\n{captions[column]}", fontsize=9)
    return save(figure, path)


def bars(counts: Mapping[str, int], title: str, path: Path, rotate: bool = False) -> Path:
    """A bar chart of counts (images per emotion or AU) saved as a PNG."""
    figure, axis = plt.subplots(figsize=(max(4.0, 0.45 * len(counts) + 1.5), 3.2))
    drawn = axis.bar(list(counts), list(counts.values()), color=COLOURS[0])
    axis.bar_label(drawn, fontsize=8)
    axis.set_title(title)
    axis.set_ylabel("images")
    axis.tick_params(axis="x", rotation=45 if rotate else 0)
    return save(figure, path)


def split_sizes(table: pd.DataFrame, path: Path) -> Path:
    """Images per emotion in each part of the split (rows: emotions, columns: parts)."""
    figure, axis = plt.subplots(figsize=(6, 3.4))
    _grouped(axis, table, fmt="%d")
    axis.set_title("Split sizes per emotion (subject-disjoint)")
    axis.set_ylabel("images")
    return save(figure, path)


def training_curves(progress: pd.DataFrame, best_epoch: int | None, path: Path) -> Path:
    """Loss and scores of both heads per epoch, training against validation."""
    panels = (
        ("Emotion loss", ("emotion_loss",)),
        ("Emotion accuracy", ("emotion_accuracy",)),
        ("AU loss", ("au_loss",)),
        ("AU macro F1 and binary accuracy", ("au_f1_macro", "au_binary_accuracy")),
    )
    figure, axes = plt.subplots(2, 2, figsize=(10, 6.4))
    epochs = progress["epoch"].to_numpy()
    for axis, (title, keys) in zip(axes.ravel(), panels, strict=True):
        for number, key in enumerate(keys):
            for prefix, style in (("", "-"), ("val_", "--")):
                if prefix + key in progress:
                    part = "validation" if prefix else "training"
                    axis.plot(
                        epochs,
                        progress[prefix + key],
                        style,
                        marker="o",
                        color=COLOURS[number * 2 + bool(prefix)],
                        label=f"{part} {key}",
                    )
        if best_epoch:
            axis.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_xticks(epochs)
        axis.legend(fontsize=7)
    return save(figure, path)


def confusion(emotion: Mapping[str, Any], path: Path) -> Path:
    """The emotion confusion matrix as a PNG, counts in the cells."""
    matrix = np.asarray(emotion["confusion_matrix"])
    labels = list(emotion["labels"])
    figure, axis = plt.subplots(figsize=(4.6, 4))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"Emotion on test (n={emotion['n']}, accuracy {emotion['accuracy']:.2f})")
    return save(figure, path)


def au_f1(fixed: Mapping[str, Any], tuned: Mapping[str, Any], path: Path) -> Path:
    """Per-AU F1 at the validation-tuned thresholds beside F1 at 0.5; support under each name."""
    names = list(tuned["au_names"])
    table = pd.DataFrame(
        {
            "tuned thresholds": [tuned["per_au"][n]["f1"] for n in names],
            "threshold 0.5": [fixed["per_au"][n]["f1"] for n in names],
        },
        index=[f"{n}\n(n={tuned['per_au'][n]['support']})" for n in names],
    )
    figure, axis = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 3.6))
    _grouped(axis, table, fmt=None)
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("F1 on test")
    macro = "n/a" if tuned["f1_macro"] is None else f"{tuned['f1_macro']:.2f}"
    axis.set_title(f"Per-AU F1 on test (macro F1 {macro} at tuned thresholds)")
    axis.tick_params(axis="x", labelsize=7)
    return save(figure, path)


def au_accuracy(fixed: Mapping[str, Any], tuned: Mapping[str, Any], path: Path) -> Path:
    """AU binary accuracy beside predicting no AU at all: the number the original targets used."""
    values = {
        "at 0.5": fixed["binary_accuracy"],
        "at tuned thresholds": tuned["binary_accuracy"],
        "no-AU baseline": tuned["no_au_baseline_accuracy"],
    }
    figure, axis = plt.subplots(figsize=(5, 3.2))
    drawn = axis.bar(list(values), list(values.values()), color=[COLOURS[0], COLOURS[1], "grey"])
    axis.bar_label(drawn, fmt="%.3f", fontsize=8)
    axis.set_ylim(0, 1.05)
    axis.set_title("AU binary accuracy on test")
    return save(figure, path)


def comparison(table: pd.DataFrame, title: str, path: Path, errors: pd.DataFrame | None = None):
    """Grouped bars: one group per metric (rows), one bar per configuration (columns)."""
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(table) + 2), 3.8))
    _grouped(axis, table, fmt="%.2f", errors=errors)
    axis.set_ylim(0, 1.1)
    axis.set_title(title)
    return save(figure, path)


def _grouped(
    axis, table: pd.DataFrame, fmt: str | None, errors: pd.DataFrame | None = None
) -> None:
    width = 0.8 / max(1, len(table.columns))
    positions = np.arange(len(table))
    for number, column in enumerate(table.columns):
        error = None if errors is None else errors[column].to_numpy(dtype=float)
        drawn = axis.bar(
            positions + (number - (len(table.columns) - 1) / 2) * width,
            table[column].to_numpy(dtype=float),
            width,
            yerr=error,
            capsize=3 if error is not None else 0,
            label=str(column),
            color=COLOURS[number % len(COLOURS)],
        )
        if fmt:
            axis.bar_label(drawn, fmt=fmt, fontsize=7)
    axis.set_xticks(positions, [str(i) for i in table.index])
    axis.legend(fontsize=8)
