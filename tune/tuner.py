"""A study's Ray side: start (or join) Ray, build the Tuner, run it, stop cleanly on Ctrl-C."""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.cli import EXIT_INTERRUPTED
from core.data.dataset import TrainingData
from core.errors import ConfigError, StorageError

from .halt import halt_study
from .ray_compat import one_line_tune_errors, restored_search_alg
from .storage import local_folder, storage_is_full
from .study import StudySettings, trial_name

NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"


def start_ray(address: str | None, dashboard: bool) -> bool:
    """A local Ray bound to 127.0.0.1 with no dashboard unless asked; or join a cluster.

    Returns whether this call started Ray (and so should shut it down); a Ray already
    running in this process (a notebook, the tests) is used as it is.
    """
    import ray

    from .ray_compat import (
        loopback_only,
        quiet_halted_trial_errors,
        quiet_slow_operation_notices,
        quiet_token_notice,
        quiet_worker_death_notices,
    )
    from .trainable import DRIVER_PID_ENV, WORKER_ENV

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ[DRIVER_PID_ENV] = str(os.getpid())
    for key, value in WORKER_ENV.items():  # a local Ray's workers inherit the driver's
        os.environ.setdefault(key, value)
    quiet_token_notice()
    quiet_slow_operation_notices()
    quiet_worker_death_notices()
    quiet_halted_trial_errors()
    if address:
        # A cluster's workers are started by its nodes (cluster.yaml names the preload there)
        # and get WORKER_ENV through the job's runtime environment.
        ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": WORKER_ENV})
        return True
    # No preload here (cluster.yaml's nodes have one, tune/worker_preload.py): a local Ray's
    # idle workers would still be importing TensorFlow when the first trials ask for workers
    # (about 3 s after ray.init), so Ray started two more that imported it too, four imports on
    # two cores. Without it the first report came at 25.3 s after the launch instead of 34.8 s
    # (bench/study_start.py, medians of 2).
    with loopback_only():
        ray.init(
            address="local",  # never attach to another Ray that happens to run on this machine
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=True,
            logging_level="warning",
        )
    return True


def stop_ray() -> None:
    """Shut down the Ray `start_ray` started, and remove its trial workers' temporary folders
    once they have ended (TensorFlow leaves files in them)."""
    import ray

    from core.files import await_stale_temporaries, scratch_name

    from .trainable import worker_scratch_job

    ray.shutdown()
    own = scratch_name(worker_scratch_job(str(os.getpid())))
    await_stale_temporaries(Path(tempfile.gettempdir()), own, wait_s=10)


def build_tuner(settings: StudySettings, data: TrainingData, restore: bool):
    """The Tuner of a new study, or the saved one of a study to resume."""
    from ray import tune

    # Read by Tune in this process when it fits, however Ray was started (ours, a notebook's, a
    # test's). Tune's newer console output prints a configuration box and a TensorBoard command
    # into /tmp/ray even at verbose=0; the legacy engine at verbosity 0 prints nothing: our
    # progress lines (tune.progress) and the right TensorBoard command take their place.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # A trial's error goes to its error.txt, which the progress line names: no traceback here.
    os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
    one_line_tune_errors()

    from .halt import arm
    from .progress import TrialLines
    from .resources import trial_resources
    from .search import (
        METRIC,
        MODE,
        BackedUpSearch,
        backed_up_search,
        make_scheduler,
        make_searcher,
    )
    from .stopper import TargetStopper
    from .trainable import run_trial
    from .trial_logs import ProgressCsvOnce, ResultJsonOnce

    space = settings.resolved_space()
    study_folder = local_folder(settings.experiment_path)
    trainable = tune.with_resources(
        tune.with_parameters(
            run_trial,
            data=data,
            latency="latency" in settings.objectives,
            study=str(study_folder or ""),
            halt=arm(),
        ),
        trial_resources(settings.cpus_per_trial, settings.gpus_per_trial),
    )
    if restore:
        tuner = tune.Tuner.restore(
            settings.experiment_path,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
        )
        search = restored_search_alg(tuner)
        if isinstance(search, BackedUpSearch):  # the study may have moved since it was saved
            search.study = study_folder
        return tuner
    run_config = tune.RunConfig(
        name=settings.name,
        storage_path=settings.storage,
        stop=TargetStopper(settings.stop_on_target, settings.search_budget_s()),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE
        ),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        callbacks=[
            TrialLines(list(space.params), study_clock(settings, space)),
            ProgressCsvOnce(),
            ResultJsonOnce(),
        ],
        verbose=0,
    )
    tune_config = tune.TuneConfig(
        search_alg=backed_up_search(
            make_searcher(
                space,
                settings.seed,
                settings.search,
                study_folder,
                settings.name,
                settings.objectives,
                start=not settings.no_hand_tuned_start,
            ),
            settings.max_concurrent,
            study_folder,
        ),
        scheduler=make_scheduler(space, settings.scheduler),
        num_samples=settings.num_samples,  # the time budget: TargetStopper's
        # A finished trial's worker runs the next one: no new process, no TensorFlow import,
        # and the compiled model of a shape it has trained before (core.model.warm).
        reuse_actors=settings.reuse_workers,
        trial_name_creator=trial_name,
        trial_dirname_creator=trial_name,
    )
    return tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)


