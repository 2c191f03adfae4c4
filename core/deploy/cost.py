"""What a model costs to run: its parameter count, and its measured CPU latency per image as the
phone-ready TFLite model (`core.deploy.conversion`), the cost objectives of a multi-objective study.

Latency depends on the architecture only (backbone, width, input size, number of AUs), not on
the weights: it is measured once per architecture and process, on a freshly built network, at
batch 1 with one interpreter thread (a phone's realistic share), the median of LATENCY_RUNS.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..files import write_json_atomically

LATENCY_RUNS = 50
LATENCY_WARMUP = 5
LATENCY_THREADS = 1
ARCHITECTURE_KEYS = ("backbone", "alpha", "input_size", "dropout")  # and the number of AUs
LATENCY_FILE = "latency.json"  # in a study folder: ms per image by architecture


def parameter_count(model: Any) -> int:
    """Every weight the model holds (trainable or not): what the exported file stores."""
    return int(model.count_params())


def latency_ms(cfg: ModelConfig, n_aus: int, cache: Path | None = None) -> float:
    """Milliseconds per image of the config's network, with `n_aus` AUs, as a float32 TFLite
    model on this CPU.

    With `cache` (a study's folder), the first measurement of an architecture is kept in
    LATENCY_FILE there and every later trial of it reads that one: repeats of one architecture
    differ by up to 7 % on a shared machine, which would otherwise decide a Pareto front."""
    shape = {key: getattr(cfg, key) for key in ARCHITECTURE_KEYS}
    architecture = (ModelConfig(**shape), n_aus)  # from scratch: grey in, no weights to load
    if cache is None:
        return _latency_of(*architecture)
    key = json.dumps({**shape, "n_aus": n_aus}, sort_keys=True)
    path = Path(cache) / LATENCY_FILE
    known = _read_json(path)
    if key not in known:
        measured = _latency_of(*architecture)
        known = {**_read_json(path), key: measured}  # another trial may have written meanwhile
        try:
            write_json_atomically(path, known)
        except OSError:  # a folder this worker cannot write: the measurement still counts
            return measured
    return float(known[key])


def _read_json(path: Path) -> dict[str, float]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


@functools.cache
def _latency_of(cfg: ModelConfig, n_aus: int) -> float:
    from ..model.builders import build_network
    from . import conversion

    network = build_network(cfg, n_aus)
    image = np.zeros((cfg.input_size, cfg.input_size, 1), np.float32)
    content = conversion.convert(network)
    return conversion.latency_ms(content, image, LATENCY_THREADS, LATENCY_RUNS, LATENCY_WARMUP)
