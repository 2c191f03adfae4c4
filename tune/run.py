"""`python -m tune.run --space NAME`: a Ray Tune + Optuna study over a named search space.

The command line only: options -> `StudySettings`, then `plan` fits them to the cluster and
`tuner` runs the study.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import search_spaces
from core.cli import (
    Parser,
    add_data_option,
    add_detector_option,
    add_target_option,
    backbone_weights,
    exits_cleanly,
    float_in,
    folder_path,
    int_in,
    non_negative_float,
    seed,
)
from core.config import ALPHAS, targets_from_options, train_config
from core.errors import ConfigError
from core.folder_lock import folder_lock
from core.labels import parse_au_list

from .objectives import OBJECTIVES, parse_objectives
from .resume import load_study_to_resume, refuse_changes_on_resume
from .storage import check_local_storage, is_remote, local_folder, resolve_storage
from .study import SCHEDULERS, SEARCH_METHODS, StudySettings

if TYPE_CHECKING:
    from core.data.dataset import TrainingData

# Options whose value goes into StudySettings as it is (dest = field name).
SETTINGS_OPTIONS = (
    "seed",
    "gpu_memory_mb",
    "mixed_precision",
    "stop_on_target",
    "max_failures",
    "allow_outside_root",
    "search",
    "scheduler",
    "reuse_workers",
    "detector",
    "no_hand_tuned_start",
    "confirm_share",
)


STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


MAX_TRIALS = 100_000  # trials (and trials at once) a study may ask for: beyond is a typo
MAX_BUDGET_S = 30 * 24 * 3600.0  # a month
MAX_FINALISTS = 20  # finalists, and fresh splits each: (K + 1) x R trainings
DEFAULT_FINALISTS = DEFAULT_REPEATS = 2


def study_name(text: str) -> str:
    """A plain folder name: the study is written to STORAGE/NAME and nowhere else."""
    if not STUDY_NAME.fullmatch(text) or ".." in text:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a study name is a plain name (letters, digits, '.', '_', '-'; no '/' or "
            "'..'), up to 100 characters"
        )
    return text


def storage_option(text: str) -> str:
    """--storage: a folder or a URI (kept as written), never an empty path."""
    folder_path(text)
    return text


def build_parser() -> Parser:
    """The options of `python -m tune.run`."""
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
    add_data_option(parser)
    add_detector_option(parser)
    add("--num-samples", type=int_in(1, MAX_TRIALS), help="trials to run (default: the space's)")
    add(
        "--max-concurrent",
        type=int_in(1, MAX_TRIALS),
        help="trials at once (default: fits the CPUs, <= 4)",
    )
    add(
        "--cpus-per-trial",
        type=float_in(0, 1024),
        help="default 1, or on a CPU-only machine whatever trains more (tune.cores measures it)",
    )
    add("--gpus-per-trial", type=non_negative_float, default=None, help="0.25, 0.5, 1 ...")
    add("--gpu-memory-mb", type=int_in(1, 1 << 20), help="cap each GPU trial's memory")
    add("--mixed-precision", action="store_true", help="float16 training on GPU")
    add("--address", help="join a running Ray cluster (e.g. auto); default: start Ray locally")
    add(
        "--storage",
        type=storage_option,
        default="runs",
        help="results folder or URI (s3://...); default ./runs",
    )
    add("--shared-storage", action="store_true", help="--storage is a folder every node mounts")
    add("--name", type=study_name, help="study name (default: SPACE-YYYYmmdd-HHMMSS)")
    add("--resume", action="store_true", help="continue the study --name")
    add(
        "--time-budget",
        type=float_in(0, MAX_BUDGET_S),
        metavar="SECONDS",
        help="stop the study after this",
    )
    add("--seed", type=seed, default=0)
    add_target_option(parser)
    add("--stop-on-target", action="store_true", help="end the study at the first success")
    add("--smoke-test", action="store_true", help="the tiny space, 4 trials: about a minute")
    add("--full-space", action="store_true", help="no CPU budget even when no GPU is visible")
    add(
        "--backbone",
        choices=tuple(ALPHAS),
        help="train this backbone only (default: the space's; large_sample searches MobileNet "
        "from scratch and the FER2013 mini-Xception)",
    )
    add(
        "--backbone-weights",
        help="fer2013 (mini_xception; fetched on first use), imagenet, none, or a local weights "
        "file (a MobileNet file for the transfer space needs --backbone mobilenet)",
    )
    add("--aus", type=parse_au_list, help="AU list, e.g. 1,2,4 (default: the 15 CK+ AUs)")
    add("--max-failures", type=int_in(0, 100), default=2, help="retries of a crashed trial")
    add(
        "--objectives",
        type=parse_objectives,
        metavar="A,B[,C]",
        help=f"several objectives, a Pareto front ({', '.join(OBJECTIVES)}; at most one cost)",
    )
    add("--search", choices=SEARCH_METHODS, default="tpe", help="tpe (default) or random")
    add(
        "--no-hand-tuned-start",
        action="store_true",
        help="let TPE choose every trial: do not try the space's hand-tuned config (and its "
        "variants) first",
    )
    add(
        "--finalists",
        type=int_in(1, MAX_FINALISTS),
        default=DEFAULT_FINALISTS,
        help=f"the top trials confirmed after the search, with the hand-tuned start (default "
        f"{DEFAULT_FINALISTS})",
    )
    add(
        "--confirm",
        type=int_in(0, MAX_FINALISTS),
        metavar="R",
        help=f"fresh splits each finalist is trained on again; the best mean is the study's best "
        f"(default {DEFAULT_REPEATS}, 0 with --smoke-test to keep it a minute; 0: the best "
        "single-split score names the best)",
    )
    add(
        "--confirm-share",
        type=float_in(0, 0.9),
        default=0.3,
        metavar="FRACTION",
        help="of the time budget kept from the search for the confirmation (default 0.3)",
    )
    add("--scheduler", choices=SCHEDULERS, default="asha", help="asha (default) or none")
    add("--no-report", action="store_true", help="skip the automatic HTML report at the end")
    add(
        "--fresh-workers",
        dest="reuse_workers",
        action="store_false",
        help="a new worker process for every trial, instead of keeping trial workers and their "
        "compiled models between trials (~1 s instead of ~12 s to a trial's first step)",
    )
    # The opt-in of before reuse became the default: scripts that still pass it keep working.
    add(
        "--reuse-workers",
        dest="reuse_workers",
        action="store_true",
        default=True,
        help=argparse.SUPPRESS,
    )
    add("--dashboard", action="store_true", help="start Ray's dashboard (bound to 127.0.0.1)")
    add(
        "--optuna-dashboard",
        action="store_true",
        help="start optuna-dashboard on the study's Optuna journal (127.0.0.1; the dashboard "
        "extra)",
    )
    add(
        "--allow-outside-root",
        action="store_true",
        help="accept CSV image paths outside the manifest's folder",
    )
    return parser


def settings_from_args(args) -> StudySettings:
    """A new study's settings from the options (before `plan` fits them to the cluster)."""
    space_name = "tiny" if args.smoke_test else args.space
    space = search_spaces.get(space_name)
    # "none" is kept as it is: None in the settings means "the space's own weights".
    weights = "none" if args.backbone_weights == "none" else backbone_weights(args.backbone_weights)
    if space_name == "transfer" and weights == "none":
        raise ConfigError("space 'transfer' transfers pretrained weights: --backbone-weights none")
    settings = StudySettings(
        space=space_name,
        name=args.name or f"{space_name}-{datetime.now():%Y%m%d-%H%M%S}",
        storage=resolve_storage(args.storage),
        data=str(Path(args.data).expanduser().resolve()) if args.data else None,
        num_samples=args.num_samples or (4 if args.smoke_test else space.num_samples),
        gpus_per_trial=args.gpus_per_trial or 0.0,
        time_budget_s=args.time_budget,
        targets=targets_from_options(args.targets, args.target)
        if args.targets or args.target
        else {},  # the space's own (the default preset)
        backbone=args.backbone,
        backbone_weights=weights,
        aus=list(args.aus) if args.aus else None,
        report=not args.no_report,
        objectives=args.objectives or [],
        finalists=args.finalists,
        confirm=(0 if args.smoke_test else DEFAULT_REPEATS)
        if args.confirm is None
        else args.confirm,
        cpus_per_trial=args.cpus_per_trial or 1.0,
        **{key: getattr(args, key) for key in SETTINGS_OPTIONS},
    )
    train_config(settings.resolved_space().first_config())  # a mismatch is one line, now
    return settings