def study_clock(settings: StudySettings, space):
    """The progress lines' clock: trials, epochs per trial, trials at once, the time budget."""
    from .progress import StudyClock

    return StudyClock(
        total_trials=settings.num_samples,
        max_epochs=int(space.fixed.get("max_epochs", 1)),
        at_once=max(1, settings.max_concurrent),
        time_budget_s=settings.search_budget_s(),
    )


class Interruption:
    """Ctrl-C asks Tune to save its state and stop (through Tune's own SIGUSR1 handler)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.forward = True  # to Tune, while it runs; afterwards the event alone stops the work

    def __enter__(self) -> Interruption:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nstopping: saving the study's state (Ctrl-C again to abort)", file=sys.stderr)
        if self.forward:
            # The trials report nothing after the state Tune is about to save (tune.halt); a
            # thread: an RPC from inside a signal handler could meet Ray mid-call.
            threading.Thread(target=halt_study, daemon=True).start()
            signal.raise_signal(signal.SIGUSR1)


def run_study(
    settings: StudySettings,
    data: TrainingData,
    resume: bool,
    started: float,
    optuna_dashboard: bool = False,
) -> int:
    """Fit the Tuner, write the results and the report; 130 when interrupted (state saved)."""
    print(
        f"study {settings.name}: space {settings.space}, {settings.num_samples} trials, "
        f"{settings.max_concurrent} at once, {settings.cpus_per_trial:g} CPU + "
        f"{settings.gpus_per_trial:g} GPU each; results in {settings.experiment_path}",
        flush=True,
    )
    tensorboard = f"tensorboard --logdir {settings.experiment_path} --host 127.0.0.1"
    print(f"TensorBoard while it runs: {tensorboard}", flush=True)
    tuner = build_tuner(settings, data, restore=resume)
    if not resume:
        settings.save_to_storage()
    dashboard = open_dashboard(settings) if optuna_dashboard else None
    with Interruption() as interruption:
        search_started = time.monotonic()
        try:
            grid = tuner.fit()
        except Exception:  # Tune fails in many ways on a full disk (EOFError, OSError, ...)
            if storage_is_full(settings.storage):
                raise storage_full(settings) from None
            raise
        finally:
            interruption.forward = False
            if dashboard is not None:
                dashboard.stop()
        if grid.errors and (
            any(NO_SPACE in str(error) for error in grid.errors)
            or storage_is_full(settings.storage)
        ):
            raise storage_full(settings)
        confirmation = None
        if settings.confirm and not interruption.event.is_set():
            from .confirm import confirm_study

            confirmation = confirm_study(
                settings, grid, data, search_started, resume, interruption.event.is_set
            )
    from .results import finish_study

    run_dir = finish_study(settings, grid, data, time.perf_counter() - started, confirmation)
    if run_dir is not None and settings.report:
        from .report.page import report_after_study

        report_after_study(run_dir, data)
    if interruption.event.is_set():
        print(
            f"interrupted; state saved. Resume with: {resume_command(settings)} (it loads Ray "
            "Tune's saved state, which is code to Python: resume only folders you trust)",
            flush=True,
        )
        return EXIT_INTERRUPTED
    return 0


def open_dashboard(settings: StudySettings):
    """optuna-dashboard on the study's journal, its address said before the first trial."""
    from .optuna_dashboard import start_dashboard
    from .optuna_storage import journal_path

    journal = journal_path(local_folder(settings.experiment_path))
    if not journal.is_file():
        raise ConfigError(f"--optuna-dashboard: {journal} does not exist (a study from before it)")
    dashboard = start_dashboard(journal)
    print(
        f"Optuna dashboard while it runs: {dashboard.url} (afterwards: optuna-dashboard {journal})",
        flush=True,
    )
    return dashboard


def resume_command(settings: StudySettings) -> str:
    """The command that continues this study."""
    default = str(Path("runs").resolve())
    storage = "" if settings.storage == default else f" --storage {settings.storage}"
    return f"python -m tune.run --resume --name {settings.name}{storage}"


def storage_full(settings: StudySettings) -> StorageError:
    """Trials that failed for want of disk space: the state is kept, so say how to go on."""
    return StorageError(
        f"--storage {settings.storage}: no space left on device; the study's state is kept: "
        f"free some space, then run: {resume_command(settings)}"
    )
