"""Every registered space, tested the day it is added (timm-style, over `search_spaces.names()`)."""

from __future__ import annotations

import dataclasses

import pytest

import search_spaces
from core.config import KNOWN_KEYS, train_config
from core.errors import ConfigError
from search_spaces import Choice, IntRange, SearchSpace, Uniform
from search_spaces.domains import STUDY_CAPS
from tune.plan import CPU_TIME_BUDGET_S, Request, plan_study
from tune.resources import Capacity
from tune.study import StudySettings, cpu_caps

NAMES = search_spaces.names()
CPU_ONLY = Capacity(cpus=2, gpus=0, largest_gpu_node=0)


@pytest.mark.parametrize("name", NAMES)
def test_start_point_lies_inside_the_domains(name: str):
    space = search_spaces.get(name)
    assert set(space.start) == set(space.params)
    for key, value in space.start.items():
        assert space.params[key].contains(value), (key, value)


@pytest.mark.parametrize("name", NAMES)
def test_every_key_is_one_training_reads(name: str):
    space = search_spaces.get(name)
    assert set(space.params) | set(space.fixed) <= KNOWN_KEYS
    assert set(space.cpu_caps) - set(STUDY_CAPS) <= KNOWN_KEYS
    train_config(space.first_config())  # the hand-tuned start is a valid training config


@pytest.mark.parametrize("name", NAMES)
def test_capped_space_is_still_valid(name: str):
    space = search_spaces.get(name)
    capped = space.capped(cpu_caps(space))
    capped.check()
    for key, cap in cpu_caps(space).items():
        if key in capped.params:
            domain = capped.params[key]
            top = max(domain.values) if isinstance(domain, Choice) else domain.high
            assert top <= max(cap, _lowest(space.params[key]))
        elif key in capped.fixed:
            assert capped.fixed[key] == cap
    train_config(capped.first_config())


@pytest.mark.parametrize("name", NAMES)
def test_grace_period_fits_within_max_epochs(name: str):
    space = search_spaces.get(name)
    assert 1 <= space.grace_period <= space.fixed["max_epochs"]
    capped = space.capped(cpu_caps(space))
    assert capped.fixed["min_epochs"] <= capped.fixed["max_epochs"]


@pytest.mark.parametrize("name", NAMES)
def test_one_trial_plan_on_a_machine_without_gpu(name: str):
    space = search_spaces.get(name)
    settings = StudySettings(space=name, name="t", storage="/tmp/x", num_samples=1)
    planned, notice = plan_study(settings, CPU_ONLY, Request(num_samples=1))
    assert planned.num_samples == 1 and planned.gpus_per_trial == 0
    assert planned.max_concurrent == 2
    if space.cpu_caps:
        budget = space.cpu_caps.get("time_budget_s", CPU_TIME_BUDGET_S)
        assert planned.caps == cpu_caps(space) and planned.time_budget_s == budget
        assert notice is not None and "No GPU found" in notice
    planned.resolved_space().check()
    assert settings.caps == {}  # the plan returns new settings; the input is untouched


def test_a_misspelt_key_is_an_error_naming_it_and_the_known_keys():
    large = search_spaces.get("large_sample")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) zooom; known keys: .*zoom"):
        dataclasses.replace(large, params={**large.params, "zooom": Uniform(0.0, 0.3)})
    with pytest.raises(ConfigError, match="unknown key"):
        dataclasses.replace(large, fixed={**large.fixed, "batchsize": 16})
    with pytest.raises(ConfigError, match="unknown key"):
        train_config({"zooom": 0.1})


def test_a_start_outside_its_domain_is_an_error():
    with pytest.raises(ConfigError, match="start sample_size=1000 is outside"):
        SearchSpace(
            name="bad",
            summary="",
            params={"sample_size": IntRange(250, 600, step=50)},
            fixed={},
            start={"sample_size": 1000},
        )


def test_unknown_space_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known spaces: base, large_sample"):
        search_spaces.get("huge")


def _lowest(domain) -> float:
    return min(domain.values) if isinstance(domain, Choice) else domain.low


@pytest.mark.parametrize("name", NAMES)
def test_every_start_point_is_a_valid_config_inside_the_capped_domains(name: str):
    space = search_spaces.get(name)
    capped = space.capped(cpu_caps(space))
    points = capped.start_points()
    assert points[0] == dict(capped.start)  # the report's config first: the hand-tuned yardstick
    assert len(points) == 1 + len(space.start_variants)
    for point in points:
        assert set(point) == set(capped.params)
        assert all(capped.params[key].contains(value) for key, value in point.items())
        train_config(capped.config(point))


def test_a_start_variant_changes_only_its_keys_and_a_bad_one_is_refused():
    space = search_spaces.get("large_sample")
    start, pretrained = space.start_points()
    changed = {key for key in start if start[key] != pretrained[key]}
    assert changed == {"backbone", "input_size", "au_weighting"}
    assert space.config(pretrained)["backbone_weights"] == "fer2013"
    assert (
        space.config(start).get("backbone_weights") is None
    )  # the report's MobileNet, from scratch
    for bad in ({"au_weighting": "double"}, {"learning_rate": 1e-2}):
        with pytest.raises(ConfigError, match="start variant"):
            dataclasses.replace(space, start_variants=(bad,))


@pytest.mark.parametrize("name", NAMES)
def test_every_choice_of_a_linked_key_gives_a_valid_config(name: str):
    space = search_spaces.get(name)
    capped = space.capped(cpu_caps(space))
    for key, by_value in capped.linked.items():
        for value in capped.params[key].values:
            config = train_config(capped.config({**capped.start, key: value}))
            for linked_key, linked_value in by_value.get(value, {}).items():
                part = config.model if hasattr(config.model, linked_key) else config
                assert getattr(part, linked_key) == linked_value


def test_linked_values_follow_their_choice_and_a_pinned_choice_fixes_them():
    space = search_spaces.get("large_sample")
    assert space.config({"backbone": "mini_xception"})["backbone_weights"] == "fer2013"
    assert space.config({"backbone": "mobilenet"}).get("backbone_weights") is None
    pinned = space.with_fixed({"backbone": "mini_xception"})
    assert "backbone" not in pinned.params and not pinned.linked
    assert pinned.fixed["backbone"] == "mini_xception"
    assert pinned.fixed["backbone_weights"] == "fer2013"
    assert "backbone" not in pinned.start
    assert all("backbone" not in variant for variant in pinned.start_variants)
    # An override reaches a linked value as it reaches a fixed one.
    local = space.with_fixed({"backbone_weights": "/weights.hdf5"})
    assert local.config({"backbone": "mini_xception"})["backbone_weights"] == "/weights.hdf5"


@pytest.mark.parametrize(
    ("linked", "message"),
    [
        ({"zoom": {0.1: {"backbone_weights": "fer2013"}}}, "not a searched choice"),
        ({"backbone": {"resnet": {"backbone_weights": "fer2013"}}}, "outside"),
        ({"backbone": {"mini_xception": {"weights": "fer2013"}}}, "unknown key"),
        ({"backbone": {"mini_xception": {"zoom": 0.1}}}, "also searched"),
    ],
)
def test_a_bad_link_is_refused_when_the_space_is_made(linked, message):
    space = search_spaces.get("large_sample")
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(space, linked=linked)
