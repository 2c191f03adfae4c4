"""What a user's terminal gets from Ray's own loggers."""

from __future__ import annotations

import logging
import time

import ray.tune.utils.util as tune_util

from tune.ray_compat import (
    HALTED_TRIAL_ERROR,
    quiet_halted_trial_errors,
    quiet_slow_operation_notices,
)


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


def test_a_halted_trials_unread_error_is_dropped_and_every_other_kept(monkeypatch):
    import ray._private.worker as worker
    from ray.tune.trainable.function_trainable import FunctionTrainable

    quiet_halted_trial_errors()
    quiet_halted_trial_errors()  # idempotent: one filter
    logger = logging.getLogger("ray._private.worker")
    kept = Kept()
    monkeypatch.setattr(logger, "handlers", [kept])
    # The error as FunctionTrainable.step raises it, its text read from Ray's own source: an
    # upgrade that rewords it fails here, not silently in a user's terminal.
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(FunctionTrainable.step)))
    (raised,) = [node for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    message = "".join(node.value for node in ast.walk(raised) if isinstance(node, ast.Constant))
    assert HALTED_TRIAL_ERROR in message
    halted = RuntimeError(message)
    worker._unhandled_error_handler(halted)
    worker._unhandled_error_handler(RuntimeError("a trial's own error"))
    assert len(kept.messages) == 1 and "a trial's own error" in kept.messages[0]
    assert len(logger.filters) == 1
