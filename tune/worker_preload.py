"""What every Ray worker of a study imports as it starts, before a trial reaches it.

A trial on a fresh worker paid 3-4 s importing TensorFlow and Keras before its first step. Ray
starts a pool of idle workers at `ray.init` and hands a new trial's actor one of them; with this
module preloaded (Ray's `preload_python_modules`) the import runs while the driver is still
building the study, and two trial workers were ready 0.06 s after they were asked for instead of
3.3 s (bench/worker_start.py; it gains only where a core is free meanwhile). The cost: each idle
worker holds TensorFlow, about 0.8 GB of resident memory, mostly shared library pages.
"""

from __future__ import annotations

import importlib

# What a trial imports before its first step, besides TensorFlow: Keras (core.model.builders), the
# training loop, the trainable (Ray Tune) and TensorBoard's HParams writer.
MODULES = (
    "core.model.builders",
    "core.training.loop",
    "core.model.warm",
    "tune.trainable",
    "tensorboard.plugins.hparams.api",
)


def preload() -> None:
    """TensorFlow first, its start-up notices filtered as in a trial (2.8 of the 3.5 s), then
    MODULES."""
    from core.quiet import import_tensorflow

    import_tensorflow()
    for name in MODULES:
        importlib.import_module(name)


preload()
