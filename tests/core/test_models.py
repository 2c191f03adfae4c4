"""Dual-head models on tiny inputs: heads, L1, weighted AU loss, transfer, errors, history."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core.config import LOSS_KEYS, METRIC_KEYS, AUHead, ModelConfig, train_config
from core.errors import ConfigError
from core.model.builders import WeightedBinaryCrossentropy, au_pos_weights_from_labels, build_model

TINY = {"input_size": 32, "alpha": 0.25}
N_AUS = 5


def model_of(config: dict) -> keras.Model:
    """The compiled model of a flat config as a run builds it: the config checked once
    (core.config), the AU count and positive weights given as the data would give them
    (`n_aus`, default the 15 CK+ AUs, and `au_pos_weights`)."""
    config = dict(config)
    weights = config.pop("au_pos_weights", None)
    head = AUHead(config.pop("n_aus", 15), None if weights is None else tuple(weights))
    return build_model(train_config(config).model, head)


def images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 1)).astype("float32")


def labels(n: int, n_aus: int = N_AUS, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "emotion": rng.integers(0, 3, n),
        "au": (rng.random((n, n_aus)) > 0.5).astype("float32"),
    }


def randomise(model: keras.Model, seed: int = 0) -> list[np.ndarray]:
    """Distinct values in every weight (BatchNorm statistics included) so a load is visible."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()]
    model.set_weights(weights)
    return weights


def save_backbone(path, app=keras.applications.MobileNet, alpha=0.25, size=64, seed=0):
    net = app(include_top=False, weights=None, alpha=alpha, input_shape=(size, size, 3))
    weights = randomise(net, seed)
    net.save_weights(path)
    return weights


@pytest.fixture(scope="module")
def l1_model():
    return model_of({**TINY, "l1": 0.01, "n_aus": N_AUS})


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def mobilenet_file(weights_dir):
    path = weights_dir / "mobilenet.weights.h5"
    return path, save_backbone(path)


@pytest.fixture(scope="module")
def mobilenet_v2_file(weights_dir):
    path = weights_dir / "mobilenet_v2.weights.h5"
    save_backbone(path, keras.applications.MobileNetV2, alpha=0.35, size=32)
    return path


# Heads


def test_emotion_head_is_softmax_and_au_head_is_independent_sigmoids(l1_model):
    x = images(4)
    # Training mode: at initialisation the BatchNorm moving statistics flatten every feature.
    out = l1_model(x, training=True)
    emotion, au = np.asarray(out["emotion"]), np.asarray(out["au"])
    assert emotion.shape == (4, 3)
    assert au.shape == (4, N_AUS)
    np.testing.assert_allclose(emotion.sum(axis=1), 1.0, atol=1e-5)
    assert ((au > 0) & (au < 1)).all()
    assert l1_model.get_layer("au").activation is keras.activations.sigmoid
    assert l1_model.get_layer("emotion").activation is keras.activations.softmax

    features = keras.Model(l1_model.input, l1_model.get_layer("dense_2").output)(x, training=True)
    kernel, bias = l1_model.get_layer("au").get_weights()
    expected = 1.0 / (1.0 + np.exp(-(np.asarray(features) @ kernel + bias)))
    np.testing.assert_allclose(au, expected, rtol=1e-4, atol=1e-6)


def test_model_takes_one_grey_channel_and_names_its_outputs(l1_model):
    assert tuple(l1_model.input.shape) == (None, 32, 32, 1)
    assert set(l1_model.output_names) == {"emotion", "au"}


# L1


def test_l1_terms_equal_l1_times_the_dense_kernels_abs_sum(l1_model):
    expected = sorted(
        0.01 * float(np.abs(l1_model.get_layer(name).kernel.numpy()).sum())
        for name in ("dense_1", "dense_2")
    )
    got = sorted(float(term) for term in l1_model.losses)
    assert got == pytest.approx(expected, rel=1e-5)


def test_no_l1_terms_when_l1_is_zero():
    model = model_of({**TINY, "l1": 0.0, "n_aus": N_AUS})
    assert model.losses == []
    assert model.get_layer("dense_1").kernel_regularizer is None


