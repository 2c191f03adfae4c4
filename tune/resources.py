"""What one trial asks of Ray, and what the cluster can offer, including nodes not yet started."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError

from .cluster import BOOTSTRAP_CONFIG, autoscaling_node_types


def trial_resources(cpus: float, gpus: float) -> dict[str, float]:
    """The per-trial request given to `tune.with_resources`.

    Ray packs fractional GPUs (0.25 -> four trials share one GPU) but takes amounts above 1
    only whole; say so here rather than let Ray fail when the first trial is scheduled.
    """
    if cpus <= 0:
        raise ConfigError(f"--cpus-per-trial {cpus:g}: must be positive")
    if gpus < 0 or (gpus > 1 and not float(gpus).is_integer()):
        raise ConfigError(
            f"--gpus-per-trial {gpus:g}: use a fraction of one GPU (0.25, 0.5) or whole GPUs (1, 2)"
        )
    return {"cpu": float(cpus), "gpu": float(gpus)}


@dataclass(frozen=True)
class Capacity:
    """CPUs and GPUs the study may plan for; `largest_gpu_node` bounds one trial's GPUs."""

    cpus: float
    gpus: float
    largest_gpu_node: float


def capacity_of(
    nodes: Iterable[Mapping[str, Any]], node_types: Mapping[str, Mapping[str, Any]]
) -> Capacity:
    """Alive nodes, or what the autoscaler may add (max_workers x declared resources) when more.

    A fresh `ray up` cluster is a CPU head and no GPU worker yet: planning from live nodes only
    would run the CPU budget on a cluster made for GPUs.
    """
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive")]
    live_cpus = sum(res.get("CPU", 0) for res in alive)
    live_gpus = sum(res.get("GPU", 0) for res in alive)
    head = next((res for res in alive if "node:__internal_head__" in res), {})
    grown_cpus, grown_gpus = head.get("CPU", 0), head.get("GPU", 0)
    largest = max((res.get("GPU", 0) for res in alive), default=0)
    for spec in node_types.values():
        declared = spec.get("resources") or {}
        count = spec.get("max_workers", 0)
        grown_cpus += count * declared.get("CPU", 0)
        grown_gpus += count * declared.get("GPU", 0)
        largest = max(largest, declared.get("GPU", 0))
    return Capacity(max(live_cpus, grown_cpus), max(live_gpus, grown_gpus), largest)


def cluster_capacity(bootstrap: str | Path = BOOTSTRAP_CONFIG) -> Capacity:
    """The running cluster's capacity, with what its autoscaler may still add."""
    import ray

    return capacity_of(ray.nodes(), autoscaling_node_types(bootstrap))
