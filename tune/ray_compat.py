"""Every private Ray attribute the project uses, in one place (checked against Ray 2.60).

Ray moves its private APIs between releases; when one of these breaks after an upgrade, this is
the only module to change. Each function says what it reaches for and why no public API does.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import first_line

SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray stays on 127.0.0.1


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Ray on Linux turns `_node_ip_address="127.0.0.1"` into the machine's reachable address
    and listens on every interface; only its single-machine mode (the one it uses on macOS and
    Windows) keeps the GCS, raylet and workers on 127.0.0.1. Its switch is an environment
    variable read at import (`ray._private.ray_constants.ENABLE_RAY_CLUSTER`), so the imported
    constant is set too, and both put back after."""
    import ray._private.ray_constants as constants

    previous = os.environ.get(SINGLE_MACHINE_ENV), constants.ENABLE_RAY_CLUSTER
    os.environ[SINGLE_MACHINE_ENV] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if previous[0] is None:
            os.environ.pop(SINGLE_MACHINE_ENV, None)
        else:
            os.environ[SINGLE_MACHINE_ENV] = previous[0]
        constants.ENABLE_RAY_CLUSTER = previous[1]


def quiet_token_notice() -> None:
    """Ray announces its default (token auth on) on stderr from a private module's logger; a
    user's error should stay one line."""
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )


def quiet_slow_operation_notices() -> None:
    """Tune's driver warns on the user's terminal whenever processing one result takes over
    0.5 s ("... may be a performance bottleneck"), which a trial on a busy 2-core machine does
    every few epochs: a hint for Ray's developers, not something a user can act on."""
    for name in ("ray.tune.utils.util", "ray.tune.execution.tune_controller"):
        drop_records(name, "may be a performance bottleneck")


# The raylet's notice when a trial's worker dies ("A worker died or was killed while executing a
# task by an unexpected system error. To troubleshoot ... Worker ID ..."): one 900-character line
# the study already says in its own words ("TRIAL failed: ActorDiedError ...; retrying").
WORKER_DEATH_NOTICE = "A worker died or was killed while executing a task"


def quiet_worker_death_notices() -> None:
    """Ray's driver prints every error the cluster publishes from a background thread
    (`ray._private.worker.listen_error_messages`, even with `log_to_driver=False`), on stdout,
    where it can land in the middle of a progress line. The worker-death notice is dropped; any
    other error is printed as Ray prints it."""
    import ray._private.worker as worker

    if getattr(worker.print_to_stdstream, "drops_worker_deaths", False):
        return
    print_as_ray_does = worker.print_to_stdstream

    def print_to_stdstream(data, ignore_prefix: bool) -> None:
        lines = [line for line in data.get("lines", []) if WORKER_DEATH_NOTICE not in line]
        if lines:
            print_as_ray_does({**data, "lines": lines}, ignore_prefix=ignore_prefix)

    print_to_stdstream.drops_worker_deaths = True
    worker.print_to_stdstream = print_to_stdstream


# What a trial's in-flight `train` call raises when the trial's thread ends without a last
# report (FunctionTrainable.step): a halted trial (tune.halt) ends so, after Tune stopped it.
HALTED_TRIAL_ERROR = "The TuneController should not have scheduled another `train` remote call"


def quiet_halted_trial_errors() -> None:
    """A trial the study's halt ends (tune.halt) leaves its worker's in-flight `train` call
    with an error no one reads: Tune has stopped the trial. Ray's driver logs every such unread
    error with its traceback when the call is forgotten (`ray._private.worker`, "Unhandled
    error"), one per running trial when a study's time budget ends. That one error is dropped;
    every other unread error is logged as Ray logs it.

    A trial the halt ends before its first report has no results file: Tune's result grid then
    warns "Failed to fetch metrics" for it (`ray.tune.analysis.experiment_analysis`). Our table
    shows the trial as cut-short with 0 epochs; the warning is dropped."""
    drop_records("ray._private.worker", "Unhandled error", HALTED_TRIAL_ERROR)
    drop_records("ray.tune.analysis.experiment_analysis", "Failed to fetch metrics for")


def drop_records(logger_name: str, *texts: str) -> None:
    """Drop the records of a logger whose message holds every one of `texts` (once per
    logger and texts, however often called)."""
    logger = logging.getLogger(logger_name)
    if not any(getattr(f, "texts", None) == texts for f in logger.filters):
        logger.addFilter(DropContaining(texts))


