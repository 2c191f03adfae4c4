"""A trial whose study halts mid-epoch ends at its next batch: no more scalars, reports or
training."""

from __future__ import annotations

import numpy as np
import pytest

from tune import halt
from tune.trainable import make_stop_check


@pytest.fixture
def own_ray():
    """A Ray another test of this worker left running serves; else one of its own."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def test_a_halted_trial_ends_at_its_next_batch_and_writes_nothing_after(own_ray, monkeypatch):
    import keras

    monkeypatch.setattr(halt, "POLL_S", 0.0)  # a look at every batch, not one per 0.2 s
    monkeypatch.setattr(halt, "GRACE_S", 0.0)
    seen: list[tuple[str, int, int]] = []

    class Driver(keras.callbacks.Callback):
        """Stands in for the driver: halts the study in the middle of the second epoch."""

        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", self.epoch, batch))
            if (self.epoch, batch) == (1, 2):
                halt.halt_study()

    class Writer(keras.callbacks.Callback):
        """What comes after the check: TensorBoard, the report."""

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch end", epoch, -1))

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((64, 4), "float32"), np.zeros((64, 1), "float32")
    callbacks = [make_stop_check(halt.HaltWatch(halt.arm())), Driver(), Writer()]
    with pytest.raises(SystemExit) as ended:
        model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=callbacks)
    assert ended.value.code == 0  # Ray's runner thread reads it as a clean end
    assert ("epoch end", 0, -1) in seen and ("epoch end", 1, -1) not in seen
    assert seen[-1] == ("batch", 1, 2), seen[-3:]  # not one batch more


def test_without_a_halt_key_training_goes_on(own_ray):
    watch = halt.HaltWatch(None)
    halt.arm()
    halt.halt_study()  # another study's halt
    make_stop_check(watch).on_train_batch_begin(0)
    assert not watch.should_end()


def test_the_halt_reaches_a_worker_process_through_rays_store(own_ray):
    """The driver's halt (tune.halt) is seen by another process of the same Ray, as a trial's
    worker sees it; a study armed again gets a new key its trials have not seen set."""
    import ray

    from tune.halt import arm, halt_study

    @ray.remote(num_cpus=0)
    def halted(key: str) -> bool:
        from tune.halt import HaltWatch

        return HaltWatch(key).should_end()

    key = arm()
    assert not ray.get(halted.remote(key))
    halt_study()
    assert ray.get(halted.remote(key))
    assert not ray.get(halted.remote(arm()))
