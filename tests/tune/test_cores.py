"""tune.cores: one trial on all cores or one per core, chosen by what this machine measured."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import search_spaces
from tune import cores
from tune.plan import Request, plan_study, takes_measured_cores
from tune.resources import Capacity
from tune.study import StudySettings

CPU_ONLY = Capacity(cpus=2, gpus=0, largest_gpu_node=0)


@pytest.mark.parametrize(
    ("per_core", "all_cores", "layout"),
    [
        (150.0, 100.0, (1, 2)),  # per core trains more: a trial per core
        (105.0, 100.0, (2, 1)),  # within the tie: one trial on all cores, results sooner
        (80.0, 100.0, (2, 1)),
    ],
)
def test_the_layout_follows_the_measured_rates(per_core, all_cores, layout):
    assert cores.choose(2, per_core, all_cores) == layout


def test_only_a_cpu_budget_on_one_small_gpu_less_machine_is_measured():
    settings = StudySettings(space="large_sample", name="t", storage="/tmp/x")
    planned, _ = plan_study(settings, CPU_ONLY, Request())
    assert takes_measured_cores(planned, CPU_ONLY, Request())
    assert not takes_measured_cores(planned, CPU_ONLY, Request(max_concurrent=2))
    assert not takes_measured_cores(planned, dataclasses.replace(CPU_ONLY, cpus=1), Request())
    big = dataclasses.replace(CPU_ONLY, cpus=16)  # a trial per core: more at once than TPE may
    assert not takes_measured_cores(plan_study(settings, big, Request())[0], big, Request())
    gpu = Capacity(cpus=8, gpus=1, largest_gpu_node=1)
    assert not takes_measured_cores(plan_study(settings, gpu, Request())[0], gpu, Request())
    full, _ = plan_study(settings, CPU_ONLY, Request(full_space=True))
    assert not takes_measured_cores(full, CPU_ONLY, Request(full_space=True))


def test_a_damaged_cache_counts_as_no_measurement(tmp_path: Path):
    cache = tmp_path / "cores.json"
    good = {"per_core_rate": 10.0, "all_cores_rate": 8.0, "measured_at": "2026-12-03"}
    cache.write_text(
        json.dumps(
            {
                "a": good,
                "b": {**good, "per_core_rate": -1},
                "c": {**good, "all_cores_rate": True},
                "d": "junk",
            }
        )
    )
    assert cores.read_kept(cache) == {"a": good}
    cache.write_text("{not json")
    assert cores.read_kept(cache) == {}
    assert cores.read_kept(tmp_path / "absent.json") == {}


@pytest.mark.slow
def test_measured_once_then_read_back(local_ray, tiny_data, isolated_cache: Path, monkeypatch):
    space = search_spaces.get("tiny")
    configs = [space.config(point) for point in space.start_points()]
    first = cores.cores_choice(configs, tiny_data, 2, window_s=1.0)  # a tiny model settles soon
    assert first.fresh and first.per_core_rate > 0 and first.all_cores_rate > 0
    assert (first.cpus_per_trial, first.at_once) == cores.choose(
        2, first.per_core_rate, first.all_cores_rate
    )
    kept = json.loads((isolated_cache / cores.CACHE_FILE).read_text())
    assert list(kept) == [f"{cores.machine_name()} | 2 cores | mobilenet 32 px"]
    # Read back: nothing measured again, the same layout and rates.
    monkeypatch.setattr(cores, "measure", lambda *a, **k: pytest.fail("measured again"))
    again = cores.cores_choice(configs, tiny_data, 2)
    assert not again.fresh
    assert (again.per_core_rate, again.all_cores_rate) == (
        first.per_core_rate,
        first.all_cores_rate,
    )
    assert again.describe().startswith("cores: ")
    assert "measured 20" in again.describe() and "measured now" in first.describe()