def test_dropout_layers_only_when_dropout_is_positive(l1_model):
    with_dropout = model_of({**TINY, "dropout": 0.3, "n_aus": N_AUS})
    assert with_dropout.get_layer("dropout_1").rate == pytest.approx(0.3)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in l1_model.layers)


# Weighted AU loss


def test_weighted_bce_multiplies_the_positive_term_per_au():
    y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    y_pred = np.array([[0.8, 0.3], [0.4, 0.9]])
    loss = WeightedBinaryCrossentropy([2.0, 1.0])
    first = -(2 * np.log(0.8) + np.log(1 - 0.3)) / 2
    second = -(np.log(1 - 0.4) + 1 * np.log(0.9)) / 2
    assert float(loss(y_true, y_pred)) == pytest.approx((first + second) / 2, rel=1e-6)
    plain = keras.losses.BinaryCrossentropy()(y_true, y_pred)
    assert float(WeightedBinaryCrossentropy([1.0, 1.0])(y_true, y_pred)) == pytest.approx(
        float(plain), rel=1e-6
    )


def test_model_au_loss_uses_the_pos_weights():
    weights = [3.0, 1.0, 1.0, 0.5, 2.0]
    model = model_of({**TINY, "n_aus": N_AUS, "au_pos_weights": weights, "au_loss_weight": 2.0})
    x, y = images(6), labels(6)
    result = model.evaluate(x, y, batch_size=6, return_dict=True, verbose=0)
    prob = np.clip(model.predict(x, verbose=0)["au"].astype("float64"), 1e-7, 1 - 1e-7)
    w = np.array(weights)
    by_hand = -(w * y["au"] * np.log(prob) + (1 - y["au"]) * np.log(1 - prob)).mean()
    assert result["au_loss"] == pytest.approx(by_hand, rel=1e-4)
    assert result["loss"] == pytest.approx(result["emotion_loss"] + 2.0 * by_hand, rel=1e-4)


def test_au_pos_weights_from_labels_is_capped_neg_over_pos():
    au = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    # AU0: 2 pos, 3 neg -> 1.5; AU1: 1 pos, 4 neg -> 4 capped at 3; AU2: none -> 1; AU3: 4 -> 3
    assert au_pos_weights_from_labels(au, cap=3.0) == pytest.approx([1.5, 3.0, 1.0, 3.0])
    assert au_pos_weights_from_labels(au) == pytest.approx([1.5, 4.0, 1.0, 4.0])


# Transfer from a local weights file


def backbone_of(model: keras.Model) -> keras.Model:
    return model.get_layer("backbone")


