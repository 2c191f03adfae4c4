"""A TensorFlow Lite model called like the Keras one: `model(batch)` -> {"emotion", "au"}.

What `core.export` writes and `core.predict` runs. TensorFlow 2.21 still ships `tf.lite`'s
converter and interpreter (deprecated in favour of the ai-edge-litert package, which is not a
dependency); their deprecation warning and the notices they print from C++ are kept off the
terminal. Outputs are read by the names of the model's signature, never by tensor order: the
converter orders them alphabetically (au before emotion), not as the Keras model declares them.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, first_line
from ..files import read_bounded

TFLITE_SUFFIX = ".tflite"
TFLITE_FILE = "model.tflite"
TFLITE_BYTES_LIMIT = 2 << 30  # a flatbuffer addresses at most 2 GiB
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TensorFlow Lite flatbuffer
SIGNATURE = "serving_default"
OUTPUTS = ("emotion", "au")
# Said by TensorFlow Lite on every machine (from C++, to descriptor 2): notices, not problems.
LITE_NOISE = re.compile(r"Created TensorFlow Lite XNNPACK delegate|^fully_quantize: \d")
LITE_WARNINGS = (  # Python warnings of tf.lite with nothing for our user to do
    r"\s*Warning: tf\.lite\.Interpreter is deprecated",
    r"Statistics for quantized inputs were expected",
)


@contextlib.contextmanager
def quiet_lite() -> Iterator[Any]:
    """`tf.lite` with its deprecation warning and its C++ notices filtered out; yields tf.lite."""
    from ..quiet import filtered_stderr, import_tensorflow

    tf = import_tensorflow()
    with warnings.catch_warnings(), filtered_stderr(LITE_NOISE):
        for message in LITE_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield tf.lite


class LiteModel:
    """A .tflite dual-head model; `input_shape` and `output_shapes` say what it takes and gives."""

    def __init__(self, content: bytes, threads: int | None = None, name: str = "model") -> None:
        with quiet_lite() as lite:
            self.interpreter = lite.Interpreter(model_content=content, num_threads=threads)
            signatures = self.interpreter.get_signature_list()
            if SIGNATURE not in signatures:
                raise DataError(f"{name}: TFLite model without a {SIGNATURE} signature")
            self.interpreter.allocate_tensors()  # where the XNNPACK delegate says it was created
            self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs = self.runner.get_input_details()
        if len(inputs) != 1:
            raise DataError(f"{name}: TFLite model takes {len(inputs)} inputs, not one image")
        ((self.input_name, details),) = inputs.items()
        self.input_shape = _shape(details)
        self.output_shapes = {key: _shape(d) for key, d in self.runner.get_output_details().items()}

    def __call__(self, inputs: Any, training: bool = False) -> dict[str, np.ndarray]:
        """Outputs by name for a float32 batch (n, s, s, 1); `training` is Keras' and ignored."""
        batch = np.ascontiguousarray(inputs, dtype=np.float32)
        outputs = self.runner(**{self.input_name: batch})
        return {key: np.asarray(outputs[key]) for key in OUTPUTS if key in outputs}


def _shape(details: Mapping[str, Any]) -> tuple[int | None, ...]:
    """A tensor's shape as Keras writes it: None where the model takes any size (the batch)."""
    signature = details.get("shape_signature", details["shape"])
    return tuple(None if int(n) < 0 else int(n) for n in signature)


def read_tflite(path: Path) -> bytes:
    """The bytes of a .tflite file, checked to be a TensorFlow Lite flatbuffer."""
    try:
        content = read_bounded(path, TFLITE_BYTES_LIMIT)
    except FileNotFoundError:
        raise DataError(f"{path}: model file does not exist") from None
    except OSError as error:
        raise DataError(f"{path}: model file not readable ({error.strerror})") from None
    if content[4:8] != TFLITE_IDENTIFIER:
        raise DataError(f"{path}: not a TFLite model file (no {TFLITE_IDENTIFIER.decode()} mark)")
    return content


def load_tflite(path: Path, threads: int | None = None) -> LiteModel:
    """The TFLite model of a .tflite file; a damaged one is a DataError naming the file."""
    content = read_tflite(path)
    try:
        return LiteModel(content, threads, name=str(path))
    except DataError:
        raise
    except Exception as error:  # the interpreter refuses a damaged flatbuffer in many ways
        raise DataError(f"{path}: not a loadable TFLite model ({first_line(error)})") from None
