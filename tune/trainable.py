"""The one Ray Tune trainable: trains a config with core.train, reports each epoch, checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from core.config import TrainConfig, combined_score, train_config
from core.data.dataset import TrainingData
from core.deploy.cost import parameter_count
from core.files import scratch_folder, use_process_scratch
from core.model.best_weights import write_best_weights
from core.training.callbacks import ScoreBook
from core.training.loop import ResumePoint

from .gpu import configure_gpu
from .halt import HaltWatch

CHECKPOINT_MODEL = "model.keras"
# The best epoch's weights when it came after the model file's (core.model.best_weights).
CHECKPOINT_WEIGHTS = "best.weights.npz"
CHECKPOINT_HISTORY = "history.json"
CHECKPOINT_STATE = "state.json"
# Fault-injection hook for tests and operators: when set, every start of a trial also writes
# `<FERTUNE_PID_DIR>/<trial_id>.<pid>.pid`, on the trial's own node, at once (the trial folder's
# `pid` file reaches the storage only at the next sync).
PID_DIR_ENV = "FERTUNE_PID_DIR"
# With FERTUNE_PID_DIR: a trial's first start waits after reporting this epoch (so Tune has its
# checkpoint) until `<FERTUNE_PID_DIR>/<trial_id>.<pid>.held` is removed: a kill at a known point.
HOLD_EPOCH_ENV = "FERTUNE_HOLD_AT_EPOCH"
HOLD_LIMIT_S = 600.0
THREAD_TIMEOUT_ENV = "TUNE_FUNCTION_THREAD_TIMEOUT_S"
# The pid of the driver that started a local Ray, set for its workers: each worker's temporary
# folder is named after it (worker_scratch_job), so the driver removes them when Ray ends.
DRIVER_PID_ENV = "FERTUNE_DRIVER_PID"
# The environment of every trial worker: tune.tuner sets it for a Ray it starts (the workers
# inherit it) and passes it to a cluster's workers through the job's runtime environment.
WORKER_ENV = {
    # A reused worker runs each trial in a new thread; glibc's default of up to 8 malloc arenas a
    # core, each fragmented by TensorFlow, grew a worker's RSS by about 12 MB a trial (30 tiny
    # trials); with 2 arenas it stays flat.
    "MALLOC_ARENA_MAX": "2",
    # Before a worker takes the next trial, Tune waits this long for the last one's thread to end
    # (default 2 s). A trial that ASHA stops mid-epoch ends at its next report, up to an epoch
    # later (10-30 s on 2 busy cores); past the wait the next trial errors with "Trainable runner
    # reuse requires reset_config() to be implemented and return True" (seen in a default study).
    THREAD_TIMEOUT_ENV: "600",
}


def run_trial(
    config: dict[str, Any],
    data: TrainingData,
    latency: bool = False,
    study: str | None = None,
    halt: str | None = None,
) -> None:
    """Train one trial. `data` arrives through the object store: shared, never re-read.
    `halt`: the study's halt key (tune.halt), watched before every batch.
    `latency`: measure the network's CPU latency per image (core.deploy.cost) and report it, for a
    study with that objective (about 6 s: once per architecture, kept in the `study` folder when
    the worker can reach it)."""
    # Read by this worker when it is reused for the next trial: set here too, so it holds however
    # Ray was started (a notebook's or a test's ray.init, which tune.tuner does not make).
    os.environ.setdefault(THREAD_TIMEOUT_ENV, WORKER_ENV[THREAD_TIMEOUT_ENV])
    use_process_scratch(worker_scratch_job(os.environ.get(DRIVER_PID_ENV, "any")))
    context = tune.get_context()
    trial_dir = Path(context.get_trial_dir())
    trial_dir.mkdir(parents=True, exist_ok=True)
    write_pid(trial_dir, context.get_trial_id())
    # The trial's one check of its config: everything below takes the checked one.
    checked = train_config({**config, "threads": _cpu_share(context)})
    configure_gpu(checked)

    from core.training.loop import train

    cost = {}
    if latency:
        from core.deploy.cost import latency_ms

        shared = Path(study) if study and Path(study).is_dir() else None
        n_aus = int(data.prepared.aus.shape[1])
        cost["latency_ms"] = latency_ms(checked.model, n_aus, cache=shared)
    with scratch_folder("trial") as scratch:  # its best model and checkpoints in the making
        resume = _resume_point(tune.get_checkpoint(), scratch)
        earlier = resume.history if resume else {}
        # TensorBoard first: an epoch's event files are on disk before its report syncs them.
        # Its HParams are the trial's values as Tune gave them (results.csv's columns).
        callbacks = [
            make_stop_check(HaltWatch(halt)),
            *make_tensorboard_callbacks(config, trial_dir / "tb"),
            make_reporter(
                checked,
                scratch,
                node_id=_node_id(),
                history=earlier,
                hold_at=_hold_epoch() if resume is None else None,
                cost=cost,
            ),
        ]
        try:
            # Warm: a reused worker (reuse_actors) trains this trial on the compiled model of an
            # earlier trial of the same architecture, reset, instead of tracing a new one.
            train(
                checked,
                data,
                callbacks,
                resume=resume,
                verbose=False,
                warm=True,
            )
        finally:
            close_writers(callbacks)


def worker_scratch_job(driver_pid: str) -> str:
    """The job name of a trial worker's temporary folder (core.files.use_process_scratch): it
    names the driver that started the worker's Ray, which removes them when Ray ends."""
    return f"worker-{driver_pid}"


