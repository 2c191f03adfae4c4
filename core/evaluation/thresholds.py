"""thresholds.json beside a trained model: tuned AU cuts and the settings that prepare inputs.

A model alone cannot be used honestly: its AU head wants the per-AU thresholds tuned on validation
(0.5 is rarely right for a rare AU), and its inputs must be prepared exactly as in training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..checks import Number, Numbers, OneOf, Texts, Whole, check
from ..config import MIN_INPUT_SIZE, TrainConfig
from ..errors import DataError
from ..files import TEXT_BYTES_LIMIT, read_bounded, write_json_atomically
from ..images.faces import DETECTORS, LEGACY_DETECTOR
from ..images.preprocess import (
    DEFAULT_FACE_MARGIN,
    MAX_PREPARED_SIZE,
    PREPARATION_VERSION,
    PreparedData,
)
from ..labels import EMOTIONS

THRESHOLDS_FILE = "thresholds.json"
REQUIRED_KEYS = ("au_names", "thresholds", "input_size", "crop_fraction", "prepared_size")


def thresholds_payload(
    report: Mapping[str, Any], config: TrainConfig, prepared: PreparedData
) -> dict[str, Any]:
    """From a test report's `au_tuned_on_val` section and the config the model was trained with."""
    tuned = report["au_tuned_on_val"]
    names = [str(name) for name in tuned["au_names"]]
    return {
        "au_names": names,
        "aus": [_au_number(name) for name in names],
        "thresholds": [float(t) for t in tuned["thresholds"]],
        "tuned_on": "validation",
        "emotions": list(EMOTIONS),
        "input_size": config.model.input_size,
        "crop_fraction": config.crop_fraction,
        "prepared_size": prepared.size,
        "face_margin": DEFAULT_FACE_MARGIN,
        "face_detector": prepared.detector,
        "preparation_version": PREPARATION_VERSION,
    }


def write_thresholds(
    folder: Path, report: Mapping[str, Any], config: TrainConfig, prepared: PreparedData
) -> Path:
    """Write `folder/thresholds.json` whole or not at all."""
    path = Path(folder) / THRESHOLDS_FILE
    write_json_atomically(path, thresholds_payload(report, config, prepared))
    return path


def read_thresholds(path: Path) -> dict[str, Any]:
    """The checked contents of a thresholds file; a missing or damaged one is a DataError
    naming the file and the first field that is wrong."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: thresholds file missing (tune.run and core.train write it beside the model)"
        )
    try:
        text = read_bounded(path, TEXT_BYTES_LIMIT).decode("utf-8")
        payload = json.loads(text, parse_constant=_refuse_constant)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable thresholds file ({error})") from None
    if not isinstance(payload, dict):
        raise DataError(f"{path}: thresholds file holds a {type(payload).__name__}, not an object")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise DataError(f"{path}: thresholds file lacks {', '.join(missing)}")
    payload.setdefault("face_margin", DEFAULT_FACE_MARGIN)
    payload.setdefault("face_detector", LEGACY_DETECTOR)
    payload.setdefault("emotions", list(EMOTIONS))
    check(FIELDS, payload, "{path}: {key} is {shown}; expected {expected}", DataError, path=path)
    for key in ("au_names", "emotions"):
        repeated = sorted({name for name in payload[key] if payload[key].count(name) > 1})
        if repeated:
            raise DataError(f"{path}: {key} names {', '.join(repeated)} more than once")
    if len(payload["thresholds"]) != len(payload["au_names"]):
        raise DataError(
            f"{path}: {len(payload['thresholds'])} thresholds for {len(payload['au_names'])} AUs"
        )
    return payload


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


# Every field a model's user relies on, and what it should be.
SIZE = Whole(MIN_INPUT_SIZE, MAX_PREPARED_SIZE)
FIELDS = {
    "au_names": Texts("AU names"),
    "thresholds": Numbers(Number(0.0, 1.0)),
    "input_size": SIZE,
    "prepared_size": SIZE,
    "crop_fraction": Number(0.0, 1.0, low_open=True),
    "face_margin": Number(1.0, 4.0),
    "emotions": Texts("emotion names"),
    "face_detector": OneOf(DETECTORS),
}


def _au_number(name: str) -> int | None:
    digits = name.removeprefix("AU")
    return int(digits) if digits.isdigit() else None
