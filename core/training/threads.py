"""TensorFlow's thread pools sized to a process's CPU share."""

from __future__ import annotations

import os


def configure_threads(threads: int | None = None) -> int | None:
    """Cap TF's thread pools so trials sharing a machine do not fight over its cores."""
    from ..quiet import import_tensorflow

    tf = import_tensorflow()

    threads = threads or _int_env("FERTUNE_TF_THREADS") or _int_env("OMP_NUM_THREADS")
    if not threads:
        return None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # TF already started in this process; its pools keep their size
    return threads


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None
