"""A study's halt: the driver tells every trial worker at once that the study is ending.

Tune ends a study (Ctrl-C, the time budget, `--stop-on-target`) by stopping each trial's actor,
but an actor runs one task at a time: the stop waits behind the task that waits for the trial's
next report. A trial in the middle of an epoch so trained to its end and reported once more: its
checkpoint and TensorBoard scalars landed after the state Tune saved (a resumed trial repeats
that epoch), and the study's end waited for it. The halt goes around the actor: a flag in Ray's
key-value store, seen by every node, that the trial checks before each batch and before its
report (tune.trainable.make_stop_check); a halted trial reports nothing more.
"""

from __future__ import annotations

import contextlib
import time
import uuid

from .ray_compat import flag_is_set, put_flag

# A halted trial waits this long, reporting nothing, before its thread ends: Tune stops its
# trials first (at Ctrl-C it finishes its step and saves its state), and a trial thread that ends
# before Tune stopped it would read as a failed trial.
GRACE_S = 2.0
POLL_S = 0.2  # at most one look at the flag this often (an RPC of about a millisecond)

_armed: list[str] = []  # the driver's key for the study it runs now


def arm() -> str:
    """A new halt key for the study this driver runs now; its trials get it as an argument."""
    _armed[:] = [f"halt-{uuid.uuid4().hex}"]
    return _armed[0]


def halt_study() -> None:
    """Tell the trials of the armed study that it is ending (driver side; once is enough)."""
    if _armed:
        with contextlib.suppress(Exception):  # Ray already shut down: its trials went with it
            put_flag(_armed[0])


class HaltWatch:
    """A trial's view of its study's halt."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.last_look = -float("inf")
        self.halted = False

    def should_end(self) -> bool:
        """Whether the trial must end now: its study is halting."""
        now = time.monotonic()
        if self.key and not self.halted and now - self.last_look >= POLL_S:
            self.last_look = now
            self.halted = flag_is_set(self.key)
        return self.halted

    def end(self) -> None:
        """End the trial's thread as Tune does (`SystemExit(0)`, a clean end to Ray), after the
        grace."""
        time.sleep(GRACE_S)
        raise SystemExit(0)
