"""`python -m tune.run --space NAME`: a Ray Tune + Optuna study over a named search space."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import search_spaces
from core.cli import (
    Parser,
    exits_cleanly,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from core.errors import ConfigError, StorageError
from core.labels import parse_au_list
from core.train import add_target_option, check_targets, parse_targets

from .study import (
    CPU_TIME_BUDGET_S,
    SCHEDULERS,
    SEARCH_METHODS,
    STUDY_FILE,
    StudySettings,
    check_local_storage,
    cpu_caps,
    describe_caps,
    join_storage,
    storage_is_full,
    trial_name,
)

EXIT_INTERRUPTED = 130
NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray stays on 127.0.0.1


def build_parser() -> Parser:
    spaces = "; ".join(
        f"{name}: {search_spaces.get(name).summary}" for name in search_spaces.names()
    )
    parser = Parser(
        prog="python -m tune.run",
        description="Tune the dual-head facial-expression CNN with Ray Tune and Optuna. "
        f"Spaces: {spaces}.",
    )
    add = parser.add_argument
    add("--space", default="large_sample", help=f"one of: {', '.join(search_spaces.names())}")
    add("--data", help="CK+ folder or CSV manifest (default: the built-in synthetic set)")
    add("--num-samples", type=positive_int, help="trials to run (default: the space's)")
    add("--max-concurrent", type=positive_int, help="trials at once (default: fits the CPUs, <= 4)")
    add("--cpus-per-trial", type=positive_float, default=1.0)
    add("--gpus-per-trial", type=non_negative_float, default=None, help="0.25, 0.5, 1 ...")
    add("--gpu-memory-mb", type=positive_int, help="cap each GPU trial's memory")
    add("--mixed-precision", action="store_true", help="float16 training on GPU")
    add("--address", help="join a running Ray cluster (e.g. auto); default: start Ray locally")
    add("--storage", default="runs", help="results folder or URI (s3://...); default ./runs")
    add("--shared-storage", action="store_true", help="--storage is a folder every node mounts")
    add("--name", help="study name (default: SPACE-YYYYmmdd-HHMMSS)")
    add("--resume", action="store_true", help="continue the study --name")
    add("--time-budget", type=positive_float, metavar="SECONDS", help="stop the study after this")
    add("--seed", type=int, default=0)
    add_target_option(parser)
    add("--stop-on-target", action="store_true", help="end the study at the first success")
    add("--smoke-test", action="store_true", help="the tiny space, 4 trials: about a minute")
    add("--full-space", action="store_true", help="no CPU budget even when no GPU is visible")
    add("--backbone-weights", help="local MobileNet weights file (the transfer space)")
    add("--aus", type=parse_au_list, help="AU list, e.g. 1,2,4 (default: the 15 CK+ AUs)")
    add("--max-failures", type=non_negative_int, default=2, help="retries of a crashed trial")
    add("--search", choices=SEARCH_METHODS, default="tpe", help="tpe (default) or random")
    add("--scheduler", choices=SCHEDULERS, default="asha", help="asha (default) or none")
    add("--no-report", action="store_true", help="skip the automatic HTML report at the end")
    add("--dashboard", action="store_true", help="start Ray's dashboard (bound to 127.0.0.1)")
    add(
        "--allow-outside-root",
        action="store_true",
        help="accept CSV image paths outside the manifest's folder",
    )
    return parser


def settings_from_args(args) -> StudySettings:
    space_name = "tiny" if args.smoke_test else args.space
    space = search_spaces.get(space_name)
    targets = parse_targets(args.target) if args.target else {}
    check_targets(targets)
    if space_name == "transfer" and not args.backbone_weights:
        raise ConfigError(
            "space 'transfer' needs --backbone-weights PATH (a local MobileNet weights file)"
        )
    if args.backbone_weights and args.backbone_weights != "imagenet":
        if not Path(args.backbone_weights).expanduser().is_file():
            raise ConfigError(f"--backbone-weights {args.backbone_weights}: file does not exist")
        args.backbone_weights = str(Path(args.backbone_weights).expanduser().resolve())
    name = args.name or f"{space_name}-{datetime.now():%Y%m%d-%H%M%S}"
    storage = args.storage if "://" in args.storage else str(Path(args.storage).resolve())
    return StudySettings(
        space=space_name,
        name=name,
        storage=storage,
        data=str(Path(args.data).expanduser().resolve()) if args.data else None,
        seed=args.seed,
        num_samples=args.num_samples or (4 if args.smoke_test else space.num_samples),
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial or 0.0,
        gpu_memory_mb=args.gpu_memory_mb,
        mixed_precision=args.mixed_precision,
        time_budget_s=args.time_budget,
        targets=targets,
        stop_on_target=args.stop_on_target,
        backbone_weights=args.backbone_weights,
        aus=list(args.aus) if args.aus else None,
        max_failures=args.max_failures,
        allow_outside_root=args.allow_outside_root,
        search=args.search,
        scheduler=args.scheduler,
        report=not args.no_report,
    )


def start_ray(address: str | None, dashboard: bool) -> bool:
    """A local Ray bound to 127.0.0.1 with no dashboard unless asked; or join a cluster.

    Returns whether this call started Ray (and so should shut it down); a Ray already
    running in this process (a notebook, the tests) is used as it is.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray announces its default (token auth on) on stderr; a user's error should stay one line.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    if address:
        ray.init(address=address, log_to_driver=False)
        return True
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


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Ray on Linux turns `_node_ip_address="127.0.0.1"` into the machine's reachable address
    and listens on every interface; only its single-machine mode (the one it uses on macOS and
    Windows) keeps the GCS, raylet and workers on 127.0.0.1. Its switch is an environment
    variable read at import, so the imported constant is set too, and both put back after."""
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


def plan_resources(settings: StudySettings, args) -> None:
    """Fit the study to the cluster: GPU or CPU budget, and how many trials run at once."""
    from .resources import cluster_capacity

    capacity = cluster_capacity()  # live nodes, or what the autoscaler may add
    cpus, gpus = capacity.cpus, capacity.gpus
    if args.gpus_per_trial is None and gpus:
        settings.gpus_per_trial = 1.0
    if settings.gpus_per_trial > 0 and not gpus:
        raise ConfigError(
            f"--gpus-per-trial {settings.gpus_per_trial}: no node of this Ray cluster has a GPU"
        )
    if settings.gpus_per_trial > capacity.largest_gpu_node and gpus:
        raise ConfigError(
            f"--gpus-per-trial {settings.gpus_per_trial}: no node has that many GPUs "
            f"(largest node: {capacity.largest_gpu_node:g})"
        )
    if settings.cpus_per_trial > cpus:
        raise ConfigError(
            f"--cpus-per-trial {settings.cpus_per_trial}: the cluster has {cpus:g} CPUs"
        )
    space = search_spaces.get(settings.space)
    if not gpus and not args.full_space and space.cpu_caps:
        settings.caps = cpu_caps(space)
        if not args.num_samples:
            settings.num_samples = space.cpu_caps.get("num_samples", settings.num_samples)
        if settings.time_budget_s is None:
            settings.time_budget_s = CPU_TIME_BUDGET_S
        print(
            f"No GPU found: running the CPU budget of space '{settings.space}': "
            f"{describe_caps(settings.caps)}, {settings.num_samples} trials, "
            f"time budget {settings.time_budget_s:g} s. On a GPU machine the full space runs; "
            "pass --full-space to run it here anyway.",
            flush=True,
        )
    by_slot = int(cpus // settings.cpus_per_trial)
    if settings.gpus_per_trial:
        by_slot = min(by_slot, int(gpus / settings.gpus_per_trial))
    settings.max_concurrent = args.max_concurrent or max(1, min(4, by_slot))


def build_tuner(settings: StudySettings, data, restore: bool):
    from ray import tune

    from .progress import TrialLines
    from .resources import trial_resources
    from .search import METRIC, MODE, make_scheduler, make_searcher
    from .stopper import TargetStopper
    from .trainable import run_trial

    space = settings.resolved_space()
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data),
        trial_resources(settings.cpus_per_trial, settings.gpus_per_trial),
    )
    if restore:
        return tune.Tuner.restore(
            settings.experiment_path,
            trainable=trainable,
            resume_unfinished=True,
            resume_errored=True,
        )
    run_config = tune.RunConfig(
        name=settings.name,
        storage_path=settings.storage,
        stop=TargetStopper(stop_study_on_success=settings.stop_on_target),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=MODE
        ),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        callbacks=[TrialLines(list(space.params))],
        verbose=0,
    )
    tune_config = tune.TuneConfig(
        search_alg=make_searcher(space, settings.seed, settings.search),
        scheduler=make_scheduler(space, settings.scheduler),
        num_samples=settings.num_samples,
        max_concurrent_trials=settings.max_concurrent,
        time_budget_s=settings.time_budget_s,
        reuse_actors=False,
        trial_name_creator=trial_name,
        trial_dirname_creator=trial_name,
    )
    return tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)


class Interruption:
    """Ctrl-C asks Tune to save its state and stop (through Tune's own SIGUSR1 handler)."""

    def __init__(self) -> None:
        self.event = threading.Event()

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
        signal.raise_signal(signal.SIGUSR1)


def resume_command(settings: StudySettings) -> str:
    storage = (
        "" if settings.storage == str(Path("runs").resolve()) else f" --storage {settings.storage}"
    )
    return f"python -m tune.run --resume --name {settings.name}{storage}"


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume:
        if not args.name:
            raise ConfigError("--resume needs --name NAME of the study to continue")
        storage = args.storage if "://" in args.storage else str(Path(args.storage).resolve())
        folder = join_storage(storage, args.name)
        if "://" not in folder and not Path(folder).is_dir():
            raise ConfigError(f"--resume --name {args.name}: no study at {folder}")
        settings = StudySettings.load(folder)  # a folder or a URI
        settings.storage = storage
    else:
        settings = settings_from_args(args)
        if "://" not in settings.storage and Path(settings.experiment_path).exists():
            raise ConfigError(
                f"--name {settings.name}: {settings.experiment_path} exists; pick another name "
                "or add --resume to continue it"
            )
    check_local_storage(settings.storage)
    started = time.perf_counter()
    from core.dataset import load_training_data
    from core.labels import DEFAULT_AUS

    data = load_training_data(
        settings.data,
        seed=settings.seed,
        aus=tuple(settings.aus or DEFAULT_AUS),
        allow_outside_root=settings.allow_outside_root,
    )
    print(
        f"data: {len(data.prepared)} images, split train/val/test "
        f"{len(data.split.train)}/{len(data.split.val)}/{len(data.split.test)} by subject",
        flush=True,
    )
    started_ray = start_ray(args.address, args.dashboard)
    try:
        if args.address:
            from .cluster import require_shared_storage

            require_shared_storage(settings.storage, shared=args.shared_storage)
        return run_study(settings, data, args, started)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def run_study(settings: StudySettings, data, args, started: float) -> int:
    if not args.resume:
        plan_resources(settings, args)
        settings.resolved_space()  # fail on a bad override before anything is written
    print(
        f"study {settings.name}: space {settings.space}, {settings.num_samples} trials, "
        f"{settings.max_concurrent} at once, {settings.cpus_per_trial:g} CPU + "
        f"{settings.gpus_per_trial:g} GPU each; results in {settings.experiment_path}",
        flush=True,
    )
    tuner = build_tuner(settings, data, restore=args.resume)
    if not args.resume:
        write_settings(settings)
    with Interruption() as interruption:
        try:
            grid = tuner.fit()
        except Exception:  # Tune fails in many ways on a full disk (EOFError, OSError, ...)
            if storage_is_full(settings.storage):
                raise storage_full(settings) from None
            raise
    if grid.errors and (
        any(NO_SPACE in str(error) for error in grid.errors) or storage_is_full(settings.storage)
    ):
        raise storage_full(settings)
    from .results import finish_study

    run_dir = finish_study(settings, grid, data, wall_seconds=time.perf_counter() - started)
    if run_dir is not None and settings.report:
        from .report import report_after_study

        report_after_study(run_dir, data)
    if interruption.event.is_set():
        print(f"interrupted; state saved. Resume with: {resume_command(settings)}", flush=True)
        return EXIT_INTERRUPTED
    return 0


def storage_full(settings: StudySettings) -> StorageError:
    """Trials that failed for want of disk space: the state is kept, so say how to go on."""
    return StorageError(
        f"--storage {settings.storage}: no space left on device; the study's state is kept: "
        f"free some space, then run: {resume_command(settings)}"
    )


def write_settings(settings: StudySettings) -> None:
    """study.json in the experiment folder, local or remote, before the first trial starts."""
    if "://" not in settings.storage:
        settings.save(Path(settings.experiment_path))
        return
    import tempfile

    import pyarrow.fs

    with tempfile.TemporaryDirectory() as folder:
        settings.save(Path(folder))
        filesystem, path = pyarrow.fs.FileSystem.from_uri(settings.experiment_path)
        filesystem.create_dir(path, recursive=True)
        pyarrow.fs.copy_files(
            str(Path(folder) / STUDY_FILE),
            f"{path}/{STUDY_FILE}",
            destination_filesystem=filesystem,
        )


if __name__ == "__main__":
    raise SystemExit(main())