def plan_resources(settings: StudySettings, args, data: TrainingData | None) -> StudySettings:
    """`plan.plan_study` against the live cluster, with the user's requests; on this machine
    alone, without a GPU and with no layout asked for, the cores as tune.cores measured them."""
    from .plan import Request, plan_study, takes_measured_cores
    from .resources import cluster_capacity

    capacity = cluster_capacity()  # live nodes, or what the autoscaler may add
    request = Request(
        gpus_per_trial=args.gpus_per_trial,
        num_samples=args.num_samples,
        max_concurrent=args.max_concurrent,
        full_space=args.full_space,
    )
    planned, notice = plan_study(settings, capacity, request)
    if notice:
        print(notice, flush=True)
    if (
        not args.address
        and args.cpus_per_trial is None
        and takes_measured_cores(planned, capacity, request)
    ):
        from .cores import cores_choice, start_configs

        choice = cores_choice(start_configs(planned), data, int(capacity.cpus))
        print(choice.describe(), flush=True)
        planned.cpus_per_trial = float(choice.cpus_per_trial)
        planned.max_concurrent = choice.at_once
    return planned


def require_local_journal(settings: StudySettings) -> None:
    """--optuna-dashboard reads the journal a study keeps in a local folder."""
    from .optuna_dashboard import require_dashboard

    require_dashboard()
    if is_remote(settings.storage):
        raise ConfigError(
            f"--optuna-dashboard: --storage {settings.storage} is an object store, where the "
            "study keeps no Optuna journal (a local or shared folder does)"
        )


