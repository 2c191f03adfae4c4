"""Export to TensorFlow Lite: outputs by name, the files and figures written, prediction from the
.tflite, and a user's mistake as one line."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluation.thresholds import THRESHOLDS_FILE, read_thresholds
from core.export import main as export_main
from core.labels import au_names

SIZE = 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keras_model():
    """A tiny untrained dual-head model, as core.model.builders builds it."""
    from core.config import ModelConfig
    from core.model.builders import build_network

    return build_network(ModelConfig(input_size=SIZE, alpha=0.25), 15)


@pytest.fixture(scope="module")
def model_folder(keras_model, tmp_path_factory) -> Path:
    """model.keras beside a thresholds.json holding what core.train's must hold."""
    folder = tmp_path_factory.mktemp("model")
    keras_model.save(folder / "model.keras")
    payload = {
        "au_names": au_names(),
        "thresholds": [0.3 + 0.02 * j for j in range(15)],
        "input_size": SIZE,
        "crop_fraction": 0.8,
        "prepared_size": 480,
        "face_detector": "haar",  # the faster one: preparing is not what is tested here
    }
    (folder / THRESHOLDS_FILE).write_text(json.dumps(payload))
    return folder


@pytest.fixture(scope="module")
def exported(model_folder: Path, small_synthetic: Path, tmp_path_factory) -> tuple[Path, dict]:
    """`python -m core.export MODEL --int8 --json` on the small set: the folder, what it printed."""
    out = tmp_path_factory.mktemp("export") / "out"
    argv = [str(model_folder), "--out", str(out), "--data", str(small_synthetic), "--int8"]
    # More calibration images than the training split has: all of them, and the terminal says so.
    argv += ["--runs", "5", "--warmup", "1", "--calibration-images", "10000", "--json"]
    printed, said = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(said):
        assert export_main(argv) == 0
    report = json.loads((out / "export.json").read_text())
    assert json.loads(printed.getvalue()) == report
    used = report["models"]["int8"]["calibration_images"]
    note = (
        f"note: --calibration-images 10000: the training split has {used} images; int8 is "
        "calibrated on all of them"
    )
    assert said.getvalue().splitlines()[-1] == note  # after the data's progress bar
    return out, report


def test_float_tflite_gives_the_keras_outputs_by_name(keras_model, capfd):
    from core.deploy.conversion import convert
    from core.deploy.tflite_model import LiteModel

    inputs = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 1)).astype(np.float32)
    lite = LiteModel(convert(keras_model))
    int8 = LiteModel(convert(keras_model, calibration=inputs))
    got, expected = lite(inputs), keras_model(inputs, training=False)
    assert lite.output_shapes == {"emotion": (None, 3), "au": (None, 15)}
    assert lite.input_shape == (None, SIZE, SIZE, 1)
    for name in ("emotion", "au"):
        np.testing.assert_allclose(got[name], np.asarray(expected[name]), atol=1e-4)
    assert int8(inputs)["emotion"].shape == (4, 3) and int8(inputs)["au"].shape == (4, 15)
    assert capfd.readouterr().err == ""  # no converter or interpreter notice reached the user


def test_a_mixed_precision_model_is_converted_in_float32():
    import keras

    from core.config import ModelConfig
    from core.deploy.conversion import convert
    from core.deploy.tflite_model import LiteModel
    from core.model.builders import build_network

    keras.mixed_precision.set_global_policy("mixed_float16")  # as GPU trials train
    try:
        mixed = build_network(ModelConfig(input_size=SIZE, alpha=0.25), 15)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inputs = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 1)).astype(np.float32)
    got = LiteModel(convert(mixed))(inputs)
    expected = mixed(inputs, training=False)
    for name in ("emotion", "au"):  # float16 inside the Keras model, float32 in TFLite
        np.testing.assert_allclose(got[name], np.asarray(expected[name]), atol=1e-2)


