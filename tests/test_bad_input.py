"""One table of user mistakes, each driven through a real CLI's `main(argv)`.

Every case must end with exit code 2, exactly one `error: ...` line on stderr naming the thing and
the place, no traceback, and the case's folder exactly as it was before (no output half-written).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.export import main as export_main
from core.folder_lock import LOCK_NAME
from core.predict import main as predict_main
from core.prepare import main as prepare_main
from core.summary import main as summary_main
from core.train import main as train_main
from tests.conftest import Sequence, ck_float, hostile_pickle, make_ckplus, write_image
from tune.report.cli import main as report_main
from tune.report.crossval import main as evaluate_main
from tune.run import main as tune_main

CLIS: dict[str, Callable[[list[str]], int]] = {
    "evaluate": evaluate_main,
    "export": export_main,
    "predict": predict_main,
    "prepare": prepare_main,
    "report": report_main,
    "summary": summary_main,
    "train": train_main,
    "tune": tune_main,
}
PEAK = "cohn-kanade-images/S005/001/S005_001_00000002.png"
EMOTION = "Emotion/S005/001/S005_001_00000002_emotion.txt"
FACS = "FACS/S005/001/S005_001_00000002_facs.txt"


def ckplus(tmp: Path) -> Path:
    """A small valid CK+ folder: 9 subjects (a split needs 7), every emotion, two frames each."""
    sequences = [
        Sequence(f"S{index:03d}", "001", code, [(1, 2), (12, 3)], frames=2)
        for index, code in zip(range(5, 14), (3, 5, 7, 1, 5, 7, 6, 5, 7), strict=True)
    ]
    return make_ckplus(tmp / "ck", sequences)


def csv_folder(tmp: Path, rows: list[str], header: str = "path,subject,emotion,aus") -> Path:
    folder = tmp / "csv"
    for index in range(2):
        write_image(folder / f"img{index}.png", seed=index)
    (folder / "labels.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder / "labels.csv"


def png_bytes() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (48, 64), np.uint8)
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


# --- the cases: each sets up its own tiny input and returns (cli, argv) ------------------------


def summary_of(data: Path, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    return "summary", [str(data), "--plots", str(tmp / "plots"), *extra]


def ck_with(relative: str, content: bytes | str) -> Callable[[Path], tuple[str, list[str]]]:
    """A valid CK+ folder with one file replaced (or added)."""

    def setup(tmp: Path) -> tuple[str, list[str]]:
        root = ckplus(tmp)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        return summary_of(root, tmp)

    return setup


def csv_case(rows: list[str], header: str = "path,subject,emotion,aus", *extra: str):
    return lambda tmp: summary_of(csv_folder(tmp, rows, header), tmp, *extra)


def train_args(tmp: Path, *extra: str, data: Path | None = None) -> tuple[str, list[str]]:
    data = data or ckplus(tmp)
    return "train", ["--data", str(data), "--out", str(tmp / "out"), "--epochs", "1", *extra]


def tune_args(tmp: Path, *extra: str, data: Path | None = None) -> tuple[str, list[str]]:
    data = data or ckplus(tmp)
    return "tune", ["--data", str(data), "--storage", str(tmp / "runs"), "--name", "s", *extra]


def empty_folder(tmp: Path) -> tuple[str, list[str]]:
    (tmp / "empty").mkdir()
    (tmp / "empty" / ".DS_Store").write_bytes(b"junk")
    return summary_of(tmp / "empty", tmp)


def unreadable_folder(tmp: Path) -> tuple[str, list[str]]:
    root = ckplus(tmp)
    root.chmod(0)
    return summary_of(root, tmp)


def neither_folder(tmp: Path) -> tuple[str, list[str]]:
    write_image(tmp / "photos" / "a.png")
    return summary_of(tmp / "photos", tmp)


def wrong_model_weights(tmp: Path) -> tuple[str, list[str]]:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save_weights(tmp / "dense.weights.h5")
    return train_args(tmp, "--backbone-weights", str(tmp / "dense.weights.h5"))


def out_is_a_file(tmp: Path) -> tuple[str, list[str]]:
    (tmp / "out").write_text("not a folder")
    return train_args(tmp)


def storage_under_a_file(tmp: Path) -> tuple[str, list[str]]:
    (tmp / "file.txt").write_text("not a folder")
    cli, argv = tune_args(tmp, "--smoke-test")
    return cli, [*argv, "--storage", str(tmp / "file.txt" / "runs")]


def truncated_png_in_training(tmp: Path) -> tuple[str, list[str]]:
    ck_with(PEAK, png_bytes()[:300])(tmp)
    return train_args(tmp, data=tmp / "ck")


def empty_csv(tmp: Path) -> tuple[str, list[str]]:
    manifest = csv_folder(tmp, [])
    manifest.write_bytes(b"")
    return summary_of(manifest, tmp)


def transfer_missing_weights(tmp: Path) -> tuple[str, list[str]]:
    return tune_args(tmp, "--space", "transfer", "--backbone-weights", str(tmp / "nope.h5"))


def mini_xception_with_wrong_weights(tmp: Path) -> tuple[str, list[str]]:
    cli, argv = wrong_model_weights(tmp)
    return cli, [*argv, "--backbone", "mini_xception"]


def weights_for_a_searched_backbone(tmp: Path) -> tuple[str, list[str]]:
    (tmp / "weights.hdf5").write_bytes(b"")
    return tune_args(tmp, "--backbone-weights", str(tmp / "weights.hdf5"))


def saved_study(
    tmp: Path, *, tuner: bool, damaged: bool = False, **study: object
) -> tuple[str, list[str]]:
    """A study folder as `tune.run` leaves it: study.json (with `study`'s values); Tune's
    tuner.pkl and state files (the experiment state cut short when `damaged`), no whole copy."""
    import json
    import pickle

    from tune.study import STUDY_FILE, StudySettings

    folder = tmp / "runs" / "s"
    StudySettings(space="tiny", name="s", storage=str(tmp / "runs")).save(folder)
    saved = json.loads((folder / STUDY_FILE).read_text())
    (folder / STUDY_FILE).write_text(json.dumps({**saved, **study}))
    if tuner:  # Tune's layouts (tune.saved_state.LAYOUTS), naming the study
        (folder / "tuner.pkl").write_bytes(pickle.dumps(TUNER_STATE))
    if damaged:
        (folder / "experiment_state-2026-11-25_10-00-00.json").write_text('{"trial_da')
        (folder / "search_gen_state-2026-11-25_10-00-00.json").write_bytes(
            pickle.dumps({"counter": 0, "total_samples": 4})
        )
        (folder / "searcher-state-2026-11-25_10-00-00.pkl").write_bytes(
            pickle.dumps(SEARCHER_STATE)
        )
    return "tune", ["--resume", "--name", "s", "--storage", str(tmp / "runs")]


TUNER_STATE = {"_tune_config": None, "_run_config": "s"}
SEARCHER_STATE = {"_sampler": None, "_study_name": "s", "_space": None}


def state_replaced(file_name: str, state: object) -> Callable[[Path], tuple[str, list[str]]]:
    """A saved study with one of Tune's state files holding `state` instead."""

    def setup(tmp: Path) -> tuple[str, list[str]]:
        import pickle

        cli, argv = saved_study(tmp, tuner=True)
        (tmp / "runs" / "s" / file_name).write_bytes(pickle.dumps(state))
        return cli, argv

    return setup


HELD_LOCKS: list[int] = []  # the descriptors of the locks cases hold as another run would


def in_use(folder: Path) -> None:
    """Hold `folder`'s lock (core.folder_lock) as a run of process 4242 would."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(descriptor, b"4242 (tune/run.py --name s)")
    HELD_LOCKS.append(descriptor)


def study_in_use(tmp: Path, cli: str) -> tuple[str, list[str]]:
    """A study that another run holds, resumed or reported on."""
    argv = saved_study(tmp, tuner=True)[1]
    in_use(tmp / "runs" / "s")
    return (cli, argv) if cli == "tune" else (cli, [str(tmp / "runs" / "s")])


def train_into_a_folder_in_use(tmp: Path) -> tuple[str, list[str]]:
    in_use(tmp / "out")
    return train_args(tmp)


def report_on_saved_study(tmp: Path, **study: object) -> tuple[str, list[str]]:
    saved_study(tmp, tuner=True, **study)
    return "report", [str(tmp / "runs" / "s")]


def hostile_saved_state(tmp: Path) -> tuple[str, list[str]]:
    """A saved study whose searcher state runs `touch marker` when Tune loads it: the snapshot
    check sees the marker if it ran."""
    cli, argv = saved_study(tmp, tuner=True)
    state = tmp / "runs" / "s" / "searcher-state-2026-11-25_10-00-00.pkl"
    state.write_bytes(hostile_pickle(tmp / "marker"))
    return cli, argv


def state_writable_by_others(tmp: Path) -> tuple[str, list[str]]:
    cli, argv = saved_study(tmp, tuner=True)
    (tmp / "runs" / "s" / "tuner.pkl").chmod(0o666)
    return cli, argv


def out_through_a_link(tmp: Path) -> tuple[str, list[str]]:
    """--out a symbolic link to an empty folder: a folder renamed into place replaces the link."""
    (tmp / "real").mkdir()
    (tmp / "link").symlink_to(tmp / "real")
    return "train", ["--data", str(ckplus(tmp)), "--out", str(tmp / "link"), "--epochs", "1"]


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but that holds no pixels: a decoder would
    allocate the declared size before finding out."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def ck_with_entry(relative: str, make: Callable[[Path], object], cli: str = "summary"):
    """A valid CK+ folder whose file at `relative` is replaced by what `make(path)` puts there."""

    def setup(tmp: Path) -> tuple[str, list[str]]:
        root = ckplus(tmp)
        target = root / relative
        target.unlink()
        make(target)
        return train_args(tmp, data=root) if cli == "train" else summary_of(root, tmp)

    return setup


def report_of(tmp: Path, name: str, content: str) -> tuple[str, list[str]]:
    """`tune.report` on a finished-looking study folder whose `name` holds `content`."""
    saved_study(tmp, tuner=True)
    folder = tmp / "runs" / "s"
    (folder / "results.csv").write_text("trial_id,order,status,epochs,score\n1,0,finished,3,0.5\n")
    (folder / name).write_text(content)
    return "report", [str(folder)]


def nested_emotion(tmp: Path) -> tuple[str, list[str]]:
    root = ckplus(tmp)
    (root / "Emotion").rename(tmp / "Emotion")
    (root / "Emotion").mkdir()
    (tmp / "Emotion").rename(root / "Emotion" / "Emotion")
    return summary_of(root, tmp)


def csv_with_folder(tmp: Path) -> tuple[str, list[str]]:
    manifest = csv_folder(tmp, ["img0.png,S1,happy,1", "sub,S2,sad,4"])
    (manifest.parent / "sub").mkdir()
    return summary_of(manifest, tmp)


def csv_with_text_file(tmp: Path) -> tuple[str, list[str]]:
    manifest = csv_folder(tmp, ["img0.png,S1,happy,1", "notes.txt,S2,sad,4"])
    (manifest.parent / "notes.txt").write_text("not an image")
    return summary_of(manifest, tmp)


def model_folder(tmp: Path, model: bytes | dict[str, bytes], thresholds: str | None = None):
    """`--model` at a folder holding model.keras (raw bytes, or a zip of the named members) and,
    when given, thresholds.json; one real image to predict."""
    import zipfile

    folder = tmp / "model"
    folder.mkdir()
    if isinstance(model, bytes):
        (folder / "model.keras").write_bytes(model)
    else:
        with zipfile.ZipFile(folder / "model.keras", "w") as archive:
            for name, content in model.items():
                archive.writestr(name, content)
    if thresholds is not None:
        (folder / "thresholds.json").write_text(thresholds)
    return "predict", ["--model", str(folder), str(write_image(tmp / "face.png"))]


def tflite_folder(tmp: Path, content: bytes) -> tuple[str, list[str]]:
    """`--model` at a core.export folder whose model.tflite holds `content`."""
    folder = tmp / "export"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(content)
    (folder / "thresholds.json").write_text(thresholds_with())
    return "predict", ["--model", str(folder), str(write_image(tmp / "face.png"))]


KERAS_LIKE = {"config.json": b"{}", "model.weights.h5": b"", "metadata.json": b"{}"}
GOOD_THRESHOLDS = {
    "au_names": ["AU1", "AU2"],
    "thresholds": [0.5, 0.4],
    "input_size": 96,
    "crop_fraction": 1.0,
    "prepared_size": 480,
}


def written(path: Path, content: bytes) -> Path:
    """`content` at `path`, its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def prepare_args(tmp: Path, item: Path) -> tuple[str, list[str]]:
    return "prepare", [str(item), "--out", str(tmp / "out")]


def thresholds_with(**changes: object) -> str:
    import json

    return json.dumps({**GOOD_THRESHOLDS, **changes})


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], tuple[str, list[str]]]
    message: str  # a fragment of the one error line; {tmp} is the case's folder
    root_bypasses: bool = False  # a permission check that root is exempt from
    starts_ray: bool = False  # the only way to know: ask the (local) cluster

    def param(self):
        return pytest.param(self, id=self.id, marks=[pytest.mark.slow] if self.starts_ray else [])


