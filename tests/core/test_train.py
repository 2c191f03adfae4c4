"""One-config training on tiny arrays: pipeline, target stopping, resume, outputs of the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest

from core.config import METRIC_KEYS, combined_score, parse_targets, train_config
from core.data.dataset import TrainingData
from core.errors import ConfigError
from core.evaluation.metrics import FIGURES, figure_of
from core.evaluation.verdicts import verdict
from core.train import main as train_main
from core.training.callbacks import make_target_stopping
from core.training.loop import ResumePoint, evaluate_on_test, train
from core.training.pipeline import make_datasets, trial_views

# Perfect emotion and AU scores at once: out of reach of these tiny runs, so every epoch runs.
UNREACHABLE = {"val_emotion_accuracy": 1.0, "val_au_f1_macro": 1.0}
TINY = {"input_size": 32, "alpha": 0.25, "batch_size": 8, "sample_size": 12, "min_epochs": 1}


def test_pipeline_oversamples_train_only_and_batches_float_images(tiny_data: TrainingData):
    config = train_config({**TINY, "zoom": 0.1, "brightness": 0.1})
    views = trial_views(tiny_data.prepared, config.crop_fraction, config.model.input_size)
    train_ds, val_ds, test_ds, n_train = make_datasets(config, tiny_data, views)
    assert n_train == 3 * 12
    x, y = next(iter(train_ds))
    assert x.shape == (8, 32, 32, 1) and x.dtype.name == "float32"
    assert set(y) == {"emotion", "au"} and y["au"].shape == (8, 15)
    val_labels = np.concatenate([y["emotion"].numpy() for _, y in val_ds])
    np.testing.assert_array_equal(val_labels, tiny_data.prepared.emotions[tiny_data.split.val])
    assert sum(len(y["emotion"]) for _, y in test_ds) == len(tiny_data.split.test)


class FakeModel:
    """Only what the callback touches: a stop flag and weights."""

    stop_training = False

    def get_weights(self):
        return [np.zeros(1)]

    def set_weights(self, weights):
        self.restored = weights


def logs(emotion: float, au_bin: float, f1: float = 0.2) -> dict[str, float]:
    return {
        "val_emotion_accuracy": emotion,
        "val_au_binary_accuracy": au_bin,
        "val_au_f1_macro": f1,
    }


def run_epochs(stopper, epochs: list[dict[str, float]]) -> int:
    stopper.set_model(FakeModel())
    for epoch, values in enumerate(epochs):
        stopper.on_epoch_end(epoch, values)
        if stopper.model.stop_training:
            return epoch + 1
    return len(epochs)


def test_target_stopping_waits_for_every_target():
    targets = {"val_emotion_accuracy": 0.8, "val_au_binary_accuracy": 0.7}
    stopper = make_target_stopping(targets, min_epochs=100, patience=1)
    epochs = [logs(0.85, 0.6), logs(0.7, 0.75), logs(0.8, 0.69), logs(0.8, 0.7), logs(0.9, 0.9)]
    assert run_epochs(stopper, epochs) == 4
    assert stopper.stopped_by == "targets" and stopper.book.targets_met_epoch == 4


def test_patience_applies_only_after_min_epochs():
    stopper = make_target_stopping({"val_emotion_accuracy": 0.99}, min_epochs=5, patience=2)
    flat = [logs(0.5, 0.5, f1=0.1)] * 8
    assert run_epochs(stopper, flat) == 5
    assert stopper.stopped_by == "patience" and stopper.book.best_epoch == 1


def test_best_epoch_follows_the_combined_score():
    stopper = make_target_stopping({"val_emotion_accuracy": 0.99}, min_epochs=9, patience=9)
    run_epochs(stopper, [logs(0.5, 0.9, 0.1), logs(0.6, 0.1, 0.3), logs(0.55, 0.9, 0.3)])
    assert stopper.book.best_epoch == 2
    assert combined_score(logs(0.6, 0.1, 0.3)) == pytest.approx(0.45)


def test_training_stops_on_targets_that_are_met_at_once(tiny_data: TrainingData):
    config = {**TINY, "max_epochs": 3, "targets": {"val_au_binary_accuracy": 0.0}}
    result = train(config, tiny_data, verbose=False)
    assert result.stopped_by == "targets" and result.epochs == 1 and result.targets_met_epoch == 1


def test_training_runs_to_max_epochs_when_targets_are_out_of_reach(tiny_data: TrainingData):
    config = {**TINY, "max_epochs": 2, "patience": 5, "targets": UNREACHABLE}
    result = train(config, tiny_data, verbose=False)
    assert result.stopped_by == "max_epochs" and result.epochs == 2
    assert {"val_emotion_accuracy", "val_au_f1_macro", "au_pr_auc"} <= set(result.history)
    assert 1 <= result.best_epoch <= 2
    report = evaluate_on_test(result.model, result.config, tiny_data)
    assert report["split_sizes"]["test"] == len(tiny_data.split.test)
    assert {"emotion", "au_at_0.5", "au_tuned_on_val"} <= set(report)


def test_resume_continues_from_the_saved_epoch(tiny_data: TrainingData, tmp_path: Path):
    config = {**TINY, "max_epochs": 1, "targets": UNREACHABLE}
    first = train(config, tiny_data, verbose=False)
    first.model.save(tmp_path / "m.keras")
    resumed = train(
        {**config, "max_epochs": 2},
        tiny_data,
        resume=ResumePoint(tmp_path / "m.keras", first.history),
        verbose=False,
    )
    assert resumed.epochs == 2
    assert resumed.history["loss"][0] == first.history["loss"][0]
    # The optimizer state came back with the model: its step count goes on from epoch 1's.
    steps_per_epoch = math.ceil(3 * TINY["sample_size"] / TINY["batch_size"])
    assert int(resumed.model.optimizer.iterations.numpy()) == 2 * steps_per_epoch


def test_unknown_target_metric_is_a_config_error(tiny_data: TrainingData):
    with pytest.raises(ConfigError, match="unknown target metric"):
        train(
            {**TINY, "max_epochs": 1, "targets": {"val_happiness": 0.5}}, tiny_data, verbose=False
        )
    assert parse_targets(["val_emotion_accuracy=0.9"]) == {"val_emotion_accuracy": 0.9}
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_targets(["val_emotion_accuracy"])


@pytest.mark.parametrize(
    ("key", "value"),
    [("batch_size", 0), ("crop_fraction", 1.5), ("zoom", -0.1), ("sample_size", 0)],
)
def test_impossible_settings_are_config_errors(key: str, value):
    with pytest.raises(ConfigError, match=key):
        train_config({key: value})


def test_cli_trains_and_writes_model_report_and_tensorboard(
    tmp_path: Path, small_synthetic: Path, isolated_cache: Path, capsys
):
    out = tmp_path / "out"
    argv = ["--data", str(small_synthetic), "--out", str(out), "--input-size", "32"]
    argv += ["--alpha", "0.25", "--epochs", "2", "--sample-size", "10", "--zoom", "0.1"]
    argv += ["--target", "val_emotion_accuracy=1", "--target", "val_au_f1_macro=1"]  # out of reach
    assert train_main(argv) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/2" in printed and "no-AU baseline" in printed
    assert "floors on validation" in printed and "test, beside the baselines" in printed
    assert "linear probe: not run (fer2013 weights not fetched" in printed  # a cache without
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["epochs"] == 2 and report["training"]["stopped_by"] == "max_epochs"
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    # The three baselines are test reports in the CNN's own shape, on the same split.
    assert set(report["baselines"]) == {"majority", "all_present", "linear"}
    for baseline in report["baselines"].values():
        for part in ("emotion", "au_at_0.5", "au_tuned_on_val"):
            assert set(baseline[part]) == set(report[part])
            assert baseline[part]["n"] == report[part]["n"]
    assert report["baselines"]["majority"]["au_at_0.5"]["f1_macro"] == 0.0
    assert set(report["floors"]["validation"]) == {f"val_{k}" for k in METRIC_KEYS}
    # Every figure of the model and of each baseline has its 95% interval around it.
    for scored in (report, *report["baselines"].values()):
        assert set(scored["intervals"]) == set(FIGURES)
        for key, interval in scored["intervals"].items():
            value = figure_of(scored, key)
            assert (interval is None) == (value is None)
            assert interval is None or interval[0] <= value <= interval[1]
    assert len(report["test_outputs"]["subjects"]) == report["emotion"]["n"]
    # The model against each baseline, paired: difference of the figures and a verdict.
    pairs = {(row["against"], row["metric"]): row for row in report["comparisons"]}
    assert {against for against, _ in pairs} == {"linear", "majority", "all_present"}
    row = pairs[("linear", "emotion_accuracy")]
    linear = report["baselines"]["linear"]
    assert row["difference"] == pytest.approx(
        report["emotion"]["accuracy"] - linear["emotion"]["accuracy"]
    )
    assert row["verdict"] == verdict(row["interval"])
    assert "this model vs linear: emotion acc " in printed
    assert keras.models.load_model(out / "model.keras", safe_mode=True).output["au"] is not None
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for run in ("train", "validation"):
        accumulator = EventAccumulator(str(out / "tb" / run))
        accumulator.Reload()
        tags = set(accumulator.Tags()["tensors"])
        assert {"epoch_emotion_accuracy", "epoch_au_binary_accuracy", "epoch_au_f1_macro"} <= tags


def test_cli_refuses_a_non_empty_output_folder(tmp_path: Path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert train_main(["--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


# Warm runs (core.model.warm): a reused compiled model must start a trial where a fresh one would.

WARM_A = {
    **TINY,
    "max_epochs": 1,
    "targets": UNREACHABLE,
    "seed": 1,
    "l1": 1e-3,
    "dropout": 0.2,  # a dropout seed state to reset too
    "au_weighting": "balanced",
    # No augmentation: Keras' random layers draw from one seed state across tf.data's parallel
    # map calls, so which batch gets which draw varies from run to run (fresh runs too).
    "learning_rate": 2e-3,
}
# The same architecture; every value that may differ between warm trials differs.
WARM_B = {
    **WARM_A,
    "seed": 7,
    "l1": 1e-2,
    "au_pos_weights": [3.0] * 15,
    "learning_rate": 1e-4,
    "zoom": 0.1,
    "brightness": 0.2,
    "sample_size": 20,
    "crop_fraction": 0.8,
    "batch_size": 4,
}


@pytest.fixture(scope="module")
def warm_runs(tiny_data: TrainingData) -> dict:
    """A fresh run of A; then B and A again through the warm cache, counting traced steps.

    Keras runs `train_step` / `test_step` in Python only while tracing them.
    """
    from core.model import warm

    traces = {"train": 0, "test": 0}

    def counting(kind: str, step):
        def wrapper(self, data):
            traces[kind] += 1
            return step(self, data)

        return wrapper

    warm.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "train_step", counting("train", keras.Model.train_step))
        patch.setattr(keras.Model, "test_step", counting("test", keras.Model.test_step))
        fresh = train(WARM_A, tiny_data, verbose=False)
        cold_b = train(WARM_B, tiny_data, verbose=False, warm=True)
        after_b = dict(traces)
        train_function = cold_b.model.train_function
        warm_a = train(WARM_A, tiny_data, verbose=False, warm=True)
        # B again, with A's seed: then A keeps TensorFlow's global seed (core.training.seeds skips
        # it).
        train({**WARM_B, "seed": WARM_A["seed"]}, tiny_data, verbose=False, warm=True)
        same_seed_a = train(WARM_A, tiny_data, verbose=False, warm=True)
        after_a = dict(traces)
    warm.clear()
    return {
        "fresh": fresh,
        "cold_b": cold_b,
        "warm_a": warm_a,
        "same_seed_a": same_seed_a,
        "after_b": after_b,
        "after_a": after_a,
        "train_function": train_function,
    }


def test_a_warm_run_starts_from_the_state_of_a_fresh_run_of_its_seed(warm_runs: dict):
    fresh, warm_a = warm_runs["fresh"], warm_runs["warm_a"]
    assert warm_a.model is warm_runs["cold_b"].model  # reused, not rebuilt
    # The same weights, optimizer state, batches and ops: bit-identical here. 1e-6 (a few
    # float32 ulps) leaves room only for a different summation order across CPU threads; a wrong
    # reset (weights, moments, step count, a stale L1 or AU weight) moves it by 1e-3 or more.
    for run in (warm_a, warm_runs["same_seed_a"]):
        for key in ("loss", "emotion_loss", "au_loss", "val_loss"):
            assert run.history[key][0] == pytest.approx(fresh.history[key][0], rel=1e-6), key
    # B differed in every variable-held value; A's came back.
    assert warm_a.history["loss"][0] != pytest.approx(warm_runs["cold_b"].history["loss"][0])
    model = warm_a.model
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(2e-3)
    assert model.get_layer("dense_1").kernel_regularizer.l1 == pytest.approx(1e-3)
    assert model.loss["au"].pos_weights == pytest.approx(fresh.model.loss["au"].pos_weights)
    steps = math.ceil(3 * TINY["sample_size"] / TINY["batch_size"])
    assert int(model.optimizer.iterations.numpy()) == steps  # counted from zero again


def test_a_warm_run_of_a_cached_shape_traces_nothing(warm_runs: dict):
    after_b, after_a = warm_runs["after_b"], warm_runs["after_a"]
    assert after_b["train"] >= 2 and after_b["test"] >= 2  # the fresh run and B each traced
    assert after_a == after_b
    assert warm_runs["warm_a"].model.train_function is warm_runs["train_function"]