@pytest.mark.slow
def test_export_writes_both_models_their_settings_and_figures(exported, model_folder: Path):
    out, report = exported
    assert sorted(p.name for p in out.iterdir()) == [
        "export.json",
        "model.tflite",
        "model_int8.tflite",
        "thresholds.json",
    ]
    source = read_thresholds(model_folder / THRESHOLDS_FILE)  # with its defaults said
    assert json.loads((out / THRESHOLDS_FILE).read_text()) == source
    floats, int8 = report["models"]["float32"], report["models"]["int8"]
    assert floats["bytes"] == (out / "model.tflite").stat().st_size
    assert int8["bytes"] == (out / "model_int8.tflite").stat().st_size
    assert int8["bytes"] < floats["bytes"] / 2  # int8 weights
    assert (int8["weights"], int8["activations"], int8["input"]) == ("int8", "int8", "float32")
    assert 0 < int8["calibration_images"] < 10000  # the whole training split (the fixture's)
    assert report["latency"]["threads"] == 1 and report["latency"]["runs"] == 5
    assert floats["latency_ms"] > 0 and int8["latency_ms"] > 0
    assert floats["agreement"]["max_abs_difference"] < 1e-4
    assert floats["agreement"]["emotion_argmax_agreement"] == 1.0
    assert 0 <= int8["agreement"]["emotion_argmax_agreement"] <= 1
    assert "au_f1_macro_change" in int8["agreement"] and report["test"]["images"] > 0


@pytest.mark.slow
def test_predict_runs_the_tflite_as_it_runs_the_keras_model(
    exported, model_folder: Path, small_synthetic: Path
):
    from core.deploy.predictor import Predictor

    out, _ = exported
    images = sorted((small_synthetic / "cohn-kanade-images").rglob("*.png"))[:4]
    keras = Predictor.from_run(model_folder).predict(images)
    for lite in (Predictor.from_run(out), Predictor.from_run(out / "model_int8.tflite")):
        assert [p.path for p in lite.predict(images)] == [p.path for p in keras]
    floats = Predictor.from_run(out).predict(images)
    assert [p.emotion for p in floats] == [p.emotion for p in keras]
    for a, b in zip(floats, keras, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-4)
        assert a.aus == b.aus


@pytest.mark.slow
def test_predicting_from_an_export_prints_no_tflite_notice(exported, small_synthetic: Path):
    """A fresh process, as a user's: the interpreter's XNNPACK line is said once per process."""
    out, _ = exported
    image = sorted((small_synthetic / "cohn-kanade-images").rglob("*.png"))[0]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "core.predict", "--model", str(out), str(image)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[1].startswith(str(image))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not-a-model", "{tmp}/face.png: not a .keras model file"),
        ("out-is-a-file", "--out {tmp}/taken: exists and is not a folder"),
        ("a-tflite", "{tmp}/model.tflite: already a TFLite model"),
    ],
)
def test_a_mistake_is_one_line_exit_2_and_nothing_written(case, message, tmp_path: Path, capfd):
    from tests.conftest import write_image

    model, out = write_image(tmp_path / "face.png"), tmp_path / "out"
    if case == "out-is-a-file":
        out.with_name("taken").write_text("a file")
        out = out.with_name("taken")
    elif case == "a-tflite":
        model = tmp_path / "model.tflite"
        model.write_bytes(b"\0\0\0\0TFL3")
    before = sorted(tmp_path.rglob("*"))
    assert export_main([str(model), "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message.format(tmp=tmp_path) in err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.slow
def test_a_killed_export_leaves_nothing_and_the_next_clears_its_scratch(
    model_folder: Path, small_synthetic: Path, tmp_path: Path, monkeypatch
):
    import signal
    import time

    scratch = tmp_path / "tmp"  # the export's temporary folder, to see what it leaves
    scratch.mkdir()
    out = tmp_path / "out"
    argv = [str(model_folder), "--out", str(out), "--data", str(small_synthetic), "--int8"]
    process = subprocess.Popen(
        [sys.executable, "-m", "core.export", *argv, "--runs", "5000"],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(scratch.glob(".fertune-tflite*")):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # while it converts: its scratch folder is there
    process.wait()
    assert list(scratch.glob(".fertune-tflite*")), "the export was not caught converting"
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no --out, no temporary beside it
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    assert export_main([*argv, "--runs", "2", "--warmup", "0", "--calibration-images", "8"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tmp"]
    assert list(scratch.iterdir()) == []  # the killed run's scratch went with the next run
