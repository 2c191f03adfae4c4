"""thresholds.json beside a trained model: tuned AU cuts and the settings that prepare inputs.

A model alone cannot be used honestly: its AU head wants the per-AU thresholds tuned on validation
(0.5 is rarely right for a rare AU), and its inputs must be prepared exactly as in training.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import DataError
from .files import write_json_atomically
from .labels import EMOTIONS
from .preprocess import DEFAULT_FACE_MARGIN, PREPARATION_VERSION

THRESHOLDS_FILE = "thresholds.json"
REQUIRED_KEYS = ("au_names", "thresholds", "input_size", "crop_fraction", "prepared_size")


def thresholds_payload(
    report: Mapping[str, Any],
    config: Mapping[str, Any],
    prepared_size: int,
    face_margin: float = DEFAULT_FACE_MARGIN,
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
        "input_size": int(config["input_size"]),
        "crop_fraction": float(config.get("crop_fraction", 1.0)),
        "prepared_size": int(prepared_size),
        "face_margin": float(face_margin),
        "preparation_version": PREPARATION_VERSION,
    }


def write_thresholds(
    folder: Path, report: Mapping[str, Any], config: Mapping[str, Any], prepared_size: int
) -> Path:
    """Write `folder/thresholds.json` whole or not at all."""
    path = Path(folder) / THRESHOLDS_FILE
    write_json_atomically(path, thresholds_payload(report, config, prepared_size))
    return path


def read_thresholds(path: Path) -> dict[str, Any]:
    """The checked contents of a thresholds file; a missing or damaged one is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: thresholds file missing (tune.run and core.train write it beside the model)"
        )
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable thresholds file ({error})") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise DataError(f"{path}: thresholds file lacks {', '.join(missing)}")
    if len(payload["thresholds"]) != len(payload["au_names"]):
        raise DataError(
            f"{path}: {len(payload['thresholds'])} thresholds for {len(payload['au_names'])} AUs"
        )
    payload.setdefault("face_margin", DEFAULT_FACE_MARGIN)
    payload.setdefault("emotions", list(EMOTIONS))
    return payload


def _au_number(name: str) -> int | None:
    digits = name.removeprefix("AU")
    return int(digits) if digits.isdigit() else None
