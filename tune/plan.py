"""Fit a study to the machine or cluster: GPU or CPU budget, caps, and trials at once.

Pure: settings and a `Capacity` in, settings out, so every branch (the CPU budget above all,
the default on any machine without a GPU) is tested without Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import search_spaces
from core.errors import ConfigError

from .resources import Capacity
from .study import StudySettings, cpu_caps, describe_caps

# A CPU-only study has to finish on a laptop: this bounds it when the user sets no budget.
CPU_TIME_BUDGET_S = 960
MOST_AT_ONCE = 4  # TPE learns from finished trials: few at once


@dataclass(frozen=True)
class Request:
    """What the user asked for explicitly (None: let the plan choose)."""

    gpus_per_trial: float | None = None
    num_samples: int | None = None
    max_concurrent: int | None = None
    full_space: bool = False


def plan_study(
    settings: StudySettings, capacity: Capacity, request: Request
) -> tuple[StudySettings, str | None]:
    """The settings fitted to `capacity`, and a notice for the user when the CPU budget applies."""
    planned = replace(settings)
    if request.gpus_per_trial is None and capacity.gpus:
        planned.gpus_per_trial = 1.0
    _check_fits(planned, capacity)
    space = search_spaces.get(planned.space)
    notice = None
    if not capacity.gpus and not request.full_space and space.cpu_caps:
        planned.caps = cpu_caps(space)
        if not request.num_samples:
            planned.num_samples = space.cpu_caps.get("num_samples", planned.num_samples)
        if planned.time_budget_s is None:
            planned.time_budget_s = space.cpu_caps.get("time_budget_s", CPU_TIME_BUDGET_S)
        notice = (
            f"No GPU found: running the CPU budget of space '{planned.space}': "
            f"{describe_caps(planned.caps)}, {planned.num_samples} trials, "
            f"time budget {planned.time_budget_s:g} s. On a GPU machine the full space runs; "
            "pass --full-space to run it here anyway."
        )
    by_slot = int(capacity.cpus // planned.cpus_per_trial)
    if planned.gpus_per_trial:
        by_slot = min(by_slot, int(capacity.gpus / planned.gpus_per_trial))
    planned.max_concurrent = request.max_concurrent or max(1, min(MOST_AT_ONCE, by_slot))
    return planned, notice


def takes_measured_cores(planned: StudySettings, capacity: Capacity, request: Request) -> bool:
    """Whether the layout of the cores is the plan's to choose by measurement (tune.cores): a
    small machine (2 to MOST_AT_ONCE CPUs, so a trial per core stays within the trials TPE may
    run at once) without a GPU, a space with a CPU budget that runs under it, and no trials at
    once asked for (the caller also checks --cpus-per-trial and a cluster address)."""
    return (
        not capacity.gpus
        and 2 <= capacity.cpus <= MOST_AT_ONCE
        and bool(planned.caps)
        and request.max_concurrent is None
    )


def _check_fits(settings: StudySettings, capacity: Capacity) -> None:
    """One trial's request must fit one node of the cluster."""
    gpus = settings.gpus_per_trial
    if gpus > 0 and not capacity.gpus:
        raise ConfigError(f"--gpus-per-trial {gpus}: no node of this Ray cluster has a GPU")
    if gpus > capacity.largest_gpu_node and capacity.gpus:
        raise ConfigError(
            f"--gpus-per-trial {gpus}: no node has that many GPUs "
            f"(largest node: {capacity.largest_gpu_node:g})"
        )
    if settings.cpus_per_trial > capacity.cpus:
        raise ConfigError(
            f"--cpus-per-trial {settings.cpus_per_trial}: the cluster has {capacity.cpus:g} CPUs"
        )
