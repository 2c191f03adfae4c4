"""core.model.best_weights: a model file written once, each later best as weights beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import DataError
from core.model.best_weights import (
    apply_best_weights,
    load_model_with_weights,
    write_best_weights,
)


def small_model(units: int = 4):
    import keras

    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)  # non-trainable statistics too
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def fit_once(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model.fit(rng.normal(size=(32, 6)), rng.normal(size=(32, 2)), epochs=1, verbose=0)


def test_a_later_best_comes_back_with_its_optimizer_state(tmp_path: Path):
    model = small_model()
    fit_once(model, 0)
    model.save(tmp_path / "model.keras")  # the first best: the model file
    fit_once(model, 1)
    fit_once(model, 2)
    write_best_weights(model, tmp_path / "best.weights.npz")  # a later best: its weights
    probe = np.random.default_rng(3).normal(size=(5, 6))
    expected = model.predict(probe, verbose=0)
    expected_state = [v.numpy() for v in model.optimizer.variables]

    loaded = load_model_with_weights(tmp_path / "model.keras", tmp_path / "best.weights.npz")
    np.testing.assert_allclose(loaded.predict(probe, verbose=0), expected, rtol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == 3  # three epochs of one batch each
    for got, want in zip(loaded.optimizer.variables, expected_state, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    # Without the weights file it is the model file's own (first) best.
    first = load_model_with_weights(tmp_path / "model.keras", tmp_path / "absent.npz")
    assert not np.allclose(first.predict(probe, verbose=0), expected)
    assert not list(tmp_path.glob("*.partial"))


def test_weights_that_do_not_fit_the_model_are_refused_and_leave_it_as_it_was(tmp_path: Path):
    wider = small_model(units=5)
    fit_once(wider, 0)
    write_best_weights(wider, tmp_path / "best.weights.npz")
    model = small_model()
    fit_once(model, 0)
    before = model.get_weights()
    with pytest.raises(DataError, match=r"best\.weights\.npz: its weights do not fit"):
        apply_best_weights(model, tmp_path / "best.weights.npz")
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