class DropContaining(logging.Filter):
    """Drops a record whose message holds all of `texts`, keeps every other record."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not all(text in message for text in self.texts)


def one_line_tune_errors() -> None:
    """Tune logs a failed save of the study's state (a full disk, a lost bucket) with the whole
    traceback, from a private module's logger; the user gets its message and the error's first
    line instead (the study's own last line says what to do). Trial errors' tracebacks are
    turned off where the Tuner is built (TUNE_PRINT_ALL_TRIAL_ERRORS): they are in error.txt.
    """
    logger = logging.getLogger("ray.tune.execution.experiment_state")
    if not any(isinstance(f, OneLineErrors) for f in logger.filters):
        logger.addFilter(OneLineErrors())


class OneLineErrors(logging.Filter):
    """A log record's exception reduced to `Type: first line` at the end of its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = (
                f"{record.getMessage().rstrip()} {type(error).__name__}: {first_line(error)}"
            )
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def save_state_this_step(tune_controller: Any) -> None:
    """Have Tune save the experiment state at the end of this step (see search.PromptStateSave).

    Schedulers get the controller inside a wrapper that warns on every private attribute; the
    flag is `_checkpoint_manager._should_force_sync_up`. Without it this does nothing.
    """
    controller = vars(tune_controller).get("_tune_controller", tune_controller)
    manager = vars(controller).get("_checkpoint_manager")
    if manager is not None and hasattr(manager, "_should_force_sync_up"):
        manager._should_force_sync_up = True


def record_at_later_rungs(scheduler: Any, trial_id: str, result: dict[str, Any]) -> None:
    """Count an ending trial's last result at every rung of its ASHA bracket past the result's
    iteration (`AsyncHyperBandScheduler._trial_info[trial_id]._rungs`, pairs of milestone and
    {trial_id: signed value}; `_metric_op` signs it for the mode, `_time_attr` and `_metric`
    name the iteration and the value). Call it before Tune's on_trial_complete, which forgets
    the trial's bracket. Without them it does nothing."""
    state = vars(scheduler)
    bracket = state.get("_trial_info", {}).get(trial_id)
    time_attr, metric, sign = (state.get(k) for k in ("_time_attr", "_metric", "_metric_op"))
    if bracket is None or sign is None or time_attr not in result or metric not in result:
        return
    for milestone, recorded in getattr(bracket, "_rungs", []):
        if milestone > result[time_attr] and trial_id not in recorded:
            recorded[trial_id] = sign * result[metric]


def grid_trials(grid: Any) -> list[Any]:
    """The Trial objects behind a ResultGrid: status, retries and checkpoints, which the public
    `Result`s lack (`ResultGrid._experiment_analysis.trials`)."""
    return list(grid._experiment_analysis.trials)


def move_experiment(experiment: Any, folder: Path) -> None:
    """Point a restored search generator's Experiment at the study's folder on this machine.

    Tune restores its trials into the folder it is given (`TuneController._restore_trials`
    copies each one's StorageContext with the new path), but the search generator's saved
    Experiment (`SearchGenerator._experiment`, whose `spec["storage"]` every new trial gets)
    keeps the old one: a resumed copy of a study created its new trials in the original. The
    same three fields are set here.
    """
    storage = experiment.spec.get("storage") if experiment is not None else None
    if storage is None:
        return
    moved = copy.copy(storage)
    moved.storage_fs_path = str(folder.parent)
    moved.experiment_dir_name = folder.name
    experiment.spec["storage"] = moved
    experiment.storage = moved


def restored_search_alg(tuner: Any) -> Any:
    """The search algorithm a restored Tuner unpickled from tuner.pkl
    (`Tuner._local_tuner._tune_config.search_alg`): `Tuner.restore` takes no TuneConfig."""
    local = getattr(tuner, "_local_tuner", None)
    config = getattr(local, "_tune_config", None)
    return getattr(config, "search_alg", None)


def validate_autoscaler_config(config: dict[str, Any]) -> dict[str, Any]:
    """Ray's own offline cluster-config check, the one `ray up` runs first
    (`ray.autoscaler._private.util.prepare_config` and `validate_config`): no public API."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(config)
    validate_config(prepared)
    return prepared


KV_NAMESPACE = "fertune"


def put_flag(key: str) -> None:
    """A flag in Ray's key-value store (the GCS): every node's workers see it within an RPC.
    `ray.experimental.internal_kv` is the store Ray itself keeps such values in; the public
    alternative, a named actor, would cost a process for one bit."""
    from ray.experimental.internal_kv import _internal_kv_initialized, _internal_kv_put

    if _internal_kv_initialized():
        _internal_kv_put(key, b"1", overwrite=True, namespace=KV_NAMESPACE)


def flag_is_set(key: str) -> bool:
    """Whether `put_flag(key)` ran on this Ray cluster (about a millisecond: one GCS RPC)."""
    from ray.experimental.internal_kv import _internal_kv_exists, _internal_kv_initialized

    return bool(_internal_kv_initialized() and _internal_kv_exists(key, namespace=KV_NAMESPACE))


def flags_under(prefix: str) -> int:
    """How many flags `put_flag` set whose key starts with `prefix` (one GCS RPC): a barrier's
    count of the workers that reached it."""
    from ray.experimental.internal_kv import _internal_kv_initialized, _internal_kv_list

    if not _internal_kv_initialized():
        return 0
    return len(_internal_kv_list(prefix, namespace=KV_NAMESPACE))
