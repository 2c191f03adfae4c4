"""The linear probe: frozen FER2013 mini-Xception features, fitted like the linear baseline,
beside every headline; left out, in one line, where the weights were never fetched."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.data.dataset import TrainingData
from core.data.split import split_by_subject
from core.evaluation import probe
from core.evaluation.yardstick import (
    BASELINE_LABELS,
    LINEAR_PROBE,
    add_baselines,
    baselines_on,
    format_beside_baselines,
)
from core.images.preprocess import PreparedData
from core.model.mini_xception import mini_xception
from core.model.pretrained import FER2013, cached_path, fetch_weights, sha256_of
from tests.core.test_baselines import easy_set
from tests.core.test_mini_xception import distinct_weights, save_fer_file

PROBE_LABEL = BASELINE_LABELS[LINEAR_PROBE]
NOT_FETCHED = "linear probe: not run (fer2013 weights not fetched: python -m core.pretrained)"
REAL_WEIGHTS = Path.home() / ".cache" / "fertune" / "weights" / FER2013.file_name


def random_backbone(seed: int = 0):
    """A 64 px backbone whose every weight is distinct, so that a load is visible."""
    backbone = mini_xception(probe.INPUT_SIZE)
    distinct_weights(backbone, seed)
    return backbone


def install_fake_weights(backbone, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`backbone`'s weights where the cache keeps FER2013's, the probe's spec given their hash
    (the cache folder must be a test's own: `isolated_cache`)."""
    path = cached_path(FER2013)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_fer_file(backbone, path)
    spec = dataclasses.replace(FER2013, file_sha256=sha256_of(path.read_bytes()))
    monkeypatch.setattr(probe, "WEIGHTS", spec)
    return path


@pytest.fixture
def fake_backbone():
    return random_backbone()


@pytest.fixture
def fake_weights(fake_backbone, isolated_cache: Path, monkeypatch) -> Path:
    return install_fake_weights(fake_backbone, monkeypatch)


def tiny_data(side: int = 32) -> TrainingData:
    images, emotions, aus, subjects = easy_set(n_subjects=20, per_subject=4, side=side)
    n = len(images)
    prepared = PreparedData(
        images=images,
        emotions=emotions,
        aus=aus.astype("float32"),
        subjects=subjects,
        face_found=np.ones(n, bool),
        paths=[f"{i}.png" for i in range(n)],
        au_list=(1, 2, 4),
    )
    return TrainingData(prepared, split_by_subject(emotions, subjects, seed=0))


def test_features_are_the_frozen_blocks_3_and_4_mean_and_max_pooled(fake_backbone, fake_weights):
    images = np.random.default_rng(1).integers(0, 256, (5, 80, 80), dtype=np.uint8)
    features = probe.frozen_features(images, fake_weights)
    assert features.shape == (5, 384) and features.dtype == np.float32
    # The same computation by hand: INTER_AREA to 64 px, [-1, 1], blocks 3 and 4 in inference.
    import cv2

    x = np.stack([cv2.resize(i, (64, 64), interpolation=cv2.INTER_AREA) for i in images])
    maps = fake_backbone(x[..., None].astype("float32") / 127.5 - 1.0, training=False)
    expected = np.concatenate(
        [f(np.asarray(maps[b]), axis=(1, 2)) for b in (2, 3) for f in (np.mean, np.max)], axis=1
    )
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4)


def count_computations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time the backbone runs (the memo starts empty)."""
    computed: list[int] = []
    compute = probe._compute
    monkeypatch.setattr(probe, "_last", None)
    monkeypatch.setattr(probe, "_compute", lambda *a: computed.append(1) or compute(*a))
    return computed


def test_features_of_one_image_set_are_computed_once(fake_weights, monkeypatch):
    computed = count_computations(monkeypatch)
    images = np.zeros((3, 48, 48), np.uint8)
    first = probe.frozen_features(images, fake_weights)
    assert probe.frozen_features(images, fake_weights) is first
    probe.frozen_features(images.copy(), fake_weights)  # equal values, another image set
    assert len(computed) == 2


def test_the_table_shows_the_probe_beside_the_linear_baseline(fake_weights):
    report = add_baselines({"emotion": {"accuracy": 0.9}, "au_tuned_on_val": {}}, tiny_data())
    assert set(report["baselines"]) == {"majority", "all_present", "linear", LINEAR_PROBE}
    assert "baselines_not_run" not in report
    probe_report, linear = report["baselines"][LINEAR_PROBE], report["baselines"]["linear"]
    for part in ("emotion", "au_at_0.5", "au_tuned_on_val"):
        assert set(probe_report[part]) == set(linear[part])
        assert probe_report[part]["n"] == linear[part]["n"]
    lines = format_beside_baselines(report).splitlines()
    linear_row = [line.startswith(BASELINE_LABELS["linear"]) for line in lines].index(True)
    assert lines[linear_row + 1].startswith(PROBE_LABEL)
    low, high = probe_report["intervals"]["emotion_accuracy"]
    accuracy = f"{probe_report['emotion']['accuracy']:.3f} [{low:.2f}, {high:.2f}]"
    assert accuracy in lines[linear_row + 1]
    assert not any("not run" in line for line in lines)


def test_missing_weights_leave_the_probe_out_with_one_line(isolated_cache: Path):
    report = add_baselines({"emotion": {}, "au_tuned_on_val": {}}, tiny_data())
    assert set(report["baselines"]) == {"majority", "all_present", "linear"}
    lines = format_beside_baselines(report).splitlines()
    assert lines[-1] == NOT_FETCHED
    assert not any(line.startswith(PROBE_LABEL) for line in lines)
    assert not cached_path(FER2013).exists()  # nothing fetched


def test_a_weights_file_with_the_wrong_hash_is_not_read(isolated_cache: Path):
    cached_path(FER2013).parent.mkdir(parents=True)
    cached_path(FER2013).write_bytes(b"not the weights")
    report = add_baselines({"emotion": {}, "au_tuned_on_val": {}}, tiny_data())
    assert LINEAR_PROBE not in report["baselines"]
    assert "does not hash to the published file" in report["baselines_not_run"][LINEAR_PROBE]


@pytest.mark.slow
def test_linear_probe_beats_the_majority_floor_on_real_weights(tmp_path: Path, monkeypatch):
    from core.data.dataset import load_training_data

    data = load_training_data(None, prepared_size=96, progress=False)  # the session's cache
    monkeypatch.setenv("FERTUNE_CACHE", str(tmp_path))  # real weights for this test only
    if REAL_WEIGHTS.is_file():  # this machine fetched them: the fetch below checks, no download
        cached_path(FER2013).parent.mkdir(parents=True)
        shutil.copyfile(REAL_WEIGHTS, cached_path(FER2013))
    weights = fetch_weights(FER2013)
    reports = baselines_on(data, probe_weights=weights)
    linear_probe, majority = reports[LINEAR_PROBE], reports["majority"]
    assert linear_probe["emotion"]["accuracy"] > majority["emotion"]["accuracy"] + 0.15
    assert linear_probe["emotion"]["accuracy"] > reports["linear"]["emotion"]["accuracy"]
    assert linear_probe["au_tuned_on_val"]["mAP"] > reports["all_present"]["au_tuned_on_val"]["mAP"]
