"""Cluster nodes preload TensorFlow into their Ray workers; a local study's workers do not."""

from __future__ import annotations

import subprocess
import sys

import pytest

PRELOADED = ("tensorflow", "keras", "core.training.loop", "core.model.builders", "tune.trainable")


def test_the_preload_module_imports_tensorflow_and_the_training_loop():
    """What cluster.yaml's nodes import into each worker as it starts."""
    probe = "import sys, tune.worker_preload; "
    probe += f"print([m for m in {PRELOADED!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == repr(list(PRELOADED))


@pytest.mark.slow
def test_a_local_rays_workers_start_without_tensorflow(study_ray):
    """A local study's first trials ask for workers about 3 s after ray.init: preloading workers
    were still importing then, and Ray started more (tune.tuner.start_ray)."""
    ray = study_ray

    @ray.remote(num_cpus=1)
    class Probe:
        def modules(self) -> list[str]:
            return [name for name in PRELOADED if name in sys.modules]

    probe = Probe.remote()
    assert ray.get(probe.modules.remote(), timeout=120) == []
