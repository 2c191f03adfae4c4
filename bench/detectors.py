"""Face detectors compared: faces found, centring error, alignment error, seconds per image.

Two sets: the built-in set (truth from its generator's plan: the drawn oval's centre and the
head's roll, each within its per-frame jitter of +-0.6 % of the width and +-1.5 degrees) and
real photographs turned into harder cases (matplotlib's grace_hopper.jpg and scikit-image's
astronaut, eye centres and mouth corners marked by hand at 8x zoom; every case moves the marks
with the image). Centring error: the distance from the crop's centre to the face's centre
(photos: halfway between the eyes' midpoint and the mouth's), in % of the crop's side, over the
faces found. Alignment error: how far the eye line is from level in the crop, in degrees.

`python bench/detectors.py [--detectors mtcnn haar] [--width 320] [--json]`
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.images import faces
from core.images.preprocess import DEFAULT_FACE_MARGIN, PreparedImage, prepare_images

# Hand-marked (x, y) in the original pixels: left eye, right eye, mouth left, mouth right.
PHOTO_MARKS = {
    "grace_hopper": ((222.0, 190.0), (303.6, 185.4), (232.0, 277.0), (304.0, 273.0)),
    "astronaut": ((204.0, 100.6), (244.4, 102.0), (202.6, 139.0), (244.0, 140.0)),
}


@dataclass
class Case:
    """One image and where its face truly is."""

    name: str
    image: np.ndarray  # BGR or BGRA, uint8
    centre: tuple[float, float]
    roll: float  # degrees the eye line is turned from level


def photos() -> dict[str, np.ndarray]:
    """The two real portraits that ship inside our dependencies' wheels."""
    import matplotlib.cbook
    import skimage.data

    grace = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return {"grace_hopper": grace, "astronaut": astronaut}


def _truth(marks: np.ndarray) -> tuple[tuple[float, float], float]:
    left, right, mouth_left, mouth_right = marks
    centre = ((left + right) / 2 + (mouth_left + mouth_right) / 2) / 2
    roll = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    return (float(centre[0]), float(centre[1])), roll


def _affine(image: np.ndarray, marks: np.ndarray, matrix: np.ndarray, size: tuple[int, int]):
    moved = cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)
    return moved, marks @ matrix[:, :2].T + matrix[:, 2]


