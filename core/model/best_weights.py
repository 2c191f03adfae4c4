"""A run's best weights beside its model file: the cheap way to keep the best epoch.

Keras' `.keras` writer spends about 0.15 s on the mini-Xception (an h5 group per variable, the
whole config as JSON), on every epoch that improves. A run writes its model file once and each
later best as one uncompressed npz of the model's weights and its optimizer's state (a few
milliseconds); `load_model_with_weights` puts the two together again. The npz is read back only
into a model loaded from the model file written beside it, whose variables come in the same
order as those of the model that wrote both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

WEIGHT_PREFIX, OPTIMIZER_PREFIX = "w", "o"


def write_best_weights(model: Any, path: Path) -> None:
    """The model's weights and its built optimizer's variables, written whole or not at all."""
    arrays = {f"{WEIGHT_PREFIX}{i}": value for i, value in enumerate(model.get_weights())}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        state: dict[str, np.ndarray] = {}
        optimizer.save_own_variables(state)
        arrays.update({f"{OPTIMIZER_PREFIX}{key}": value for key, value in state.items()})
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(partial, path)


def apply_best_weights(model: Any, path: Path) -> None:
    """Set `model` (loaded from the model file written beside `path`) to the weights and
    optimizer state in `path`; a file that does not fit the model is refused, never half-set."""
    with np.load(path, allow_pickle=False) as saved:
        weights = _numbered(saved, WEIGHT_PREFIX)
        state = {key[len(OPTIMIZER_PREFIX) :]: saved[key] for key in _keys(saved, OPTIMIZER_PREFIX)}
        if [w.shape for w in weights] != [tuple(v.shape) for v in model.weights]:
            raise DataError(f"{path}: its weights do not fit the model beside it")
        optimizer = getattr(model, "optimizer", None)
        if state and optimizer is not None:
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            if len(state) != len(optimizer.variables):
                raise DataError(f"{path}: its optimizer state does not fit the model beside it")
        model.set_weights(weights)
        if state and optimizer is not None:
            optimizer.load_own_variables(state)


def load_model_with_weights(model_file: Path, weights_file: Path | None = None) -> Any:
    """The model in `model_file` (loaded safely), set to `weights_file`'s best when there is one."""
    import keras

    from . import builders  # noqa: F401  registers the custom loss and AU metrics

    model = keras.models.load_model(model_file, safe_mode=True)
    if weights_file is not None and weights_file.is_file():
        apply_best_weights(model, weights_file)
    return model


def _keys(saved: Any, prefix: str) -> list[str]:
    return [key for key in saved.files if key.startswith(prefix) and key[len(prefix) :].isdigit()]


def _numbered(saved: Any, prefix: str) -> list[np.ndarray]:
    keys = sorted(_keys(saved, prefix), key=lambda key: int(key[len(prefix) :]))
    return [saved[key] for key in keys]
