"""Emotion and AUs of new images with a trained model: the `Predictor` library behind
`core.predict` (the command), `core.export` and `core.deploy.conversion`. Each image goes through
the very code path training used (`prepare_image`, then the config's centre crop and resize), and
AUs are cut at the thresholds tuned on validation, read from thresholds.json beside the model.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, first_line
from ..evaluation.thresholds import THRESHOLDS_FILE, read_thresholds
from ..images.faces import LEGACY_DETECTOR
from ..images.image_files import IMAGE_KINDS, check_image_type, is_image_file
from ..images.preprocess import (
    DEFAULT_FACE_MARGIN,
    DEFAULT_PREPARED_SIZE,
    crop_and_resize,
    prepare_images,
)
from ..labels import EMOTIONS
from .tflite_model import TFLITE_FILE, TFLITE_SUFFIX, LiteModel, load_tflite, read_tflite

MODEL_FILE = "model.keras"
KERAS_ARCHIVE_FILES = ("config.json", "model.weights.h5")  # what Keras 3 writes into a .keras
BATCH = 64


@dataclass(frozen=True)
class Prediction:
    """One image's prediction: emotion and its probabilities, AUs present at tuned thresholds."""

    path: str
    emotion: str
    probability: float
    emotion_probabilities: dict[str, float]
    aus: list[str]  # present: probability above the AU's tuned threshold
    au_probabilities: dict[str, float]
    face_found: bool  # False: no face detected, the image's centre square was used

    def as_dict(self) -> dict[str, Any]:
        """Plain types for `--json`."""
        return asdict(self)


class Predictor:
    """A trained dual-head model with the settings that prepare its inputs and cut its AUs."""

    def __init__(self, model: Any, settings: Mapping[str, Any]) -> None:
        self.model = model
        self.input_size = int(settings["input_size"])
        self.crop_fraction = float(settings.get("crop_fraction", 1.0))
        self.prepared_size = int(settings.get("prepared_size", DEFAULT_PREPARED_SIZE))
        self.face_margin = float(settings.get("face_margin", DEFAULT_FACE_MARGIN))
        self.face_detector = str(settings.get("face_detector", LEGACY_DETECTOR))
        self.emotions = list(settings.get("emotions", EMOTIONS))
        self.au_names = [str(name) for name in settings["au_names"]]
        self.thresholds = np.asarray(settings["thresholds"], dtype=float)
        _check_model_fits(model, self.input_size, len(self.au_names), len(self.emotions))

    @classmethod
    def from_model(
        cls,
        path: str | Path,
        config: Mapping[str, Any],
        thresholds: Sequence[float] | Mapping[str, float],
    ) -> Predictor:
        """A saved model, its training config (input_size, crop_fraction, au_names, ...), cuts."""
        names = list(config["au_names"])
        if isinstance(thresholds, Mapping):
            thresholds = [float(thresholds[name]) for name in names]
        return cls(load_model(Path(path)), {**config, "thresholds": list(thresholds)})

    @classmethod
    def from_run(cls, run_dir: str | Path) -> Predictor:
        """A study folder (its best/), a core.train or core.export output folder, or a model
        file (.keras or .tflite)."""
        model_file = find_model(Path(run_dir))
        check_model_file(model_file)  # the model's own fault first, not its neighbour's
        settings = read_thresholds(model_file.parent / THRESHOLDS_FILE)
        load = load_tflite if model_file.suffix == TFLITE_SUFFIX else load_model
        return cls(load(model_file), settings)

    def predict(self, paths: Iterable[str | Path]) -> list[Prediction]:
        """One prediction per image file, in the order given."""
        paths = [Path(p) for p in paths]
        predictions: list[Prediction] = []
        for start in range(0, len(paths), BATCH):
            predictions += self._predict_batch(paths[start : start + BATCH])
        return predictions

    def prepare(self, paths: Sequence[Path]) -> tuple[np.ndarray, list[bool]]:
        """(n, input_size, input_size, 1) float32 model inputs, and whether a face was found."""
        prepared = prepare_images(paths, self.prepared_size, self.face_margin, self.face_detector)
        squares = np.stack([p.image for p in prepared])
        views = crop_and_resize(squares, self.crop_fraction, self.input_size)
        return views[..., None].astype(np.float32), [p.face_found for p in prepared]

    def _predict_batch(self, paths: Sequence[Path]) -> list[Prediction]:
        inputs, faces = self.prepare(paths)
        outputs = self.model(inputs, training=False)
        emotion_prob = np.asarray(outputs["emotion"], dtype=float)
        au_prob = np.asarray(outputs["au"], dtype=float)
        present = au_prob > self.thresholds  # Keras' convention, as in core.evaluation.metrics
        return [
            Prediction(
                path=str(path),
                emotion=self.emotions[int(e.argmax())],
                probability=float(e.max()),
                emotion_probabilities={n: float(p) for n, p in zip(self.emotions, e, strict=True)},
                aus=[n for n, on in zip(self.au_names, flags, strict=True) if on],
                au_probabilities={n: float(p) for n, p in zip(self.au_names, a, strict=True)},
                face_found=bool(found),
            )
            for path, e, a, flags, found in zip(
                paths, emotion_prob, au_prob, present, faces, strict=True
            )
        ]


