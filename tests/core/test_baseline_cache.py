"""core.evaluation.baseline_cache: the baselines' outputs computed once per data set, split and
seed, read back only when they are what a computation would give."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from core.data.dataset import TrainingData
from core.data.split import split_by_subject
from core.evaluation import baseline_cache, yardstick
from core.evaluation.outputs import TestOutputs


def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the baselines are fitted."""
    fitted: list[int] = []
    fit = yardstick.baseline_outputs
    monkeypatch.setattr(
        yardstick, "baseline_outputs", lambda *a, **k: fitted.append(1) or fit(*a, **k)
    )
    return fitted


def assert_same(kept: dict[str, TestOutputs], fresh: dict[str, TestOutputs]) -> None:
    assert list(kept) == list(fresh)
    for name in fresh:
        for field in dataclasses.fields(TestOutputs):
            np.testing.assert_array_equal(
                getattr(kept[name], field.name), getattr(fresh[name], field.name)
            )


def cache_files(cache: Path) -> list[Path]:
    return sorted((cache / baseline_cache.FOLDER).glob("*.npz"))


def test_a_second_study_on_the_same_data_reads_the_baselines_back(
    tiny_data: TrainingData, isolated_cache: Path, monkeypatch
):
    fitted = counted(monkeypatch)
    fresh = yardstick.baseline_outputs_on(tiny_data, seed=0)
    kept = yardstick.baseline_outputs_on(tiny_data, seed=0)
    assert len(fitted) == 1 and len(cache_files(isolated_cache)) == 1
    assert_same(kept, fresh)
    reports = yardstick.baselines_on(tiny_data, seed=0)  # the reports, intervals and all
    assert set(reports) == {"linear", "majority", "all_present"}
    assert len(fitted) == 1


def test_another_seed_split_or_label_computes_afresh(
    tiny_data: TrainingData, isolated_cache: Path, monkeypatch
):
    fitted = counted(monkeypatch)
    yardstick.baseline_outputs_on(tiny_data, seed=0)
    yardstick.baseline_outputs_on(tiny_data, seed=1)
    prepared = tiny_data.prepared
    other_split = split_by_subject(prepared.emotions, prepared.subjects, seed=5)
    yardstick.baseline_outputs_on(TrainingData(prepared, other_split), seed=0)
    aus = prepared.aus.copy()
    aus[0, 3] = 1 - aus[0, 3]
    relabelled = dataclasses.replace(prepared, aus=aus)
    yardstick.baseline_outputs_on(TrainingData(relabelled, tiny_data.split), seed=0)
    assert len(fitted) == 4 and len(cache_files(isolated_cache)) == 4


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path: path.write_bytes(path.read_bytes()[:100]),  # cut short
        lambda path: path.write_bytes(b"not a zip"),
        lambda path: np.savez(path, **{"linear/emotion_true": np.zeros(3)}),  # fields missing
    ],
    ids=["truncated", "garbage", "incomplete"],
)
def test_a_spoilt_cache_file_is_computed_again_and_replaced(
    tiny_data: TrainingData, isolated_cache: Path, monkeypatch, spoil
):
    fresh = yardstick.baseline_outputs_on(tiny_data, seed=0)
    (path,) = cache_files(isolated_cache)
    spoil(path)
    fitted = counted(monkeypatch)
    again = yardstick.baseline_outputs_on(tiny_data, seed=0)
    assert len(fitted) == 1
    assert_same(again, fresh)
    assert_same(baseline_cache.read_outputs(path, tiny_data), fresh)  # replaced whole


def test_outputs_of_other_test_images_are_not_taken(tiny_data: TrainingData, isolated_cache: Path):
    yardstick.baseline_outputs_on(tiny_data, seed=0)
    (path,) = cache_files(isolated_cache)
    prepared = tiny_data.prepared
    other = split_by_subject(prepared.emotions, prepared.subjects, seed=5)
    assert baseline_cache.read_outputs(path, TrainingData(prepared, other)) is None


def test_a_cache_folder_that_cannot_be_written_costs_only_the_computation(
    tiny_data: TrainingData, tmp_path: Path, monkeypatch
):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("FERTUNE_CACHE", str(blocked))
    fitted = counted(monkeypatch)
    first = yardstick.baseline_outputs_on(tiny_data, seed=0)
    assert_same(yardstick.baseline_outputs_on(tiny_data, seed=0), first)
    assert len(fitted) == 2 and blocked.read_text().startswith("a file")