def photo_cases(image: np.ndarray, name: str) -> list[Case]:
    """The photo as it is, turned, shifted, small, covered, turned away, dim, RGBA."""
    marks = np.array(PHOTO_MARKS[name], dtype=float)
    height, width = image.shape[:2]
    (cx, cy), _ = _truth(marks)
    variants: dict[str, tuple[np.ndarray, np.ndarray]] = {"as is": (image, marks)}
    for angle in (15, -15, 30):
        turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        variants[f"turned {angle:+d}"] = _affine(image, marks, turn, (width, height))
    shift = np.float32([[1, 0, 0.9 * width - cx], [0, 1, 0.35 * height - cy]])
    variants["shifted"] = _affine(image, marks, shift, (int(width * 1.5), height))
    half = np.float32([[0.45, 0, 0], [0, 0.45, 0]])
    variants["small"] = _affine(image, marks, half, (int(width * 0.45), int(height * 0.45)))
    covered = image.copy()
    eye_gap = np.linalg.norm(marks[1] - marks[0])
    hand = (int(marks[0][0] - 0.3 * eye_gap), int(marks[0][1] - 0.8 * eye_gap))
    axes = (int(0.9 * eye_gap), int(0.55 * eye_gap))
    cv2.ellipse(covered, hand, axes, 20, 0, 360, (60, 80, 120), -1)  # a hand on the head
    variants["covered"] = (covered, marks)
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    squeeze = np.float32(
        [[0, 0], [width * 0.8, height * 0.08], [width * 0.8, height * 0.92], [0, height]]
    )
    turn_away = cv2.getPerspectiveTransform(source, squeeze)
    away = cv2.warpPerspective(image, turn_away, (width, height), borderMode=cv2.BORDER_REPLICATE)
    moved = cv2.perspectiveTransform(marks[None].astype(np.float32), turn_away)[0]
    variants["turned away"] = (away, moved.astype(float))
    dim = np.clip(((image / 255.0) ** 1.8) * 120, 0, 255).astype(np.uint8)
    variants["dim"] = (dim, marks)
    rgba = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    rgba[:, : width // 5, 3] = 0  # a cut-out: transparent edges
    variants["rgba"] = (rgba, marks)
    return [Case(f"{name}, {kind}", im, *_truth(m)) for kind, (im, m) in variants.items()]


def builtin_cases(limit: int | None) -> list[tuple[Path, tuple[float, float], float]]:
    """The built-in set's labelled images with their plan's face centre and roll."""
    from core.data.sources import load_source
    from core.data.synthetic import face_place, plan_dataset

    subjects = {subject.name: subject for subject in plan_dataset(seed=0)}
    found = []
    for record in load_source(None).records[:limit]:
        subject_name, sequence_number = record.path.stem.split("_")[:2]
        subject = subjects[subject_name]
        sequence = next(s for s in subject.sequences if s.number == int(sequence_number))
        place = face_place(subject, sequence)
        found.append((record.path, (place.cx, place.cy), place.roll))
    return found


def errors(prepared: PreparedImage, centre, roll: float) -> tuple[float, float]:
    """(centring error in % of the crop's side, alignment error in degrees) of one crop."""
    face = prepared.face
    if face is None:
        return math.nan, math.nan
    side = DEFAULT_FACE_MARGIN * max(face.box[2], face.box[3])
    offset = math.dist(face.centre, centre)
    return 100 * offset / side, abs(roll - prepared.angle)


def measure(
    detector: str, items: list[tuple[Path, tuple[float, float], float]]
) -> dict[str, float]:
    """Faces found, median and 90th-percentile errors, seconds per image (a warm detector)."""
    paths = [path for path, _, _ in items]
    prepare_images(paths[:1], size=96, detector=detector)  # load the detector: not timed
    started = time.perf_counter()
    prepared = []
    for start in range(0, len(paths), 16):
        prepared += prepare_images(paths[start : start + 16], size=96, detector=detector)
    seconds = (time.perf_counter() - started) / len(paths)
    found = [
        errors(p, centre, roll)
        for p, (_, centre, roll) in zip(prepared, items, strict=True)
        if p.face_found
    ]
    centring = np.array([c for c, _ in found])
    alignment = np.array([a for _, a in found])
    return {
        "found": len(found),
        "images": len(items),
        "centring_median_pct": _stat(np.median, centring),
        "centring_p90_pct": _stat(lambda v: np.percentile(v, 90), centring),
        "alignment_median_deg": _stat(np.median, alignment),
        "alignment_max_deg": _stat(np.max, alignment),
        "seconds_per_image": seconds,
        "missed": [str(items[i][0].name) for i, p in enumerate(prepared) if not p.face_found],
    }


def _stat(function: Callable[[np.ndarray], float], values: np.ndarray) -> float | None:
    return float(function(values)) if len(values) else None


def photo_items(folder: Path) -> list[tuple[Path, tuple[float, float], float]]:
    """The photo cases written as PNG files (the path a user's files take)."""
    items = []
    for name, image in photos().items():
        for index, case in enumerate(photo_cases(image, name)):
            path = folder / f"{index:02d} {case.name.replace(', ', ' - ')}.png"
            cv2.imwrite(str(path), case.image)
            items.append((path, case.centre, case.roll))
    return items


def format_table(results: dict[str, dict[str, dict]]) -> str:
    """One markdown row per set and detector."""
    lines = [
        "| set | detector | faces found | centring error median / p90 (% of crop) "
        "| alignment error median / max (deg) | ms per image |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for set_name, by_detector in results.items():
        for detector, r in by_detector.items():
            c = f"{_shown(r['centring_median_pct'])} / {_shown(r['centring_p90_pct'])}"
            a = f"{_shown(r['alignment_median_deg'])} / {_shown(r['alignment_max_deg'])}"
            ms = 1000 * r["seconds_per_image"]
            found = f"{r['found']} / {r['images']}"
            lines.append(f"| {set_name} | {detector} | {found} | {c} | {a} | {ms:.0f} |")
    return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", default=list(faces.DETECTORS))
    parser.add_argument("--width", type=int, default=faces.DETECTION_WIDTH)
    parser.add_argument("--limit", type=int, help="built-in images to use (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    faces.DETECTION_WIDTH = args.width
    results: dict[str, dict[str, dict]] = {"photos": {}, "built-in": {}}
    with tempfile.TemporaryDirectory() as folder:
        items = photo_items(Path(folder))
        builtin = builtin_cases(args.limit)
        for detector in args.detectors:
            results["photos"][detector] = measure(detector, items)
            results["built-in"][detector] = measure(detector, builtin)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"detection on a copy at most {args.width} px wide")
        print(format_table(results))
        for detector, r in results["photos"].items():
            print(f"photo cases {detector} missed: {', '.join(r['missed']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