def refuse_taken_name(settings: StudySettings) -> None:
    """A new study whose folder exists: refused, naming the process that runs that study when
    one does (its lock), else saying the folder exists."""
    with folder_lock(Path(settings.experiment_path), f"--name {settings.name}:"):
        raise ConfigError(
            f"--name {settings.name}: {settings.experiment_path} exists; pick another name "
            "or add --resume to continue it"
        )


def claim_new_study(settings: StudySettings, held: contextlib.ExitStack) -> None:
    """Make a new local study's folder and hold its lock: of two runs given one new name at
    once, the second is refused here (both passed the first check that the folder is absent)."""
    folder = local_folder(settings.experiment_path)
    if folder is None:
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        refuse_taken_name(settings)
    held.enter_context(folder_lock(folder, f"--name {settings.name}:"))


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Run (or resume) a study; a user's mistake is one line and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as held:  # the study folder's lock, for the study's life
        return run_command(args, parser, held)


def run_command(args, parser: Parser, held: contextlib.ExitStack) -> int:
    """The study of `main`, holding its folder's lock in `held`."""
    if args.resume:
        refuse_changes_on_resume(args, parser)
        settings = load_study_to_resume(args, held)
    else:
        settings = settings_from_args(args)
        if settings.objectives and settings.scheduler == "asha":
            settings.scheduler = "none"
            print(
                "note: ASHA prunes on one metric; with several objectives every trial runs to "
                "its end (as with --scheduler none)",
                flush=True,
            )
        if not is_remote(settings.storage) and Path(settings.experiment_path).exists():
            refuse_taken_name(settings)
    check_local_storage(settings.storage)
    if args.optuna_dashboard:
        require_local_journal(settings)
    started = time.perf_counter()
    from core.model.pretrained import fetch_weights, named

    for name in settings.named_weights():  # trials never fetch: the driver does, once
        fetch_weights(named(name))
    from core.data.dataset import data_summary

    data = settings.load_data()
    print(data_summary(data), flush=True)
    from core.evaluation.yardstick import validation_floors

    settings.floors = validation_floors(data)
    from .tuner import run_study, start_ray, stop_ray

    started_ray = start_ray(args.address, args.dashboard)
    try:
        if args.address:
            from .cluster import require_shared_storage

            require_shared_storage(settings.storage, shared=args.shared_storage)
        if not args.resume:
            settings = plan_resources(settings, args, data)
            settings.resolved_space()  # fail on a bad override before anything is written
        from core.evaluation.yardstick import announce_floors

        # After every check of the user's options: a mistake stays one line.
        announce_floors(settings.effective_targets(), settings.floors)
        if not args.resume:
            claim_new_study(settings, held)
        return run_study(settings, data, args.resume, started, args.optuna_dashboard)
    finally:
        if started_ray:
            stop_ray()


if __name__ == "__main__":
    raise SystemExit(main())
