"""A trained Keras model as TensorFlow Lite files, and what each costs and changes.

Conversion goes through a SavedModel (Keras 3's `model.export`), so the TFLite signature keeps the
Keras output names (`emotion`, `au`). int8 is post-training full-integer quantisation: int8
weights and activations, calibrated on training images, with float32 input and output (the
interpreter quantises the image and dequantises the probabilities), so a caller feeds and reads
the very arrays it gives the float model.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.metrics import au_metrics
from ..files import scratch_folder
from .predictor import BATCH
from .tflite_model import OUTPUTS, TFLITE_FILE, LiteModel, quiet_lite

FLOAT32, INT8 = "float32", "int8"
FILES = {FLOAT32: TFLITE_FILE, INT8: "model_int8.tflite"}
NUMBERS = {  # what each file computes in, and what it takes and gives
    FLOAT32: {"weights": FLOAT32, "activations": FLOAT32, "input": FLOAT32, "output": FLOAT32},
    INT8: {"weights": INT8, "activations": INT8, "input": FLOAT32, "output": FLOAT32},
}


def convert(model: Any, calibration: np.ndarray | None = None) -> bytes:
    """The model as a TFLite flatbuffer: float32, or int8 calibrated on `calibration`, a float32
    batch (n, s, s, 1) of training images. An op with no int8 kernel fails the conversion
    rather than silently staying float."""
    model = in_float32(model)
    with quiet_lite() as lite, scratch_folder("tflite") as folder:
        model.export(str(folder), format="tf_saved_model", verbose=False)
        converter = lite.TFLiteConverter.from_saved_model(str(folder))
        if calibration is not None:
            converter.optimizations = [lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in calibration)
            converter.target_spec.supported_ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()


def in_float32(model: Any) -> Any:
    """The model computing in float32. GPU trials train in mixed_float16 (tune/gpu.py), and
    TFLite has float16 kernels for few ops: such a model is rebuilt from its config with float32
    policies and given its (float32) weights."""
    config = model.get_config()
    floats = _float32_policies(config)
    if floats == config:
        return model
    copy = type(model).from_config(floats)
    copy.set_weights(model.get_weights())
    return copy


def _float32_policies(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return {**value, "config": {**value["config"], "name": FLOAT32}}
        return {key: _float32_policies(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_policies(item) for item in value]
    return value


def model_inputs(views: np.ndarray) -> np.ndarray:
    """Cropped uint8 squares (n, s, s) as the float32 batch (n, s, s, 1) every model takes."""
    return views[..., None].astype(np.float32)


def calibration_inputs(
    views: np.ndarray, train: Sequence[int], count: int, seed: int
) -> np.ndarray:
    """`count` training-split images (a seeded choice; all when fewer) to calibrate int8 on."""
    chosen = np.random.default_rng(seed).permutation(np.asarray(train))[:count]
    return model_inputs(views[np.sort(chosen)])


def outputs_of(model: Any, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """A Keras or TFLite model's outputs by name over a batch, run in chunks."""
    chunks = [model(inputs[i : i + BATCH], training=False) for i in range(0, len(inputs), BATCH)]
    return {name: np.concatenate([np.asarray(c[name]) for c in chunks]) for name in OUTPUTS}


@dataclass(frozen=True)
class Reference:
    """The test images, the Keras model's outputs on them, and what AU decisions are judged by."""

    inputs: np.ndarray
    outputs: dict[str, np.ndarray]
    au_truth: np.ndarray
    thresholds: Sequence[float]
    au_names: Sequence[str]

    def au_f1(self, au_prob: np.ndarray) -> float | None:
        """AU macro F1 at the tuned thresholds, by core.evaluation.metrics' rule (AUs with a
        positive)."""
        return au_metrics(self.au_truth, au_prob, list(self.thresholds), self.au_names)["f1_macro"]

    def agreement(self, model: Any) -> dict[str, Any]:
        """How far `model`'s outputs on the test images are from the Keras model's:
        probabilities, decisions, and AU macro F1 at the tuned thresholds."""
        mine, keras = outputs_of(model, self.inputs), self.outputs
        emotion = np.abs(mine["emotion"] - keras["emotion"]).max(initial=0.0)
        au = np.abs(mine["au"] - keras["au"]).max(initial=0.0)
        cut = np.asarray(self.thresholds)
        f1, before = self.au_f1(mine["au"]), self.au_f1(keras["au"])
        return {
            "max_abs_difference": float(max(emotion, au)),
            "emotion_max_abs_difference": float(emotion),
            "au_max_abs_difference": float(au),
            "emotion_argmax_agreement": _share(
                mine["emotion"].argmax(axis=1) == keras["emotion"].argmax(axis=1)
            ),
            "au_decision_agreement": _share((mine["au"] > cut) == (keras["au"] > cut)),
            "au_f1_macro": f1,
            "au_f1_macro_change": None if f1 is None or before is None else f1 - before,
        }


def _share(same: np.ndarray) -> float:
    return float(same.mean()) if same.size else 1.0


def describe(
    kind: str, content: bytes, reference: Reference, threads: int, runs: int, warmup: int
) -> dict[str, Any]:
    """export.json's entry of one TFLite file: size, numbers, latency, agreement."""
    return {
        "file": FILES[kind],
        "bytes": len(content),
        **NUMBERS[kind],
        "latency_ms": latency_ms(content, reference.inputs[0], threads, runs, warmup),
        "agreement": reference.agreement(LiteModel(content)),
    }


def latency_ms(content: bytes, image: np.ndarray, threads: int, runs: int, warmup: int) -> float:
    """Median milliseconds of one image (batch 1) through the TFLite interpreter, after warm-up."""
    model = LiteModel(content, threads)
    batch = image[None]
    for _ in range(warmup):
        model(batch)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        model(batch)
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)


def cpu_name() -> str:
    """This machine's CPU model as Linux names it, else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