def close_writers(callbacks: list[Any]) -> None:
    """Close the trial's summary writers, also when a stop ended it mid-fit.

    Tune stops a pruned trial by raising SystemExit in its report, so Keras never calls
    `on_train_end`; on a reused worker every such trial would leave its writers open.
    """
    for callback in callbacks:
        close = getattr(callback, "close", None)
        if close is not None:
            close()


def write_pid(trial_dir: Path, trial_id: str) -> None:
    """The trial's worker pid in its folder, and in $FERTUNE_PID_DIR when set (one file a start)."""
    pid = str(os.getpid())
    (trial_dir / "pid").write_text(pid)
    folder = os.environ.get(PID_DIR_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{trial_id}.{pid}.pid").write_text(pid)


def _hold_epoch() -> int | None:
    """HOLD_EPOCH_ENV's epoch, when it and PID_DIR_ENV (where the marker goes) are both set."""
    at = os.environ.get(HOLD_EPOCH_ENV)
    return int(at) if at and os.environ.get(PID_DIR_ENV) else None


def hold_after(epoch: int) -> None:
    """The fault-injection pause of HOLD_EPOCH_ENV, until the test removes the marker."""
    marker = (
        Path(os.environ[PID_DIR_ENV]) / f"{tune.get_context().get_trial_id()}.{os.getpid()}.held"
    )
    marker.write_text(str(epoch))
    deadline = time.monotonic() + HOLD_LIMIT_S
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _cpu_share(context) -> int:
    try:
        cpus = context.get_trial_resources().required_resources.get("CPU", 1)
    except Exception:  # a context without a placement group: use the process default
        cpus = 1
    return max(1, int(cpus))


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _resume_point(checkpoint: tune.Checkpoint | None, scratch: Path) -> ResumePoint | None:
    """A retried trial continues from its best epoch's model, optimizer state and history."""
    if checkpoint is None:
        return None
    local = scratch / "resume"
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, local, dirs_exist_ok=True)
    history = json.loads((local / CHECKPOINT_HISTORY).read_text())
    weights = local / CHECKPOINT_WEIGHTS
    return ResumePoint(
        model_file=local / CHECKPOINT_MODEL,
        history=history,
        weights_file=weights if weights.is_file() else None,
    )


def make_reporter(
    config: TrainConfig,
    scratch: Path,
    node_id: str,
    history: dict[str, list[float]] | None = None,
    hold_at: int | None = None,
    cost: dict[str, float] | None = None,
):
    """A Keras callback: one `tune.report` per epoch, each with a checkpoint of the best model so
    far (keep_best writes it when the score improves).

    `scratch`: the trial's private folder (core.files.scratch_folder) for the best model and
    each checkpoint before Tune copies it. `history` is a resumed trial's past epochs, so the
    reported score stays best-so-far; `hold_at` pauses this start after that epoch's report
    (HOLD_EPOCH_ENV; a retried trial never waits).
    Each report also carries what the objectives of a multi-objective study read (tune.objectives):
    the validation scores of the best epoch (the model the trial keeps), its parameter count, and
    the measured costs in `cost`.
    """
    import keras

    class TuneReporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.history = {key: list(values) for key, values in (history or {}).items()}
            self.book = ScoreBook(dict(config.targets))
            self.book.replay(self.history)
            # The best epoch's model so far is kept in `scratch` (keep_best) and every epoch's
            # checkpoint carries it with the whole history, so a resumed trial goes on after its
            # last reported epoch (never repeats one) from the best model, and the latest
            # checkpoint is always the best model (tune.results exports it).

        def on_train_begin(self, logs=None) -> None:
            if self.history:  # resumed: the model loaded from the checkpoint is the best so far
                self.model.save(scratch / CHECKPOINT_MODEL)

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            for key, value in logs.items():
                self.history.setdefault(key, []).append(value)
            score, improved, met = self.book.record(epoch + 1, logs)
            metrics = {
                **logs,
                "epoch": epoch + 1,
                "score_epoch": score,
                "score": self.book.best_score,
                "best_epoch": self.book.best_epoch,
                "targets_met": met,
                **self.at_best_epoch(),
                "model_params": parameter_count(self.model),
                **(cost or {}),
                "stopped_by": _stop_reason(met, self.model.stop_training, epoch, config),
                "node_id": node_id,
                "reported_at": time.time(),  # Tune's `timestamp` has whole seconds only
            }
            if improved:
                keep_best(self.model, scratch)
            self.report_with_checkpoint(metrics, epoch, score)
            if epoch + 1 == hold_at:
                hold_after(hold_at)

        def at_best_epoch(self) -> dict[str, float]:
            best = self.book.best_epoch - 1
            return {
                f"best_{key}": self.history[key][best]
                for key in ("val_emotion_accuracy", "val_au_f1_macro")
                if len(self.history.get(key, [])) > best
            }

        def report_with_checkpoint(self, metrics: dict[str, Any], epoch: int, score: float):
            with tempfile.TemporaryDirectory(dir=scratch) as folder:
                state = {"epoch": epoch + 1, "score": score}
                fill_checkpoint(Path(folder), scratch, self.history, state)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    return TuneReporter()