def find_model(path: Path, option: str = "--model") -> Path:
    """The model file of a model file (.keras or .tflite), a core.train folder, a study folder
    (best/model.keras) or a core.export folder (model.tflite)."""
    where = f"{option} {path}".strip()
    if path.is_file():
        if path.suffix not in (".keras", TFLITE_SUFFIX):
            raise DataError(
                f"{where}: not a .keras model file nor a {TFLITE_SUFFIX} one (give a study "
                f"folder, a core.train or core.export folder, a {MODEL_FILE} or a {TFLITE_FILE})"
            )
        return path
    for candidate in (path / "best" / MODEL_FILE, path / MODEL_FILE, path / TFLITE_FILE):
        if candidate.is_file():
            return candidate
    if not path.exists():
        raise DataError(f"{where}: no such file or folder")
    raise DataError(f"{where}: holds neither {MODEL_FILE}, best/{MODEL_FILE} nor {TFLITE_FILE}")


def load_model(path: Path) -> Any:
    """The Keras model of a run or model file, loaded in safe mode (no arbitrary code)."""
    from ..quiet import import_tensorflow

    import_tensorflow()
    import keras

    from ..model import builders  # noqa: F401  (registers the project's custom loss for loading)

    check_model_archive(path)
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras fails on a damaged archive in many ways (KeyError, ...)
        raise DataError(f"{path}: not a loadable Keras model ({first_line(error)})") from None


def check_model_file(path: Path) -> None:
    """A .tflite or a .keras file checked for what it claims to be, before anything reads it."""
    if path.suffix == TFLITE_SUFFIX:
        read_tflite(path)
    else:
        check_model_archive(path)


def check_model_archive(path: Path) -> None:
    """A .keras file is a zip holding the model's config and weights: check that much before
    Keras reads it, so a damaged file is named for what it is."""
    if not path.is_file():
        raise DataError(f"{path}: model file does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        raise DataError(f"{path}: not a Keras model file (not a .keras zip archive)") from None
    missing = [name for name in KERAS_ARCHIVE_FILES if name not in names]
    if missing:
        raise DataError(f"{path}: damaged Keras model file (lacks {', '.join(missing)})")


def _check_model_fits(model: Any, input_size: int, n_aus: int, n_emotions: int) -> None:
    """The model's input and outputs are what its thresholds file says (a mismatch answered
    with a traceback, or an emotion named from the wrong list, before)."""
    shape, outputs = _shapes(model)
    if outputs is None or set(outputs) != {"emotion", "au"}:
        raise DataError("model is not this project's dual-head model (outputs emotion and au)")
    if shape[1:3] != (input_size, input_size):
        raise DataError(
            f"model takes {shape[1]}x{shape[2]} images but its thresholds file says {input_size}"
        )
    au_units = int(outputs["au"][-1])
    if au_units != n_aus:
        raise DataError(f"model predicts {au_units} AUs but its thresholds file names {n_aus}")
    emotion_units = int(outputs["emotion"][-1])
    if emotion_units != n_emotions:
        raise DataError(
            f"model predicts {emotion_units} emotions but its thresholds file names {n_emotions}"
        )


def _shapes(model: Any) -> tuple[tuple, dict[str, tuple] | None]:
    """(input shape, output shapes by name; None when the outputs have no names) of a Keras or
    a TFLite model."""
    if isinstance(model, LiteModel):
        return model.input_shape, model.output_shapes
    outputs = model.output
    named = {n: tuple(t.shape) for n, t in outputs.items()} if isinstance(outputs, dict) else None
    return tuple(model.inputs[0].shape), named


def image_files(items: Iterable[str | Path]) -> list[Path]:
    """Image files named, or found in named folders (recursively, sorted); hidden files skipped.
    A file named is judged by the same list of image types as a folder's files."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and is_image_file(p) and not p.name.startswith(".")
            )
            if not inside:
                raise DataError(f"{path}: folder holds no images ({IMAGE_KINDS})")
            found += inside
        elif path.is_file():
            found.append(check_image_type(path))
        else:
            raise DataError(f"{path}: no such image file or folder")
    return found
