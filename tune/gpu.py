"""A trial's GPU setup, before TensorFlow touches a device: only its own GPUs, memory that
grows (up to an optional cap) so trials can share one, and float16 where a GPU trains.
"""

from __future__ import annotations

import os
from typing import Any

from core.config import TrainConfig

GROWTH_ENV = "TF_FORCE_GPU_ALLOW_GROWTH"


def hide_unassigned_gpus() -> bool:
    """In a Ray worker given no GPU, hide every GPU; returns whether it did.

    Ray >= 2.48 no longer empties CUDA_VISIBLE_DEVICES for a worker with zero GPUs
    (ray-project/ray#54868), so a CPU-only trial on a GPU node would see, and grab, every GPU.
    """
    import ray

    if not ray.is_initialized() or ray.get_gpu_ids():
        return False
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    return True


def set_gpu_memory(tf_config: Any, gpus: list[Any], memory_mb: int | None) -> None:
    """Memory growth on every GPU; with a cap, growth within a logical device of that size.

    TF refuses `set_memory_growth` on a device with a logical configuration, but its allocator
    honours TF_FORCE_GPU_ALLOW_GROWTH for such a device too, so both hold.
    """
    if memory_mb:
        os.environ[GROWTH_ENV] = "true"
    for gpu in gpus:
        if memory_mb:
            tf_config.set_logical_device_configuration(
                gpu, [tf_config.LogicalDeviceConfiguration(memory_limit=int(memory_mb))]
            )
        else:
            tf_config.experimental.set_memory_growth(gpu, True)


# What this process was set up for. TensorFlow refuses device changes once it has started, and a
# reused worker (reuse_actors) runs trials of one resource request, so only its first sets up.
_configured: str | None = None


def configure_gpu(config: TrainConfig) -> str:
    """Set up this trial's process; returns what it trains on, e.g. 'cpu' or '1 GPU, float16'.

    Once a process: the next trials of a reused worker keep the first one's setup.
    """
    global _configured
    if _configured is None:
        _configured = _configure_gpu(config)
    return _configured


def _configure_gpu(config: TrainConfig) -> str:
    hidden = hide_unassigned_gpus()
    from core.quiet import import_tensorflow

    tf = import_tensorflow()

    if hidden:  # also through TF, should CUDA have started before the variable was set
        tf.config.set_visible_devices([], "GPU")
    gpus = [] if hidden else tf.config.list_physical_devices("GPU")
    set_gpu_memory(tf.config, gpus, config.gpu_memory_mb)
    if not gpus:
        return "cpu"
    precision = "float32"
    if config.mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
        precision = "float16"
    return f"{len(gpus)} GPU, {precision}"
