"""A local study's Ray workers hold TensorFlow before a trial reaches them."""

from __future__ import annotations

import sys

import pytest

PRELOADED = ("tensorflow", "keras", "core.training.loop", "core.model.builders", "tune.trainable")


@pytest.mark.slow
def test_a_local_rays_workers_import_tensorflow_and_the_training_loop_as_they_start(study_ray):
    ray = study_ray

    @ray.remote(num_cpus=1)
    class Probe:
        def modules(self) -> list[str]:
            return [name for name in PRELOADED if name in sys.modules]

    probe = Probe.remote()
    assert ray.get(probe.modules.remote(), timeout=120) == list(PRELOADED)
