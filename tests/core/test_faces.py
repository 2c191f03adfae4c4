"""Face detection and alignment on real photographs (the portraits inside matplotlib's and
scikit-image's wheels, eyes marked by hand in bench/detectors.py), made harder as users' own
photos are: turned, shifted, several sizes in one batch."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.data.sources import read_ckplus
from core.errors import DataError
from core.images.faces import DETECTORS, Face, check_detector, detect_face
from core.images.preprocess import prepare, prepare_image, prepare_images

ROOT = Path(__file__).resolve().parents[2]
SIZE = 160


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    """Every photo case of bench/detectors.py written as a PNG, by name."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import detectors
    finally:
        sys.path.remove(str(ROOT / "bench"))
    folder = tmp_path_factory.mktemp("photos")
    written = {}
    for name, image in detectors.photos().items():
        for index, case in enumerate(detectors.photo_cases(image, name)):
            path = folder / f"{name}-{index}.png"
            cv2.imwrite(str(path), case.image)
            written[case.name] = (path, case)
    return written


@pytest.mark.parametrize("photo", ["grace_hopper", "astronaut"])
@pytest.mark.parametrize("turn", ["turned +15", "turned -15"])
def test_a_turned_face_comes_out_with_its_eyes_level(cases, photo: str, turn: str):
    path, case = cases[f"{photo}, {turn}"]
    prepared = prepare_image(path, size=SIZE, detector="mtcnn")
    assert prepared.face_found
    assert abs(prepared.angle - case.roll) <= 3  # the turn applied undoes the marked tilt
    seen_again = detect_face(prepared.image, "mtcnn")  # and the crop's eyes are level
    assert seen_again is not None and abs(seen_again.eye_angle) <= 3


def test_the_haar_cascade_finds_the_upright_face_and_turns_nothing(cases):
    path, _ = cases["grace_hopper, as is"]
    prepared = prepare_image(path, size=SIZE, detector="haar")
    assert prepared.face_found and prepared.face.landmarks is None and prepared.angle == 0


@pytest.mark.parametrize("detector", DETECTORS)
def test_a_shifted_face_comes_out_centred(cases, detector: str):
    path, case = cases["grace_hopper, shifted"]
    prepared = prepare_image(path, size=SIZE, detector=detector)
    side = 1.6 * max(prepared.face.box[2:])
    assert np.hypot(*np.subtract(prepared.face.centre, case.centre)) <= 0.08 * side
    again = detect_face(prepared.image, "mtcnn")  # in the crop, the face sits in the middle
    assert again is not None
    assert np.hypot(*np.subtract(again.centre, (SIZE / 2, SIZE / 2))) <= 0.1 * SIZE


def test_a_face_gets_the_same_crop_alone_and_in_a_batch_of_mixed_sizes(cases, tmp_path: Path):
    """mtcnn 1.0 runs a batch's images through the scale pyramid of its largest one: a landscape
    crop of grace_hopper got a box 16 px shorter beside the square astronaut than alone
    ((178, 77, 176, 208) for (173, 72, 181, 224)). Box and crop must not depend on the
    neighbours; images of one canvas share a batch, which moves a landmark by float rounding."""
    landscape = tmp_path / "landscape.png"
    cv2.imwrite(str(landscape), cv2.imread(str(cases["grace_hopper, as is"][0]))[40:400])
    astronaut = cases["astronaut, as is"][0]
    beside = prepare_images([landscape, astronaut], size=SIZE)[0].face
    assert beside is not None and beside.box == prepare_image(landscape, size=SIZE).face.box
    paths = [landscape, *(path for path, _ in cases.values())]
    together = prepare_images(paths, size=SIZE, detector="mtcnn")
    for path, in_batch in zip(paths, together, strict=True):
        alone = prepare_image(path, size=SIZE, detector="mtcnn")
        assert (in_batch.face is None) == (alone.face is None), path.name
        if alone.face is not None:
            assert in_batch.face.box == alone.face.box, path.name
            assert _landmark_shift(in_batch.face, alone.face) < 1e-3, path.name
        assert np.abs(in_batch.image.astype(int) - alone.image.astype(int)).max() <= 1, path.name


def _landmark_shift(face: Face, other: Face) -> float:
    return max(math.dist(face.landmarks[name], other.landmarks[name]) for name in face.landmarks)


def test_a_detector_is_one_of_the_known(small_ckplus: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="unknown face detector 'dlib'; known: mtcnn, haar"):
        check_detector("dlib")
    with pytest.raises(DataError, match="unknown face detector"):
        prepare(read_ckplus(small_ckplus), detector="dlib", cache_dir=tmp_path, progress=False)
