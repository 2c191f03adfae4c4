"""Training-only augmentation as Keras preprocessing layers, run inside the tf.data pipeline."""

from __future__ import annotations

from ..config import TrainConfig

AUGMENTATION_KEYS = ("zoom", "brightness", "contrast", "rotation")


def build_augmenter(config: TrainConfig, seed: int | None = None):
    """A keras.Sequential of the non-zero factors, or None when every factor is 0.

    Images are float pixels in 0..255, so brightness and contrast use that value range.
    Rotation is a fraction of a full turn, as Keras defines it.
    """
    import keras

    factors = {key: getattr(config, key) for key in AUGMENTATION_KEYS}
    layers = []
    if factors["zoom"] > 0:
        layers.append(keras.layers.RandomZoom(factors["zoom"], fill_mode="reflect", seed=seed))
    if factors["rotation"] > 0:
        layers.append(
            keras.layers.RandomRotation(factors["rotation"], fill_mode="reflect", seed=seed)
        )
    if factors["brightness"] > 0:
        layers.append(keras.layers.RandomBrightness(factors["brightness"], (0, 255), seed=seed))
    if factors["contrast"] > 0:
        layers.append(keras.layers.RandomContrast(factors["contrast"], (0, 255), seed=seed))
    if not layers:
        return None
    return keras.Sequential(layers, name="augmentation")