def keep_best(model: Any, scratch: Path) -> None:
    """An improving epoch's model in the trial's `scratch`: the model file at the first best,
    each later best's weights beside it (core.model.best_weights)."""
    if (scratch / CHECKPOINT_MODEL).is_file():
        write_best_weights(model, scratch / CHECKPOINT_WEIGHTS)
    else:
        model.save(scratch / CHECKPOINT_MODEL)


def fill_checkpoint(
    folder: Path, scratch: Path, history: dict[str, list[float]], state: dict[str, Any]
) -> None:
    """An epoch's checkpoint: the best model kept in `scratch`, the history and the state."""
    shutil.copyfile(scratch / CHECKPOINT_MODEL, folder / CHECKPOINT_MODEL)
    if (scratch / CHECKPOINT_WEIGHTS).is_file():
        shutil.copyfile(scratch / CHECKPOINT_WEIGHTS, folder / CHECKPOINT_WEIGHTS)
    (folder / CHECKPOINT_HISTORY).write_text(json.dumps(history))
    (folder / CHECKPOINT_STATE).write_text(json.dumps(state))


def make_stop_check(watch: HaltWatch):
    """A Keras callback, first in the list, that ends the trial's thread before the next batch
    or before the epoch's scalars and report once its study halts (tune.halt): a halted trial
    writes nothing more."""
    import keras

    class StopCheck(keras.callbacks.Callback):
        def check(self) -> None:
            if watch.should_end():
                watch.end()

        # Batch begin, not end: a batch-end hook turns off Keras' asynchronous batch callbacks.
        def on_train_batch_begin(self, batch: int, logs=None) -> None:
            self.check()

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            self.check()

    return StopCheck()


def _stop_reason(met: bool, stop_training: bool, epoch: int, config: TrainConfig) -> str:
    if met:
        return "targets"
    if stop_training:
        return "patience"
    if epoch + 1 >= config.max_epochs:
        return "max_epochs"
    return "running"


def make_tensorboard_callbacks(config: dict[str, Any], log_dir: Path) -> list[Any]:
    """Keras' per-epoch scalars for both heads (train and validation) plus HParams entries."""
    import keras

    class FlushingTensorBoard(keras.callbacks.TensorBoard):
        def on_epoch_end(self, epoch: int, logs=None) -> None:
            super().on_epoch_end(epoch, logs)
            for writer in (self._train_writer, self._val_writer):
                writer.flush()

        def close(self) -> None:
            self._close_writers()

    board = FlushingTensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)
    return [board, make_hparams_callback(config, log_dir / "hparams")]


def hparam_values(config: dict[str, Any]) -> dict[str, Any]:
    """The plain scalar settings of a config, as TensorBoard's HParams plugin accepts them."""
    return {
        key: value
        for key, value in config.items()
        if isinstance(value, bool | int | float | str) and not key.startswith("gpu")
    }


def make_hparams_callback(config: dict[str, Any], log_dir: Path):
    """A Keras callback writing the trial's HParams entry and per-epoch score for TensorBoard."""
    import keras
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    class HParamsWriter(keras.callbacks.Callback):
        def on_train_begin(self, logs=None) -> None:
            self.writer = tf.summary.create_file_writer(str(log_dir))
            with self.writer.as_default():
                hp.hparams(hparam_values(config), trial_id=log_dir.parent.parent.name)

        def on_epoch_end(self, epoch: int, logs=None) -> None:
            logs = logs or {}
            with self.writer.as_default():
                tf.summary.scalar("score", combined_score(logs), step=epoch + 1)
                for key in ("val_emotion_accuracy", "val_au_binary_accuracy", "val_au_f1_macro"):
                    if key in logs:
                        tf.summary.scalar(key, float(logs[key]), step=epoch + 1)
            self.writer.flush()

        def on_train_end(self, logs=None) -> None:
            self.close()

        def close(self) -> None:
            if getattr(self, "writer", None) is not None:
                self.writer.close()

    return HParamsWriter()
