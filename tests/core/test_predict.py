"""Prediction with a trained tiny model: the training code path, the tuned thresholds, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.data.dataset import load_training_data
from core.deploy.predictor import Predictor
from core.labels import EMOTIONS, au_names
from core.predict import main as predict_main
from core.train import main as train_main
from core.training.pipeline import trial_views

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(small_synthetic: Path, tmp_path_factory) -> Path:
    """`python -m core.train` output: model.keras, report.json, thresholds.json."""
    out = tmp_path_factory.mktemp("model") / "out"
    argv = ["--data", str(small_synthetic), "--out", str(out), "--input-size", "32"]
    argv += ["--alpha", "0.25", "--epochs", "2", "--min-epochs", "1", "--sample-size", "10"]
    argv += ["--crop-fraction", "0.8"]
    assert train_main(argv) == 0
    return out


@pytest.fixture(scope="module")
def labelled(small_synthetic: Path) -> tuple[list[Path], np.ndarray, object]:
    """Two labelled peak images of each emotion, their indices, and the training arrays."""
    data = load_training_data(small_synthetic, progress=False)
    indices = np.concatenate(
        [np.flatnonzero(data.prepared.emotions == e)[:2] for e in range(len(EMOTIONS))]
    )
    return [Path(data.prepared.paths[i]) for i in indices], indices, data


def copy_model(trained: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in ("model.keras", "thresholds.json"):
        shutil.copy(trained / name, folder / name)
    return folder


def test_training_writes_the_tuned_thresholds_and_input_settings(trained: Path):
    saved = json.loads((trained / "thresholds.json").read_text())
    report = json.loads((trained / "report.json").read_text())
    assert saved["au_names"] == au_names() and len(saved["aus"]) == 15 and saved["aus"][0] == 1
    assert saved["thresholds"] == report["au_tuned_on_val"]["thresholds"]
    assert saved["input_size"] == 32 and saved["crop_fraction"] == 0.8
    assert saved["prepared_size"] == 480 and saved["tuned_on"] == "validation"


def test_images_are_prepared_exactly_as_training_prepared_them(trained: Path, labelled):
    paths, indices, data = labelled
    predictor = Predictor.from_run(trained)
    inputs, faces = predictor.prepare(paths)
    views = trial_views(data.prepared, 0.8, 32)
    assert inputs.shape == (len(paths), 32, 32, 1) and inputs.dtype == np.float32
    np.testing.assert_array_equal(inputs[..., 0], views[indices].astype(np.float32))
    assert faces == list(data.prepared.face_found[indices])


def test_predictions_are_the_models_outputs_cut_at_the_tuned_thresholds(trained: Path, labelled):
    paths, _, _ = labelled
    predictor = Predictor.from_run(trained)
    predictions = predictor.predict(paths)
    outputs = predictor.model(predictor.prepare(paths)[0], training=False)
    thresholds = json.loads((trained / "thresholds.json").read_text())["thresholds"]
    assert [p.path for p in predictions] == [str(p) for p in paths]
    for p, emotion, au in zip(predictions, outputs["emotion"], outputs["au"], strict=True):
        emotion, au = np.asarray(emotion), np.asarray(au)
        assert list(p.emotion_probabilities) == list(EMOTIONS)
        assert p.emotion == EMOTIONS[int(emotion.argmax())]
        assert p.probability == pytest.approx(float(emotion.max()))
        assert sum(p.emotion_probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert list(p.au_probabilities) == au_names()
        expected = [n for n, v, t in zip(au_names(), au, thresholds, strict=True) if v > t]
        assert p.aus == expected


def test_a_photo_gets_the_same_answer_alone_and_beside_photos_of_other_sizes(
    trained: Path, labelled, tmp_path: Path
):
    """A landscape crop of grace_hopper beside the square astronaut: MTCNN's shared pyramid
    moved its box by 16 px, and the issue's photo was "negative" alone, "surprise" beside
    another. Its model input must be the same to the bit, its answer the same."""
    import cv2
    import matplotlib.cbook
    import skimage.data

    grace = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    photo, astronaut = tmp_path / "grace.png", tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), grace[40:400])
    cv2.imwrite(str(astronaut), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    predictor = Predictor.from_run(trained)
    assert predictor.face_detector == "mtcnn"
    mixed = [astronaut, photo, labelled[0][0]]  # 512x512, 512x360 and a CK+-sized frame
    np.testing.assert_array_equal(predictor.prepare([photo])[0][0], predictor.prepare(mixed)[0][1])
    alone, beside = predictor.predict([photo])[0], predictor.predict(mixed)[1]
    assert beside.face_found and beside.emotion == alone.emotion
    for name, probability in alone.emotion_probabilities.items():
        assert beside.emotion_probabilities[name] == pytest.approx(probability, abs=1e-5)
    for name, probability in alone.au_probabilities.items():
        assert beside.au_probabilities[name] == pytest.approx(probability, abs=1e-5)


def test_changing_the_thresholds_file_changes_the_aus(trained: Path, labelled, tmp_path, capsys):
    paths, _, _ = labelled
    folder = copy_model(trained, tmp_path / "copy")
    settings = json.loads((folder / "thresholds.json").read_text())
    probabilities = Predictor.from_run(folder).predict(paths[:1])[0].au_probabilities
    # Each AU's cut just below or just above its probability: AUs at even positions present.
    settings["thresholds"] = [
        probabilities[name] - 1e-4 if j % 2 == 0 else probabilities[name] + 1e-4
        for j, name in enumerate(settings["au_names"])
    ]
    (folder / "thresholds.json").write_text(json.dumps(settings))
    assert predict_main(["--model", str(folder), str(paths[0]), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["predictions"][0]["aus"] == au_names()[0::2]
    assert printed["thresholds"]["AU2"] == pytest.approx(settings["thresholds"][1])
    settings["thresholds"] = [1.0] * 15
    (folder / "thresholds.json").write_text(json.dumps(settings))
    assert predict_main(["--model", str(folder / "model.keras"), str(paths[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"][0]["aus"] == []


def test_cli_prints_one_row_per_image_of_a_folder(trained: Path, labelled, tmp_path, capsys):
    paths, _, _ = labelled
    folder = tmp_path / "images"
    folder.mkdir()
    for number, path in enumerate(paths[:3]):
        shutil.copy(path, folder / f"{number}_{path.name}")
    (folder / ".DS_Store").write_bytes(b"junk")
    assert predict_main(["--model", str(trained), str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["image", "emotion", "prob", "face", "AUs", "present"]
    assert len(lines) == 4
    for line, path in zip(lines[1:], sorted(folder.glob("*.png")), strict=True):
        cells = line.split()
        assert cells[0] == str(path) and cells[1] in EMOTIONS and 0 < float(cells[2]) <= 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-model", "no such file or folder"),
        ("no-thresholds", "thresholds file missing"),
        ("empty-folder", "folder holds no images"),
        ("bad-image", "not a readable image"),
        ("missing-image", "no such image file or folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(trained: Path, tmp_path, capsys, case, message):
    model, image = str(trained), str(tmp_path / "x.png")
    if case == "no-model":
        model = str(tmp_path / "nowhere")
    elif case == "no-thresholds":
        folder = copy_model(trained, tmp_path / "copy")
        (folder / "thresholds.json").unlink()
        model = str(folder)
    elif case == "empty-folder":
        (tmp_path / "empty").mkdir()
        image = str(tmp_path / "empty")
    elif case == "bad-image":
        Path(image).write_bytes(b"not a png")
    assert predict_main(["--model", model, image]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert message in captured.err


def test_a_thresholds_file_that_does_not_fit_its_model_is_one_line(
    trained: Path, labelled, tmp_path, capsys
):
    paths, _, _ = labelled
    folder = copy_model(trained, tmp_path / "copy")
    settings = json.loads((folder / "thresholds.json").read_text())
    settings["emotions"] = [*EMOTIONS, "fear"]  # the model has three emotion units
    (folder / "thresholds.json").write_text(json.dumps(settings))
    assert predict_main(["--model", str(folder), str(paths[0])]) == 2
    said = capsys.readouterr().err
    assert said == "error: model predicts 3 emotions but its thresholds file names 4\n"
