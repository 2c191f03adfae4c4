"""What a user's terminal gets from Ray's own loggers."""

from __future__ import annotations

import logging
import time

import ray.tune.utils.util as tune_util

from tune.ray_compat import quiet_slow_operation_notices


class Kept(logging.Handler):
    """The records a logger lets through (Ray's loggers do not propagate to pytest's)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_tunes_timing_hints_are_dropped_and_its_other_warnings_kept(monkeypatch):
    monkeypatch.setattr(tune_util, "START_OF_TIME", 0.0)  # Tune is quiet in its first minute
    quiet_slow_operation_notices()
    quiet_slow_operation_notices()  # idempotent: one filter
    util = logging.getLogger("ray.tune.utils.util")
    controller = logging.getLogger("ray.tune.execution.tune_controller")
    assert len(util.filters) == 1 and len(controller.filters) == 1
    kept = Kept()
    for logger in (util, controller):
        monkeypatch.setattr(logger, "handlers", [kept])
    with tune_util.warn_if_slow("process_trial_result", threshold=0.001):
        time.sleep(0.01)
    controller.warning(
        "Processing trial results took 1.438 s, which may be a performance bottleneck."
    )
    util.warning("a real warning")
    assert kept.messages == ["a real warning"]
