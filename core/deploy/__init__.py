"""A trained model put to use: TFLite conversion, the lite runner, its cost, the Predictor library.

`core.deploy` was the TFLite conversion module before it became this room (now
`core.deploy.conversion`); its names still resolve here, on first use, so that code written
against it keeps working without every import of the room loading the converter.
"""

from __future__ import annotations

from typing import Any

# What `core.deploy` held as a module, before the rooms.
CONVERSION_NAMES = frozenset(
    {
        "FILES", "FLOAT32", "INT8", "NUMBERS", "Reference", "calibration_inputs", "convert",
        "cpu_name", "describe", "in_float32", "latency_ms", "model_inputs", "outputs_of",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in CONVERSION_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import conversion

    return getattr(conversion, name)