CASES = [
    # data folders
    Case("missing-folder", lambda t: summary_of(t / "nope", t), "{tmp}/nope: data path does not"),
    Case("empty-folder", empty_folder, "{tmp}/empty: data folder is empty"),
    Case("unreadable-folder", unreadable_folder, "{tmp}/ck: data folder is not readable", True),
    Case("neither-ckplus-nor-csv", neither_folder, "{tmp}/photos: neither a CK+ folder"),
    Case(
        "data-file-not-csv",
        lambda t: summary_of(write_image(t / "face.png"), t),
        "{tmp}/face.png: a data file must be a CSV",
    ),
    Case(
        "study-data-missing",
        lambda t: tune_args(t, "--smoke-test", data=t / "nope"),
        "{tmp}/nope: data path does not exist",
    ),
    Case(
        "training-data-missing",
        lambda t: train_args(t, data=t / "gone.csv"),
        "{tmp}/gone.csv: data path does not exist",
    ),
    # images of a CK+ folder
    Case("zero-byte-png", ck_with(PEAK, b""), f"{PEAK}: not a readable image"),
    Case("truncated-png", ck_with(PEAK, png_bytes()[:300]), f"{PEAK}: not a readable image"),
    Case("text-named-png", ck_with(PEAK, "hello"), f"{PEAK}: not a readable image"),
    Case(
        "truncated-png-in-training",
        truncated_png_in_training,
        f"{PEAK}: not a readable image (corrupt, truncated",
    ),
    # Emotion and FACS files
    Case("emotion-text", ck_with(EMOTION, "happy\n"), f"{EMOTION}:1: 'happy' is not a number"),
    Case(
        "emotion-two-numbers",
        ck_with(EMOTION, ck_float(3) + ck_float(5)),
        f"{EMOTION}:1: expected one emotion code, got 2 values",
    ),
    Case(
        "emotion-out-of-range",
        ck_with(EMOTION, ck_float(9)),
        f"{EMOTION}:1: emotion code 9 is not one of 1-7",
    ),
    Case("emotion-neutral", ck_with(EMOTION, ck_float(0)), f"{EMOTION}:1: emotion code 0"),
    Case("emotion-empty", ck_with(EMOTION, "\n \n"), f"{EMOTION}: empty emotion file"),
    Case("emotion-binary", ck_with(EMOTION, b"\xff\xfe\x00"), f"{EMOTION}: not a text file"),
    Case(
        "facs-one-column",
        ck_with(FACS, ck_float(1) + "\n"),
        f"{FACS}:1: expected two numbers (AU, intensity), got 1",
    ),
    Case("facs-text", ck_with(FACS, "AU1 strong\n"), f"{FACS}:1: 'AU1' is not a number"),
    Case(
        "facs-intensity-out-of-range",
        ck_with(FACS, ck_float(1) + ck_float(9)),
        f"{FACS}:1: AU 1 with intensity 9 is out of range",
    ),
    # CSV manifests
    Case(
        "csv-missing-column",
        csv_case(["img0.png,S1,1"], header="path,subject,aus"),
        "{tmp}/csv/labels.csv:1: missing column(s) emotion",
    ),
    Case(
        "csv-unknown-emotion",
        csv_case(["img0.png,S1,joyful,1+2"]),
        "{tmp}/csv/labels.csv:2: column 'emotion': unknown emotion 'joyful'",
    ),
    Case(
        "csv-au-column-with-2",
        csv_case(["img0.png,S1,happy,1,2"], "path,subject,emotion,AU1,AU2", "--aus", "1,2"),
        "labels.csv:2: column 'AU2': expected 0 or 1, got '2'",
    ),
    Case(
        "csv-path-outside-folder",
        csv_case(["../outside.png,S1,happy,1"]),
        "labels.csv:2: column 'path': ../outside.png lies outside the manifest's folder",
    ),
    Case(
        "csv-missing-image",
        csv_case(["img0.png,S1,happy,1", "gone.png,S2,sad,4"]),
        "labels.csv:3: column 'path': image {tmp}/csv/gone.png does not exist",
    ),
    Case("csv-zero-bytes", empty_csv, "{tmp}/csv/labels.csv: empty manifest"),
    Case(
        "csv-wrong-value-count",
        csv_case(["img0.png,S1"]),
        "labels.csv:2: 2 values for 4 columns",
    ),
    # settings
    Case("peak-frames-zero", lambda t: summary_of(ckplus(t), t, "--peak-frames", "0"), "--peak-f"),
    Case("unknown-space", lambda t: tune_args(t, "--space", "huge"), "unknown search space 'huge'"),
    Case(
        "unknown-target-metric",
        lambda t: tune_args(t, "--target", "val_happiness=0.9"),
        "unknown target metric 'val_happiness'",
    ),
    Case(
        "target-without-value",
        lambda t: train_args(t, "--target", "val_emotion_accuracy"),
        "--target 'val_emotion_accuracy': expected METRIC=VALUE",
    ),
    Case("num-samples-zero", lambda t: tune_args(t, "--num-samples", "0"), "--num-samples"),
    # output folders judged by what they are
    Case(
        "out-empty-path",
        lambda t: ("train", ["--out", ""]),
        "argument --out: an empty path; name a folder",
    ),
    Case(
        "storage-empty-path",
        lambda t: tune_args(t, "--storage", " "),
        "argument --storage: an empty path; name a folder",
    ),
    Case("out-symbolic-link", out_through_a_link, "--out {tmp}/link: a symbolic link (to {tmp}/"),
    Case(
        "out-current-folder",
        lambda t: ("prepare", [str(ckplus(t)), "--out", "."]),
        "--out .: the current folder (or one above it); name a new folder",
    ),
    # every number with an upper bound where an absurd value hurts, checked before work
    Case(
        "num-samples-absurd",
        lambda t: tune_args(t, "--num-samples", "1000000000"),
        "--num-samples: expected a whole number from 1 to 100000, got 1000000000",
    ),
    Case(
        "time-budget-absurd",
        lambda t: tune_args(t, "--time-budget", "1e12"),
        "--time-budget: expected a number above 0 and at most 2.592e+06, got 1e12",
    ),
    Case(
        "export-threads-absurd",
        lambda t: ("export", [str(t), "--out", str(t / "out"), "--threads", "100000"]),
        "--threads: expected a whole number from 1 to ",
    ),
    Case(
        "export-calibration-absurd",
        lambda t: ("export", [str(t), "--out", str(t / "o"), "--calibration-images", "10000000"]),
        "--calibration-images: expected a whole number from 1 to 10000, got 10000000",
    ),
    Case(
        "input-size-absurd",
        lambda t: train_args(t, "--input-size", "100000"),
        "input_size=100000: expected a whole number <= 1024",
    ),
    Case(
        "batch-size-absurd",
        lambda t: train_args(t, "--batch-size", "1000000"),
        "batch_size must be a whole number from 1 to 4096, got 1000000",
    ),
    Case(
        "folds-absurd",
        lambda t: ("evaluate", [str(t), "--folds", "1000"]),
        "--folds: expected a whole number from 2 to 100, got 1000",
    ),
    Case(
        "objectives-one",
        lambda t: tune_args(t, "--objectives", "emotion"),
        "--objectives emotion: give two or three objectives",
    ),
    Case(
        "objectives-unknown",
        lambda t: tune_args(t, "--objectives", "emotion,speed"),
        "--objectives: unknown objective 'speed'; known: emotion, au, params, latency",
    ),
    Case("time-budget-negative", lambda t: tune_args(t, "--time-budget", "-5"), "--time-budget"),
    Case(
        "finalists-zero",
        lambda t: tune_args(t, "--finalists", "0"),
        "--finalists: expected a whole number from 1 to 20, got 0",
    ),
    Case(
        "confirm-absurd",
        lambda t: tune_args(t, "--confirm", "1000"),
        "--confirm: expected a whole number from 0 to 20, got 1000",
    ),
    Case(
        "confirm-share-whole-budget",
        lambda t: tune_args(t, "--confirm-share", "1"),
        "--confirm-share: expected a number above 0 and at most 0.9, got 1",
    ),
    Case("cpus-per-trial-zero", lambda t: tune_args(t, "--cpus-per-trial", "0"), "--cpus-per-t"),
    Case(
        "gpus-per-trial-above-any-node",
        lambda t: tune_args(t, "--smoke-test", "--gpus-per-trial", "64"),
        "--gpus-per-trial 64.0: no node",
        starts_ray=True,
    ),
    Case("epochs-zero", lambda t: train_args(t, "--epochs", "0"), "argument --epochs"),
    Case("input-size-zero", lambda t: train_args(t, "--input-size", "0"), "--input-size"),
    Case("batch-size-negative", lambda t: train_args(t, "--batch-size", "-4"), "--batch-size"),
    Case("dropout-one", lambda t: train_args(t, "--dropout", "1"), "argument --dropout"),
    Case(
        "prepared-size-tiny",
        lambda t: train_args(t, "--prepared-size", "8"),
        "--prepared-size: expected a whole number from 32 to 2048, got 8",
    ),
    # weights files
    Case(
        "transfer-from-scratch",
        lambda t: tune_args(t, "--space", "transfer", "--backbone-weights", "none"),
        "space 'transfer' transfers pretrained weights: --backbone-weights none",
    ),
    Case(
        "weights-of-another-backbone",
        lambda t: train_args(t, "--backbone-weights", "fer2013"),
        "backbone_weights='fer2013' are mini_xception weights, not mobilenet's",
    ),
    Case(
        "weights-for-a-searched-backbone",
        weights_for_a_searched_backbone,
        "space 'large_sample' searches the backbone: --backbone-weights needs --backbone",
    ),
    Case(
        "mini-xception-too-small",
        lambda t: train_args(t, "--backbone", "mini_xception", "--input-size", "40"),
        "input_size=40: expected a whole number >= 48",
    ),
    Case(
        "mini-xception-weights-of-another-model",
        mini_xception_with_wrong_weights,
        "backbone_weights={tmp}/dense.weights.h5: not the FER2013 mini-Xception weights",
    ),
    Case(
        "transfer-weights-missing",
        transfer_missing_weights,
        "--backbone-weights {tmp}/nope.h5: file does not exist",
    ),
    Case(
        "train-weights-missing",
        lambda t: train_args(t, "--backbone-weights", str(t / "nope.weights.h5")),
        "--backbone-weights {tmp}/nope.weights.h5: file does not exist",
    ),
    Case(
        "train-weights-of-another-model",
        wrong_model_weights,
        "backbone_weights={tmp}/dense.weights.h5: does not match",
    ),
    # output folders and studies
    Case("out-is-a-file", out_is_a_file, "--out {tmp}/out: exists and is not a folder"),
    Case(
        "out-under-a-file",
        lambda t: train_args(t, "--out", str(write_image(t / "x.png") / "out")),
        "--out {tmp}/x.png/out: {tmp}/x.png is a file, not a folder",
    ),
    Case(
        "plots-is-a-file",
        lambda t: summary_of(ckplus(t), t, "--plots", str(write_image(t / "x.png"))),
        "--plots {tmp}/x.png: exists and is not a folder",
    ),
    Case(
        "plots-under-a-file",
        lambda t: summary_of(ckplus(t), t, "--plots", str(write_image(t / "x.png") / "p")),
        "--plots {tmp}/x.png/p: {tmp}/x.png is a file, not a folder",
    ),
    Case(
        "storage-under-a-file",
        storage_under_a_file,
        "--storage {tmp}/file.txt/runs: {tmp}/file.txt is a file, not a folder",
    ),
    Case(
        "resume-unknown-name",
        lambda t: ("tune", ["--resume", "--name", "ghost", "--storage", str(t / "runs")]),
        "--resume --name ghost: no study at {tmp}/runs/ghost",
    ),
    Case(
        "resume-without-name",
        lambda t: ("tune", ["--resume", "--storage", str(t / "runs")]),
        "--resume needs --name",
    ),
    Case(
        "resume-changes-the-study",
        lambda t: ("tune", [*saved_study(t, tuner=True)[1], "--space", "tiny", "--seed", "3"]),
        "--resume continues the study as it was saved (study.json): --space, --seed cannot be",
    ),
    Case(
        "resume-while-it-runs",
        lambda t: study_in_use(t, "tune"),
        "--resume --name s: {tmp}/runs/s: in use by process 4242 (tune/run.py --name s); wait",
    ),
    Case(
        "report-while-the-study-runs",
        lambda t: study_in_use(t, "report"),
        "tune.report {tmp}/runs/s: in use by process 4242 (tune/run.py --name s)",
    ),
    Case(
        "train-into-a-folder-in-use",
        train_into_a_folder_in_use,
        "--out {tmp}/out: in use by process 4242",
    ),
    Case(
        "resume-hostile-saved-state",
        hostile_saved_state,
        "{tmp}/runs/s/searcher-state-2026-11-25_10-00-00.pkl: names posix.system, which no saved",
    ),
    Case(
        "resume-searcher-state-of-another-kind",
        state_replaced("searcher-state-2026-11-25_10-00-00.pkl", ["not", "a", "searcher"]),
        "searcher-state-2026-11-25_10-00-00.pkl: not a searcher's state (a pickle of something",
    ),
    Case(
        "resume-tuner-of-another-study",
        state_replaced("tuner.pkl", {**TUNER_STATE, "_run_config": "t"}),
        "tuner.pkl: Tune's saved Tuner of another study (it does not name 's', study.json's)",
    ),
    Case(
        "resume-state-writable-by-others",
        state_writable_by_others,
        "{tmp}/runs/s/tuner.pkl: writable by others (mode -rw-rw-rw-): Tune's saved state is code",
    ),
    Case(
        "resume-never-started",
        lambda t: saved_study(t, tuner=False),
        "{tmp}/runs/s holds no saved Tune state (tuner.pkl is missing)",
    ),
    Case(
        "report-study-json-unknown-objective",
        lambda t: report_on_saved_study(t, objectives=["emotion", "speed"]),
        'study.json is damaged (objectives is "speed", expected one of emotion, au, params',
    ),
    Case(
        "resume-study-json-unknown-space",
        lambda t: saved_study(t, tuner=True, space="huge"),
        'study.json is damaged (space is "huge", expected one of base, large_sample',
    ),
    Case(
        "resume-study-json-mistyped",
        lambda t: saved_study(t, tuner=True, num_samples="8"),
        'study.json is damaged (num_samples is "8", expected int)',
    ),
    Case(
        "resume-damaged-state-without-a-copy",
        lambda t: saved_study(t, tuner=True, damaged=True),
        "saved state is damaged (experiment_state-2026-11-25_10-00-00.json does not load",
    ),
    # only regular files are read, every read is bounded, image sizes are judged from the header
    Case(
        "frame-is-a-link-to-dev-zero",
        ck_with_entry(PEAK, lambda p: p.symlink_to("/dev/zero"), cli="train"),
        f"{PEAK}: not a regular file (a character device)",
    ),
    Case(
        "frame-is-a-folder",
        ck_with_entry(PEAK, lambda p: p.mkdir()),
        f"{PEAK}: not a regular file (a folder)",
    ),
    Case(
        "frame-1x1",
        ck_with_entry(PEAK, lambda p: write_image(p, size=(1, 1)), cli="train"),
        f"{PEAK}: image is 1x1 pixels, too small to hold a face",
    ),
    Case(
        "frame-declares-400-megapixels",
        ck_with_entry(PEAK, lambda p: p.write_bytes(png_declaring(20000, 20000))),
        f"{PEAK}: image declares 400,000,000 pixels, over the 100 million pixels",
    ),
    Case(
        "emotion-file-is-a-folder",
        ck_with_entry(EMOTION, lambda p: p.mkdir()),
        f"{EMOTION}: not a regular file (a folder)",
    ),
    Case(
        "csv-path-is-a-folder",
        csv_with_folder,
        "labels.csv:3: column 'path': image {tmp}/csv/sub is not a regular file",
    ),
    Case(  # one list of image types for files named and folders searched
        "csv-path-not-an-image-type",
        csv_with_text_file,
        "labels.csv:3: column 'path': {tmp}/csv/notes.txt: not an image type read here (.bmp,",
    ),
    Case(
        "prepare-a-file-not-an-image-type",
        lambda t: prepare_args(t, written(t / "notes.txt", b"text")),
        "{tmp}/notes.txt: not an image type read here (.bmp, .gif,",
    ),
    # labels that cannot be right are refused, never rounded; messages name the real cause
    Case("facs-au-code-1.5", ck_with(FACS, "1.5 2\n"), f"{FACS}:1: AU code 1.5 is not a whole"),
    Case(
        "emotion-utf-16",
        ck_with(EMOTION, "3\n".encode("utf-16")),
        f"{EMOTION}: not a text file in UTF-8 (it is UTF-16",
    ),
    Case(
        "emotion-309-digits",
        ck_with(EMOTION, "9" * 309 + "\n"),
        f"{EMOTION}:1: '999999999999999999999...' is not a finite number",
    ),
    Case(
        "csv-image-listed-twice",
        csv_case(["img0.png,S1,happy,1", "img0.png,S2,sad,4"]),
        "labels.csv:3: column 'path': image {tmp}/csv/img0.png is already listed on line 2",
    ),
    Case(
        "csv-header-names-a-column-twice",
        csv_case(["img0.png,S1,happy,1,sad"], "path,subject,emotion,aus,emotion"),
        "labels.csv:1: column 'emotion' appears twice in the header",
    ),
    Case(
        "csv-aus-and-au-columns",
        csv_case(["img0.png,S1,happy,1,0"], "path,subject,emotion,aus,AU1"),
        "labels.csv:1: both an 'aus' column and AU columns (AU1)",
    ),
    Case("tune-data-empty", lambda t: tune_args(t, "--data", ""), "argument --data: an empty"),
    Case(
        "ckplus-nested-one-level-too-deep",
        nested_emotion,
        "{tmp}/ck/Emotion/Emotion: the CK+ tree is nested one level too deep",
    ),
    Case(
        "one-emotion-class",
        lambda t: train_args(t, data=csv_folder(t, ["img0.png,S1,happy,1", "img1.png,S2,happy,4"])),
        "every labelled image has emotion 'positive'; the emotion head needs at least two",
    ),
    # what the project wrote and reads back: a damaged file is named with what is wrong
    Case(
        "report-results-csv-damaged",
        lambda t: report_of(t, "results.csv", "a,b\n1,2\n"),
        "{tmp}/runs/s/results.csv: damaged (no column trial_id, order, status, epochs, score)",
    ),
    Case(
        "report-study-json-mistyped",
        lambda t: report_of(t, "study.json", '{"space": "tiny", "name": "s", "storage": 3}'),
        "{tmp}/runs/s/study.json is damaged (storage is 3, expected str)",
    ),
    Case(
        "model-random-bytes",
        lambda t: model_folder(t, os.urandom(256), thresholds_with()),
        "{tmp}/model/model.keras: not a Keras model file (not a .keras zip archive)",
    ),
    Case(
        "model-zip-without-config",
        lambda t: model_folder(t, {"metadata.json": b"{}"}, thresholds_with()),
        "{tmp}/model/model.keras: damaged Keras model file (lacks config.json, model.weights.h5)",
    ),
    Case(
        "model-is-an-image",
        lambda t: ("predict", ["--model", str(write_image(t / "x.png")), str(t / "x.png")]),
        "--model {tmp}/x.png: not a .keras model file",
    ),
    Case(
        "tflite-random-bytes",
        lambda t: tflite_folder(t, os.urandom(256)),
        "{tmp}/export/model.tflite: not a TFLite model file (no TFL3 mark)",
    ),
    Case(
        "tflite-cut-short",
        lambda t: tflite_folder(t, b"\x1c\0\0\0TFL3\0\0"),
        "{tmp}/export/model.tflite: not a loadable TFLite model",
    ),
    Case(
        "export-out-is-a-file",
        lambda t: ("export", [str(t), "--out", str(write_image(t / "x.png"))]),
        "--out {tmp}/x.png: exists and is not a folder",
    ),
    Case(
        "prepare-truncated-image",
        lambda t: prepare_args(t, written(t / "cut.png", png_bytes()[:300])),
        "{tmp}/cut.png: not a readable image",
    ),
    Case(
        "prepare-folder-without-images",
        lambda t: prepare_args(t, written(t / "docs" / "a.txt", b"text").parent),
        "{tmp}/docs: folder holds no images",
    ),
    Case(
        "thresholds-unknown-detector",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with(face_detector="dlib")),
        'thresholds.json: face_detector is "dlib"; expected one of mtcnn, haar',
    ),
    Case(
        "thresholds-a-number-for-a-list",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with(thresholds=5)),
        "thresholds.json: thresholds is 5; expected a list of numbers in [0, 1]",
    ),
    Case(
        "thresholds-a-string-for-a-size",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with(input_size="96")),
        'thresholds.json: input_size is "96"; expected a whole number from 32 to 2048',
    ),
    Case(
        "thresholds-nan",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with().replace("0.4", "NaN")),
        "thresholds.json: not a readable thresholds file (NaN is not a number JSON allows)",
    ),
    Case(
        "thresholds-repeated-au",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with(au_names=["AU1", "AU1"])),
        "thresholds.json: au_names names AU1 more than once",
    ),
    Case(
        "thresholds-null",
        lambda t: model_folder(t, KERAS_LIKE, thresholds_with(thresholds=[0.5, None])),
        "thresholds.json: thresholds is [0.5, null]; expected a list of numbers in [0, 1]",
    ),
    # every number has a range, checked before any work; study names stay inside --storage
    Case("seed-negative", lambda t: train_args(t, "--seed", "-1"), "--seed: expected a whole"),
    Case(
        "seed-too-large", lambda t: tune_args(t, "--seed", str(2**32)), "--seed: expected a whole"
    ),
    Case(
        "prepared-size-absurd",
        lambda t: train_args(t, "--prepared-size", "1000000"),
        "--prepared-size: expected a whole number from 32 to 2048",
    ),
    Case("input-size-too-small", lambda t: train_args(t, "--input-size", "16"), "input_size=16"),
    Case(
        "target-lower-is-better",
        lambda t: train_args(t, "--target", "val_loss=0.5"),
        "unknown target metric 'val_loss' (lower is better there",
    ),
    Case(
        "target-outside-0-1",
        lambda t: tune_args(t, "--target", "val_emotion_accuracy=1.5"),
        "val_emotion_accuracy=1.5: expected a number in [0, 1]",
    ),
    Case(
        "target-nan",
        lambda t: train_args(t, "--target", "val_au_f1_macro=nan"),
        "val_au_f1_macro=nan: expected a number in [0, 1]",
    ),
    Case("name-climbs-out", lambda t: tune_args(t, "--name", "../x"), "argument --name: '../x'"),
    Case(
        "name-absolute",
        lambda t: tune_args(t, "--name", str(t / "elsewhere")),
        "a study name is a plain name",
    ),
]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder` with its size and mtime: what a failed run must not change."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        entries[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return entries


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """TensorFlow's import is not a case's output: load it once before the table runs."""
    import keras  # noqa: F401


def test_the_table_holds_126_distinct_cases():
    assert len({case.id for case in CASES}) == len(CASES) == 126


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_a_user_mistake_is_one_line_exit_2_and_nothing_written(
    case: Case, tmp_path: Path, capfd: pytest.CaptureFixture
):
    if case.root_bypasses and os.geteuid() == 0:
        pytest.skip("runs as root: permission bits do not stop root from reading the folder")
    cli, argv = case.setup(tmp_path)
    capfd.readouterr()
    before = snapshot(tmp_path)
    try:
        code = CLIS[cli](argv)
    finally:
        for path in tmp_path.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
    err = capfd.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert case.message.format(tmp=tmp_path) in lines[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ("cache", "FERTUNE_CACHE {tmp}/cache: exists and is not a folder"),
        ("cache/sub", "FERTUNE_CACHE {tmp}/cache/sub: {tmp}/cache is a file, not a folder"),
    ],
)
def test_an_unusable_cache_folder_is_one_line_for_the_built_in_set(
    cache: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    monkeypatch.setenv("FERTUNE_CACHE", str(tmp_path / cache))
    before = snapshot(tmp_path)
    capfd.readouterr()
    code = summary_main(["--json"])
    err = capfd.readouterr().err
    assert code == 2
    assert err.strip() == "error: " + message.format(tmp=tmp_path)
    assert snapshot(tmp_path) == before


# --- images that must be converted, not rejected ------------------------------------------------


def write_peak(root: Path, kind: str) -> Path:
    path = root / PEAK
    rng = np.random.default_rng(1)
    if kind == "16-bit":
        cv2.imwrite(str(path), rng.integers(0, 65535, (48, 64), dtype=np.uint16))
    elif kind == "rgba":
        Image.fromarray(rng.integers(0, 255, (48, 64, 4), dtype=np.uint8), "RGBA").save(path)
    else:
        rgb = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "RGB")
        rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(path)
    return path


@pytest.mark.parametrize("kind", ["16-bit", "rgba", "palette"])
def test_unusual_image_formats_are_converted_to_8_bit_grey(kind: str, tmp_path: Path, capsys):
    from core.images.preprocess import prepare_image

    root = ckplus(tmp_path)
    peak = write_peak(root, kind)
    assert summary_main([str(root), "--json"]) == 0
    assert '"images": 9' in capsys.readouterr().out
    prepared = prepare_image(peak, size=32).image
    assert prepared.dtype == np.uint8 and prepared.shape == (32, 32)


def test_a_csv_path_outside_the_folder_is_accepted_when_allowed(tmp_path: Path, capsys):
    outside = write_image(tmp_path / "elsewhere" / "face.png")
    manifest = csv_folder(tmp_path, [f"{outside},S1,happy,12", "img0.png,S2,surprise,1+2"])
    assert summary_main([str(manifest)]) == 2
    assert "outside the manifest's folder" in capsys.readouterr().err
    assert summary_main([str(manifest), "--allow-outside-root"]) == 0
    assert "images 2, subjects 2" in capsys.readouterr().out
