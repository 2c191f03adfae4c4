"""Metrics checked against small cases worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.evaluation import metrics
from core.labels import EMOTIONS, au_names


def one_hot_probs(predicted: list[int], k: int = 3) -> np.ndarray:
    prob = np.full((len(predicted), k), 0.1)
    prob[np.arange(len(predicted)), predicted] = 0.8
    return prob


# Emotion: truth 0,0,0,1,1,2; predicted 0,0,1,1,2,2.
# negative: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8
# positive: tp 1, fp 1, fn 1 -> P 0.5, R 0.5, F1 0.5
# surprise: tp 1, fp 1, fn 0 -> P 0.5, R 1, F1 2/3
EMOTION_TRUE = [0, 0, 0, 1, 1, 2]
EMOTION_PRED = [0, 0, 1, 1, 2, 2]


def test_emotion_metrics_match_hand_computation():
    result = metrics.emotion_metrics(EMOTION_TRUE, one_hot_probs(EMOTION_PRED))
    assert result["n"] == 6
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["f1_weighted"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert result["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    negative, positive, surprise = (result["per_class"][name] for name in EMOTIONS)
    assert negative == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert positive == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert surprise == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})


def test_emotion_confusion_matrix_keeps_an_absent_class():
    result = metrics.emotion_metrics([0, 0, 1, 1], one_hot_probs([0, 1, 1, 1]))
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert result["per_class"]["surprise"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    # negative: P 1, R 0.5, F1 2/3; positive: P 2/3, R 1, F1 0.8; surprise is left out of the mean.
    assert result["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_emotion_metrics_reject_probabilities_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        metrics.emotion_metrics([0, 1], np.ones((2, 4)) / 4)


# AUs: 4 samples x 3 AUs; predicted at 0.5 = [[1,0,0],[0,1,0],[1,0,0],[0,0,0]].
# AU1: tp 1, fp 1, fn 1 -> P 0.5, R 0.5, F1 0.5; AP 0.5*1 + 0.5*2/3 = 5/6
# AU2: tp 1, fp 0, fn 1 -> P 1, R 0.5, F1 2/3; AP 1 (both positives ranked first)
# AU4: no positive, none predicted -> P R F1 0; AP undefined
# Cells right: 3 + 2 + 2 + 2 = 9 of 12; labels positive: 4 of 12 -> no-AU baseline 8/12.
AU_NAMES = ["AU1", "AU2", "AU4"]
AU_TRUE = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 1, 0]])
AU_PROB = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.3], [0.6, 0.1, 0.2], [0.2, 0.3, 0.4]])


def test_au_metrics_match_hand_computation():
    result = metrics.au_metrics(AU_TRUE, AU_PROB, au_names=AU_NAMES)
    assert result["thresholds"] == [0.5, 0.5, 0.5]
    assert result["binary_accuracy"] == pytest.approx(9 / 12)
    assert result["no_au_baseline_accuracy"] == pytest.approx(8 / 12)
    per_au = result["per_au"]
    assert per_au["AU1"] == pytest.approx(
        {
            "precision": 0.5,
            "recall": 0.5,
            "f1": 0.5,
            "support": 2,
            "average_precision": 5 / 6,
            "threshold": 0.5,
        }
    )
    assert per_au["AU2"]["precision"] == pytest.approx(1.0)
    assert per_au["AU2"]["recall"] == pytest.approx(0.5)
    assert per_au["AU2"]["f1"] == pytest.approx(2 / 3)
    assert per_au["AU2"]["average_precision"] == pytest.approx(1.0)
    # AU4 has no positive: left out of the macro F1 as of the mAP.
    assert result["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)
    # micro: tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 4/7
    assert result["f1_micro"] == pytest.approx(4 / 7)
    assert result["mAP"] == pytest.approx((5 / 6 + 1.0) / 2)


def test_au_without_positives_has_no_average_precision_and_is_left_out_of_map():
    result = metrics.au_metrics(AU_TRUE, AU_PROB, au_names=AU_NAMES)
    assert result["per_au"]["AU4"]["average_precision"] is None
    assert result["per_au"]["AU4"]["support"] == 0
    assert result["per_au"]["AU4"]["f1"] == 0.0
    assert result["ap_undefined"] == ["AU4"]
    assert result["au_undefined"] == ["AU4"]


def test_an_au_without_positives_is_left_out_of_macro_f1_even_when_predicted():
    # AU4 predicted present on every row though it never is: still undefined, not a 0 in the mean.
    prob = AU_PROB.copy()
    prob[:, 2] = 0.9
    with_fp = metrics.au_metrics(AU_TRUE, prob, au_names=AU_NAMES)
    without = metrics.au_metrics(AU_TRUE[:, :2], AU_PROB[:, :2], au_names=AU_NAMES[:2])
    assert with_fp["f1_macro"] == pytest.approx(without["f1_macro"])
    assert with_fp["mAP"] == pytest.approx(without["mAP"])
    assert with_fp["au_undefined"] == ["AU4"]
    assert without["au_undefined"] == []


def test_map_is_none_when_no_au_has_a_positive():
    result = metrics.au_metrics(np.zeros((3, 2), int), np.full((3, 2), 0.2), au_names=["a", "b"])
    assert result["mAP"] is None
    assert result["f1_macro"] is None
    assert result["ap_undefined"] == ["a", "b"]
    assert result["au_undefined"] == ["a", "b"]
    assert result["binary_accuracy"] == 1.0
    assert result["no_au_baseline_accuracy"] == 1.0


def test_no_au_baseline_is_the_accuracy_of_predicting_nothing():
    truth = np.array([[1, 0, 0, 0], [0, 0, 1, 0]])
    nothing = metrics.au_metrics(truth, np.zeros((2, 4)), au_names=list("abcd"))
    assert nothing["no_au_baseline_accuracy"] == pytest.approx(6 / 8)
    assert nothing["binary_accuracy"] == pytest.approx(nothing["no_au_baseline_accuracy"])
    assert nothing["f1_macro"] == 0.0


def test_au_metrics_score_every_label_over_threshold_never_argmax():
    truth = np.array([[1, 1, 0], [0, 1, 1]])
    prob = np.array([[0.8, 0.9, 0.1], [0.2, 0.6, 0.7]])
    result = metrics.au_metrics(truth, prob, au_names=list("abc"))
    assert [result["per_au"][n]["f1"] for n in "abc"] == [1.0, 1.0, 1.0]
    assert result["binary_accuracy"] == 1.0


def test_a_probability_equal_to_the_threshold_is_negative_as_in_keras():
    result = metrics.au_metrics([[1, 0]], [[0.5, 0.5]], au_names=["a", "b"])
    assert result["per_au"]["a"]["recall"] == 0.0
    assert result["binary_accuracy"] == 0.5


def test_au_metrics_use_the_given_thresholds_per_au():
    result = metrics.au_metrics(AU_TRUE, AU_PROB, thresholds=[0.3, 0.5, 0.5], au_names=AU_NAMES)
    # AU1 at 0.3: predicted rows 0, 1, 2 -> tp 2, fp 1 -> P 2/3, R 1, F1 0.8
    assert result["per_au"]["AU1"]["f1"] == pytest.approx(0.8)
    assert result["per_au"]["AU1"]["threshold"] == 0.3
    assert result["thresholds"] == [0.3, 0.5, 0.5]


def test_default_au_names_are_the_default_aus_for_15_columns():
    result = metrics.au_metrics(np.zeros((2, 15), int), np.zeros((2, 15)))
    assert result["au_names"] == au_names()


def test_a_single_au_column_is_scored_as_one_label():
    result = metrics.au_metrics([[1], [0], [1]], [[0.9], [0.8], [0.1]], au_names=["AU12"])
    # tp 1, fp 1, fn 1 -> F1 0.5, one entry only
    assert list(result["per_au"]) == ["AU12"]
    assert result["per_au"]["AU12"]["f1"] == pytest.approx(0.5)
    assert result["f1_macro"] == pytest.approx(0.5)


def test_tune_thresholds_picks_the_f1_maximising_threshold():
    # truth 1,1,0,0 with probabilities 0.9, 0.35, 0.3, 0.1 (prediction is prob > t):
    # t=0.05: 4 predicted, F1 2/3; t=0.10..0.25: 3 predicted, F1 0.8; t=0.30: exactly the two
    # positives, F1 1; t>=0.35: one positive, F1 2/3.
    truth = np.array([[1], [1], [0], [0]])
    prob = np.array([[0.9], [0.35], [0.3], [0.1]])
    assert metrics.tune_thresholds(truth, prob) == [pytest.approx(0.3)]


def test_tune_thresholds_breaks_ties_towards_one_half():
    # F1 is 1 for every t in 0.65..0.85 (between 0.62 and 0.9); 0.65 is nearest 0.5.
    truth = np.array([[1], [0], [0]])
    prob = np.array([[0.9], [0.62], [0.1]])
    assert metrics.tune_thresholds(truth, prob) == [pytest.approx(0.65)]
    # Every t from 0.05 to 0.85 is perfect: 0.5 itself wins.
    assert metrics.tune_thresholds([[1], [0]], [[0.9], [0.05]]) == [pytest.approx(0.5)]


def test_tune_thresholds_keeps_one_half_for_an_au_without_positives():
    truth = np.array([[1, 0], [0, 0], [1, 0]])
    prob = np.array([[0.35, 0.9], [0.2, 0.8], [0.4, 0.7]])
    tuned = metrics.tune_thresholds(truth, prob)
    assert tuned[1] == 0.5
    assert tuned[0] == pytest.approx(0.3)  # 0.2 <= t < 0.35; 0.30 is nearest 0.5


def test_tune_thresholds_accepts_a_custom_grid():
    truth = np.array([[1], [1], [0], [0]])
    prob = np.array([[0.9], [0.35], [0.3], [0.1]])
    assert metrics.tune_thresholds(truth, prob, grid=[0.2, 0.6]) == [0.2]


@pytest.fixture
def report():
    rng = np.random.default_rng(0)
    au_true = (rng.random((12, 4)) > 0.6).astype(int)
    au_true[:, 3] = 0
    val_true = (rng.random((10, 4)) > 0.6).astype(int)
    val_true[0, :3] = 1
    return metrics.test_report(
        emotion_true=rng.integers(0, 3, 12),
        emotion_prob=rng.dirichlet(np.ones(3), 12),
        au_true=au_true,
        au_prob=rng.random((12, 4)),
        val_au_true=val_true,
        val_au_prob=rng.random((10, 4)),
        au_names=["AU1", "AU2", "AU4", "AU27"],
    )


def test_report_is_json_serialisable_and_holds_both_au_views(report):
    again = json.loads(json.dumps(report))
    assert again == report
    assert set(report) == {"emotion", "au_at_0.5", "au_tuned_on_val"}
    assert report["au_at_0.5"]["thresholds"] == [0.5] * 4
    assert report["au_tuned_on_val"]["ap_undefined"] == ["AU27"]
    assert report["emotion"]["n"] == 12


def test_report_tunes_thresholds_on_validation_not_on_test():
    rng = np.random.default_rng(1)
    val_true, val_prob = np.array([[1], [1], [0], [0]]), np.array([[0.9], [0.35], [0.3], [0.1]])
    result = metrics.test_report(
        [0, 1],
        rng.dirichlet(np.ones(3), 2),
        [[0], [1]],
        [[0.8], [0.9]],
        val_true,
        val_prob,
        au_names=["AU1"],
    )
    assert result["au_tuned_on_val"]["thresholds"] == metrics.tune_thresholds(val_true, val_prob)


def test_format_report_prints_au_accuracy_beside_the_baseline(report):
    text = metrics.format_report(report)
    au_line = next(line for line in text.splitlines() if line.startswith("AUs at 0.5"))
    assert "binary accuracy" in au_line
    assert "no-AU baseline" in au_line
    assert "macro F1" in au_line
    assert "mAP" in au_line
    assert "weighted F1" in text
    for name in ["AU1", "AU2", "AU4", "AU27"]:
        assert any(line.startswith(name + " ") for line in text.splitlines())
    assert "n/a" in text  # AU27 has no positive: its AP is undefined
    assert au_line.endswith("(no positive, left out of the means: AU27)")


# The Keras metrics logged in training follow the report's rule: AU4 (no positive) is left out.
# AU4 is also predicted present on a row, so Keras' own macro F1 would count it as 0.
KERAS_PROB = AU_PROB.astype("float32").copy()
KERAS_PROB[0, 2] = 0.8


def keras_result(metric, truth, prob, batch=None):
    batches = [slice(None)] if batch is None else [slice(i, i + batch) for i in range(0, 4, batch)]
    for rows in batches:
        metric.update_state(np.asarray(truth, "float32")[rows], np.asarray(prob, "float32")[rows])
    return float(metric.result())


@pytest.mark.parametrize("batch", [None, 1, 2])
def test_keras_macro_f1_leaves_out_the_au_the_report_leaves_out(batch):
    import keras

    from core.model.builders import DefinedMacroF1

    report = metrics.au_metrics(AU_TRUE, KERAS_PROB, au_names=AU_NAMES)
    assert report["au_undefined"] == ["AU4"]
    ours = keras_result(DefinedMacroF1(), AU_TRUE, KERAS_PROB, batch)
    assert ours == pytest.approx(report["f1_macro"], abs=1e-6)
    assert ours == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-6)
    plain = keras_result(keras.metrics.F1Score(average="macro", threshold=0.5), AU_TRUE, KERAS_PROB)
    assert plain == pytest.approx((0.5 + 2 / 3 + 0.0) / 3, abs=1e-6)  # the rule it replaces


@pytest.mark.parametrize("batch", [None, 2])
def test_keras_pr_auc_leaves_out_the_au_map_leaves_out(batch):
    import keras

    from core.model.builders import DefinedPRAUC

    report = metrics.au_metrics(AU_TRUE, KERAS_PROB, au_names=AU_NAMES)
    assert report["ap_undefined"] == ["AU4"]
    ours = keras_result(DefinedPRAUC(num_labels=3), AU_TRUE, KERAS_PROB, batch)
    defined_only = keras.metrics.AUC(curve="PR", multi_label=True, num_labels=2)
    assert ours == pytest.approx(keras_result(defined_only, AU_TRUE[:, :2], KERAS_PROB[:, :2]))
    plain = keras.metrics.AUC(curve="PR", multi_label=True, num_labels=3)
    assert keras_result(plain, AU_TRUE, KERAS_PROB) == pytest.approx(ours * 2 / 3, abs=1e-6)


def test_keras_au_metrics_read_zero_when_no_au_has_a_positive():
    from core.model.builders import DefinedMacroF1, DefinedPRAUC

    truth, prob = np.zeros((2, 2)), np.full((2, 2), 0.7)
    assert keras_result(DefinedMacroF1(), truth, prob) == 0.0
    assert keras_result(DefinedPRAUC(num_labels=2), truth, prob) == 0.0
    assert metrics.au_metrics(truth, prob)["f1_macro"] is None


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_keras_au_metrics_survive_a_safe_mode_save_and_load(tmp_path):
    import zipfile

    import keras

    from core.model.builders import DefinedMacroF1, DefinedPRAUC

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile(
        loss="binary_crossentropy",
        metrics=[DefinedMacroF1(name="f1_macro"), DefinedPRAUC(num_labels=3, name="pr_auc")],
    )
    x, y = KERAS_PROB, AU_TRUE.astype("float32")
    want = model.evaluate(x, y, return_dict=True, verbose=0)
    model.save(tmp_path / "model.keras")
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        saved = archive.read("config.json").decode()
    assert "DefinedMacroF1" in saved and "DefinedPRAUC" in saved
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    got = loaded.evaluate(x, y, return_dict=True, verbose=0)
    assert got["f1_macro"] == pytest.approx(want["f1_macro"])
    assert got["pr_auc"] == pytest.approx(want["pr_auc"])
    predicted = model.predict(x, verbose=0)
    report = metrics.au_metrics(AU_TRUE, predicted, au_names=AU_NAMES)
    defined = [report["per_au"][n]["f1"] for n in AU_NAMES if n not in report["au_undefined"]]
    assert got["f1_macro"] == pytest.approx(np.mean(defined), abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_f1_at_every_threshold_equals_scikit_learns_f1_at_each(seed: int):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 60))
    truth = rng.random(size) < rng.uniform(0.0, 0.6)  # some draws have no positive at all
    prob = np.round(rng.random(size), 2)  # ties with the grid's own values
    grid = [*metrics.THRESHOLD_GRID, 0.0, 1.0]
    expected = [f1_score(truth, prob > t, zero_division=0) for t in grid]
    assert metrics.f1_at_thresholds(truth, prob, grid) == pytest.approx(expected, abs=1e-12)