def test_transfer_loads_every_backbone_weight_and_freezes_them(mobilenet_file):
    path, saved = mobilenet_file
    model = model_of({**TINY, "backbone_weights": str(path), "n_aus": N_AUS})
    backbone = backbone_of(model)
    assert backbone.input.shape[-1] == 3
    assert len(backbone.get_weights()) == len(saved)
    for got, want in zip(backbone.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(got, want)
    assert backbone.trainable_weights == []
    head = {"dense_1", "dense_2", "emotion", "au"}
    assert {w.path.split("/")[0] for w in model.trainable_weights} == head


def test_transfer_backbone_batchnorm_stays_in_inference_mode(mobilenet_file):
    path, _ = mobilenet_file
    model = model_of({**TINY, "backbone_weights": str(path), "n_aus": N_AUS})
    x = images(4)
    features = keras.Model(model.input, model.get_layer("pool").output)
    np.testing.assert_allclose(
        features(x, training=True), features(x, training=False), rtol=1e-5, atol=1e-6
    )


def test_unfreeze_top_blocks_trains_exactly_the_top_block_convolutions(mobilenet_file):
    path, _ = mobilenet_file
    model = model_of(
        {**TINY, "backbone_weights": str(path), "unfreeze_top_blocks": 2, "n_aus": N_AUS}
    )
    backbone = backbone_of(model)
    trainable = {layer.name for layer in backbone.layers if layer.trainable_weights}
    assert trainable == {"conv_dw_12", "conv_pw_12", "conv_dw_13", "conv_pw_13"}
    assert not any(
        layer.trainable
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert len(model.trainable_weights) == 8 + 4


def test_mobilenet_v2_transfer_unfreezes_its_top_block(mobilenet_v2_file):
    model = model_of(
        {
            **TINY,
            "backbone": "mobilenet_v2",
            "alpha": 0.35,
            "backbone_weights": str(mobilenet_v2_file),
            "unfreeze_top_blocks": 1,
            "n_aus": N_AUS,
        }
    )
    trainable = {layer.name for layer in backbone_of(model).layers if layer.trainable_weights}
    assert trainable == {"block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1"}


def test_missing_weights_file_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(ConfigError, match=r"nowhere\.weights\.h5"):
        model_of({**TINY, "backbone_weights": str(missing)})


def test_weights_of_another_alpha_are_a_config_error_naming_file_and_model(weights_dir):
    path = weights_dir / "alpha50.weights.h5"
    save_backbone(path, alpha=0.5, size=32)
    with pytest.raises(ConfigError) as caught:
        model_of({**TINY, "backbone_weights": str(path)})
    assert "alpha50.weights.h5" in str(caught.value)
    assert "does not match mobilenet alpha=0.25" in str(caught.value)


def test_mobilenet_v2_weights_do_not_load_into_mobilenet(mobilenet_v2_file):
    with pytest.raises(ConfigError) as caught:
        model_of({**TINY, "backbone_weights": str(mobilenet_v2_file)})
    assert mobilenet_v2_file.name in str(caught.value)
    assert "does not match mobilenet alpha=0.25" in str(caught.value)


def test_legacy_h5_weights_as_published_by_keras_load_and_mismatch_cleanly(tmp_path):
    """The ImageNet files one downloads elsewhere (e.g. mobilenet_2_5_128_tf_no_top.h5) are legacy
    HDF5 weight files; write one the same way."""
    h5py = pytest.importorskip("h5py")
    legacy = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
    net = keras.applications.MobileNet(
        include_top=False, weights=None, alpha=0.25, input_shape=(32, 32, 3)
    )
    saved = randomise(net, seed=3)
    path = tmp_path / "mobilenet_2_5_128_tf_no_top.h5"
    with h5py.File(path, "w") as f:
        legacy.save_weights_to_hdf5_group(f, net)
    model = model_of({**TINY, "backbone_weights": str(path)})
    for got, want in zip(backbone_of(model).get_weights(), saved, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ConfigError, match=r"tf_no_top\.h5: does not match mobilenet alpha=0\.5"):
        model_of({**TINY, "alpha": 0.5, "backbone_weights": str(path)})


def test_a_file_that_is_not_weights_is_a_config_error(tmp_path):
    junk = tmp_path / "junk.weights.h5"
    junk.write_text("not hdf5")
    with pytest.raises(ConfigError, match=r"junk\.weights\.h5"):
        model_of({**TINY, "backbone_weights": str(junk)})
    other = tmp_path / "backbone.npz"
    other.write_text("x")
    with pytest.raises(ConfigError, match=r"backbone\.npz.*\.weights\.h5"):
        model_of({**TINY, "backbone_weights": str(other)})


def test_imagenet_download_failure_says_to_pass_a_local_file(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(ConfigError) as caught:
        model_of({"input_size": 128, "alpha": 0.25, "backbone_weights": "imagenet"})
    message = str(caught.value)
    assert "backbone_weights=PATH" in message
    assert "\n" not in message


# Configuration


def test_defaults_are_the_model_config_defaults_and_other_keys_are_not_the_models():
    assert train_config({"batch_size": 16, "sample_size": 500}).model == ModelConfig()
    assert ModelConfig().input_size == 96


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alpha", 0.3),
        ("alpha", 0.35),  # a MobileNetV2 width, not a MobileNet one
        ("input_size", 16),
        ("input_size", 31),
        ("input_size", 48.5),
        ("l1", -0.01),
        ("backbone", "resnet50"),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("learning_rate", 0.0),
        ("unfreeze_top_blocks", 14),
        ("backbone_weights", 3),
    ],
)
def test_bad_config_values_are_config_errors_naming_key_and_value(key, value):
    with pytest.raises(ConfigError) as caught:
        train_config({**TINY, key: value})
    assert f"{key}={value!r}" in str(caught.value)


def test_au_weights_must_be_positive_and_one_per_au_of_the_data():
    with pytest.raises(ConfigError, match=r"au_pos_weights must be .*numbers > 0, got \[1\.0, -1"):
        train_config({"au_pos_weights": [1.0, -1.0]})
    with pytest.raises(ConfigError, match=r"au_pos_weights=\[1\.0, 2\.0\]: expected 15 numbers"):
        AUHead(15, (1.0, 2.0))


def test_mobilenet_v2_has_its_own_alphas():
    assert train_config({"backbone": "mobilenet_v2", "alpha": 1.4}).model.alpha == 1.4
    with pytest.raises(ConfigError, match=r"alpha=0\.25"):
        train_config({"backbone": "mobilenet_v2", "alpha": 0.25})


# Training and saving


def test_one_epoch_fit_reports_exactly_the_documented_history_keys():
    model = model_of({**TINY, "n_aus": 15})
    history = model.fit(
        images(8),
        labels(8, 15),
        validation_data=(images(4, seed=1), labels(4, 15, seed=1)),
        batch_size=4,
        epochs=1,
        verbose=0,
    )
    train_keys = set(METRIC_KEYS) | set(LOSS_KEYS)
    assert set(history.history) == train_keys | {f"val_{key}" for key in train_keys}
    assert set(METRIC_KEYS) == {
        "emotion_accuracy",
        "au_binary_accuracy",
        "au_f1_macro",
        "au_pr_auc",
    }


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_save_and_safe_load_round_trip_keeps_weighted_loss_and_transfer_graph(
    tmp_path, mobilenet_file
):
    weights_path, _ = mobilenet_file
    pos_weights = [2.0, 1.0, 4.0, 1.0, 0.5]
    model = model_of(
        {
            **TINY,
            "n_aus": N_AUS,
            "au_pos_weights": pos_weights,
            "backbone_weights": str(weights_path),
            "unfreeze_top_blocks": 1,
        }
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.loss["au"], WeightedBinaryCrossentropy)
    assert loaded.loss["au"].pos_weights == pos_weights
    x, y = images(4), labels(4)
    for name in ("emotion", "au"):
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0)[name], model.predict(x, verbose=0)[name], rtol=1e-5
        )
    want = model.evaluate(x, y, return_dict=True, verbose=0)
    got = loaded.evaluate(x, y, return_dict=True, verbose=0)
    assert got["au_loss"] == pytest.approx(want["au_loss"], rel=1e-5)
    assert len(loaded.trainable_weights) == len(model.trainable_weights)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_l1_and_au_weights_are_variables_that_save_and_safe_load(tmp_path):
    from core.model.builders import VariableL1, assign_trial_values

    model = model_of({**TINY, "n_aus": N_AUS, "l1": 0.01, "au_pos_weights": [2.0] * N_AUS})
    changed = train_config({**TINY, "l1": 0.5}).model
    assign_trial_values(model, changed, AUHead(N_AUS, (1.0, 2.0, 3.0, 4.0, 5.0)))
    expected = sorted(
        0.5 * float(np.abs(model.get_layer(name).kernel.numpy()).sum())
        for name in ("dense_1", "dense_2")
    )
    assert sorted(float(term) for term in model.losses) == pytest.approx(expected, rel=1e-5)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    regularizer = loaded.get_layer("dense_2").kernel_regularizer
    assert isinstance(regularizer, VariableL1) and regularizer.l1 == 0.5
    assert loaded.loss["au"].pos_weights == [1.0, 2.0, 3.0, 4.0, 5.0]
