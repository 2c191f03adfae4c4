"""The pure plan step (settings -> resources, caps, concurrency) and the progress clock, without
Ray."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import ConfigError
from tune.plan import CPU_TIME_BUDGET_S, Request, plan_study
from tune.resources import Capacity
from tune.study import StudySettings

CPU_ONLY = Capacity(cpus=2, gpus=0, largest_gpu_node=0)


class TestPlan:
    settings = StudySettings(space="large_sample", name="t", storage="/tmp/x", num_samples=32)

    def test_cpu_budget_caps_the_space_and_keeps_what_the_user_set(self):
        mine = dataclasses.replace(self.settings, time_budget_s=100.0)
        planned, _ = plan_study(mine, CPU_ONLY, Request(num_samples=5))
        assert planned.caps["input_size"] == 96 and planned.caps["alpha"] == 0.25
        assert "time_budget_s" not in planned.caps  # a bound of the study, not of a config
        assert planned.time_budget_s == 100.0
        assert planned.num_samples == 32  # the user's --num-samples was already in settings

    def test_cpu_budget_sets_the_spaces_trial_count_when_none_was_asked(self):
        planned, _ = plan_study(self.settings, CPU_ONLY, Request())
        assert planned.num_samples == 8 and planned.time_budget_s == 420  # the space's own

    def test_a_space_without_its_own_time_budget_gets_the_default_one(self):
        base = dataclasses.replace(self.settings, space="base")
        planned, _ = plan_study(base, CPU_ONLY, Request())
        assert planned.time_budget_s == CPU_TIME_BUDGET_S

    def test_full_space_runs_without_caps(self):
        planned, notice = plan_study(self.settings, CPU_ONLY, Request(full_space=True))
        assert planned.caps == {} and notice is None and planned.time_budget_s is None

    def test_a_gpu_cluster_gives_each_trial_one_gpu_and_no_caps(self):
        gpus = Capacity(cpus=16, gpus=4, largest_gpu_node=1)
        planned, notice = plan_study(self.settings, gpus, Request())
        assert planned.gpus_per_trial == 1.0 and planned.caps == {} and notice is None
        assert planned.max_concurrent == 4

    @pytest.mark.parametrize(
        ("gpus", "cpus", "capacity", "message"),
        [
            (1.0, 1.0, CPU_ONLY, "no node of this Ray cluster has a GPU"),
            (2.0, 1.0, Capacity(8, 4, 1), "no node has that many GPUs"),
            (0.0, 4.0, CPU_ONLY, "the cluster has 2 CPUs"),
        ],
    )
    def test_a_trial_that_fits_no_node_is_refused(self, gpus, cpus, capacity, message):
        asked = dataclasses.replace(self.settings, gpus_per_trial=gpus, cpus_per_trial=cpus)
        with pytest.raises(ConfigError, match=message):
            plan_study(asked, capacity, Request(gpus_per_trial=gpus))


def test_study_clock_estimates_what_is_left_within_the_budget():
    from tune.progress import StudyClock

    clock = StudyClock(total_trials=8, max_epochs=10, at_once=2, time_budget_s=None, started=0.0)
    assert clock.seconds_left() is None and clock.status().startswith("0/8 done")
    for _ in range(4):
        clock.record_epoch(5.0, 0.4)
    clock.record_epoch(5.0, 0.6)
    # 6 unstarted trials x 10 epochs + 12 running epochs left, 5 s each, 2 at once
    assert clock.seconds_left(12) == pytest.approx((6 * 10 + 12) * 5.0 / 2)
    assert "best 0.600" in clock.status(12) and "~3 min left" in clock.status(12)
    budgeted = StudyClock(8, 10, 2, time_budget_s=60.0)
    budgeted.record_epoch(5.0, 0.1)
    assert budgeted.seconds_left(12) <= 60.0
