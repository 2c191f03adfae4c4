"""A trial checks its config once: `run_trial` on tiny data, Ray's trial context stubbed (no
cluster), every check of a config counted where core.config makes it."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.data.dataset import TrainingData
from tests.core.test_models import save_backbone

UNREACHABLE = {"val_emotion_accuracy": 1.0, "val_au_f1_macro": 1.0}


class TrialContext:
    """What run_trial asks of Tune's context: a folder, an id, and no placement group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get_trial_dir(self) -> str:
        return str(self.folder)

    def get_trial_id(self) -> str:
        return "t1"

    def get_trial_resources(self):
        raise RuntimeError("no placement group")  # run_trial reads it as one CPU


@dataclass
class Counted:
    """What the trials did: each kind of check counted, and the reports they sent Tune."""

    weights: Path
    counts: collections.Counter = field(default_factory=collections.Counter)
    reports: list[dict] = field(default_factory=list)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counted:
    """Counts every check of a config (core.config's, whoever asks) and every look at the
    weights file; Tune's report and checkpoint calls are answered here."""
    import core.config
    import tune.trainable

    found = Counted(tmp_path / "mobilenet.weights.h5")
    counts = found.counts

    def counting(name: str, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        core.config, "check_known_keys", counting("configs", core.config.check_known_keys)
    )
    monkeypatch.setattr(
        core.config, "check_targets", counting("targets", core.config.check_targets)
    )
    monkeypatch.setattr(
        core.config, "_model_config", counting("model keys", core.config._model_config)
    )
    check = core.config.check

    def checking(rules, payload, wording, error, **context):
        if rules is core.config.TRAIN_RULES:
            counts["run keys"] += 1  # batch size ... crop_fraction, augmentation
        return check(rules, payload, wording, error, **context)

    monkeypatch.setattr(core.config, "check", checking)
    save_backbone(found.weights)
    is_file = Path.is_file

    def looked_at(path: Path) -> bool:
        counts["weights file looked at"] += path == found.weights
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", looked_at)
    trial_tune = tune.trainable.tune
    monkeypatch.setattr(trial_tune, "get_context", lambda: TrialContext(tmp_path / "trial"))
    monkeypatch.setattr(trial_tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(trial_tune, "report", lambda metrics, **_: found.reports.append(metrics))
    monkeypatch.setattr(tune.trainable, "_node_id", lambda: "node")
    return found


def test_a_trial_checks_its_config_once_cold_or_warm(
    counted: Counted, tiny_data: TrainingData, tmp_path: Path
):
    """Before one check at the start of a trial, the model's keys were resolved 4 times a trial
    (5 with latency: core.deploy.cost, core.model.warm, core.model.builders twice), the weights
    file looked at 4 times, and crop_fraction checked twice (core.images.preprocess again)."""
    from core import warm
    from tune.trainable import run_trial

    config = {
        "input_size": 32,
        "alpha": 0.25,
        "batch_size": 8,
        "sample_size": 12,
        "min_epochs": 1,
        "max_epochs": 1,
        "backbone_weights": str(counted.weights),
        "au_weighting": "balanced",
        "targets": UNREACHABLE,
    }
    warm.clear()
    try:
        for trial in ("cold", "warm"):  # a new shape's first trial, then a reused model's
            counted.counts.clear()
            run_trial(dict(config), tiny_data, latency=True, study=str(tmp_path))
            assert dict(counted.counts) == {
                "configs": 1,
                "run keys": 1,
                "targets": 1,
                "model keys": 1,
                "weights file looked at": 1,
            }, trial
    finally:
        warm.clear()
    assert [report["epoch"] for report in counted.reports] == [1, 1]
    assert all(report["latency_ms"] > 0 for report in counted.reports)
