"""From a data argument to the arrays and split every trial of a study shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..images.faces import DEFAULT_DETECTOR
from ..images.preprocess import DEFAULT_PREPARED_SIZE, PreparedData, prepare
from ..labels import DEFAULT_AUS, EMOTIONS
from .sources import load_source
from .split import Split, split_by_subject


@dataclass
class TrainingData:
    """Prepared arrays and the split a config trains on; shared read-only between trials."""

    prepared: PreparedData
    split: Split


def data_summary(data: TrainingData) -> str:
    """The one line a command says about its data: size, split, and faces found."""
    prepared, split = data.prepared, data.split
    found = int(prepared.face_found.sum())
    return (
        f"data: {len(prepared)} images, split train/val/test "
        f"{len(split.train)}/{len(split.val)}/{len(split.test)} by subject; {prepared.detector} "
        f"found a face in {found} ({found / len(prepared):.0%}), the others are centre squares"
    )


def load_training_data(
    data: str | Path | None = None,
    *,
    seed: int = 0,
    aus: tuple[int, ...] = DEFAULT_AUS,
    prepared_size: int = DEFAULT_PREPARED_SIZE,
    detector: str = DEFAULT_DETECTOR,
    peak_frames: int = 1,
    allow_outside_root: bool = False,
    progress: bool = True,
) -> TrainingData:
    """Read, prepare (cached) and split once; the split's seed is the study's seed."""
    source = load_source(
        data, aus=aus, peak_frames=peak_frames, allow_outside_root=allow_outside_root
    )
    classes = {record.emotion for record in source.records}
    if len(classes) == 1:  # trained to "accuracy 1.000" without a word
        (only,) = classes
        raise DataError(
            f"{source.root}: every labelled image has emotion {EMOTIONS[only]!r}; the emotion "
            "head needs at least two classes"
        )
    prepared = prepare(source, size=prepared_size, detector=detector, progress=progress)
    split = split_by_subject(prepared.emotions, prepared.subjects, seed=seed)
    return TrainingData(prepared=prepared, split=split)
