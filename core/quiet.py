"""TensorFlow without its start-up noise: a user reads our output, not absl's.

Importing TensorFlow on a CPU machine writes absl's "All log messages before
absl::InitializeLog()" notice, oneDNN and CPU-feature notices, and CUDA stub lines ("Could not
find cuda drivers", "failed call to cuInit") straight to file descriptor 2, from C++, where
`TF_CPP_MIN_LOG_LEVEL` does not reach. `import_tensorflow` captures that descriptor while
TensorFlow loads and finds its devices, then passes on every line that is not such a notice, so
a real error still shows.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import threading
from types import ModuleType

# Said on every machine: notices, not problems.
NOISE = re.compile(
    r"absl::InitializeLog|port\.cc:\d+\] oneDNN custom operations|cpu_feature_guard\.cc|"
    r"^To enable the following instructions:|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|TF-TRT Warning|^\s*$"
)
# Said where there is no GPU to find: noise on a CPU machine, a clue on a GPU machine.
CUDA_NOISE = re.compile(r"cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|cuda_diagnostics")
_lock = threading.Lock()


@functools.cache
def import_tensorflow() -> ModuleType:
    """`import tensorflow` (and its device discovery) with the start-up notices filtered out."""
    # Level 3: C++ INFO, WARNING and ERROR lines off (the oneDNN "DT_BOOL" notice is logged as an
    # error mid-training); a real failure still reaches the user as a Python exception.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _lock, _filtered_stderr() as found:
        import tensorflow as tf

        # Device discovery is where CUDA says what it could not find.
        found.gpus = len(tf.config.list_physical_devices("GPU"))
    return tf


def filtered_stderr(noise: re.Pattern[str]) -> _filtered_stderr:
    """Descriptor 2 without the lines `noise` finds (nor the start-up notices) while the block
    runs: for what TensorFlow says from C++ after start-up (TensorFlow Lite's converter and
    interpreter)."""
    return _filtered_stderr(noise)


class _filtered_stderr:
    """Descriptor 2 into a temporary file for the block; kept lines are written back after."""

    gpus = 0

    def __init__(self, extra: re.Pattern[str] | None = None) -> None:
        self.extra = extra

    def __enter__(self) -> _filtered_stderr:
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.capture = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self.capture.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.capture.seek(0)
        text = self.capture.read().decode(errors="replace")
        self.capture.close()
        kept = [
            line
            for line in text.splitlines()
            if not NOISE.search(line)
            and not (self.extra and self.extra.search(line))
            and (self.gpus or not CUDA_NOISE.search(line))
        ]
        if kept:
            print("\n".join(kept), file=sys.stderr, flush=True)
