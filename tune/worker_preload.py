"""What every Ray worker of a cluster node imports as it starts, before a trial reaches it.

A trial on a fresh worker paid 3-4 s importing TensorFlow and Keras before its first step. A
cluster node (cluster.yaml: `RAY_preload_python_modules`) starts its idle workers long before a
study asks for them, so the import is done by then: two trial workers were ready 0.06 s after
they were asked for instead of 3.3 s (bench/worker_start.py, 5 s after the start). The cost: each
idle worker holds TensorFlow, about 0.8 GB of resident memory, mostly shared library pages.

A local Ray (tune.tuner.start_ray) does without it: its study asks for workers about 3 s after
`ray.init`, while the idle workers were still importing, so Ray started more that imported it
too (bench/study_start.py: the first report 9.5 s later with it).
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
