"""`python -m core.prepare IMAGE_OR_FOLDER... --out DIR [--detector NAME] [--size N] [--json]`.

See what the model sees before a study: every image goes through the preparation training uses
(`core.images.preprocess.prepare_images`: grey, face found, eyes levelled, square crop, resize) and
its crop is written to DIR as a PNG, with `prepared.jsonl` (one JSON object per image: path,
face_found, box, landmarks, score, angle, frames, output) and `contact_sheet.png` (every crop;
those without a face framed in red). Items are image files, folders of images, CK+ folders or CSV
manifests (their labelled images, the frames training would use). Images are read as a viewer
shows them (core.images.image_files): turned upright by their EXIF orientation, and of a file with
several frames (an animation, pages, a camera's pictures) the first frame, which it says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .cli import (
    Parser,
    add_detector_option,
    exits_cleanly,
    folder_path,
    int_in,
)
from .config import MIN_INPUT_SIZE
from .errors import DataError
from .files import check_output_folder, folder_in_place, output_written, strict_json
from .images.preprocess import (
    DEFAULT_FACE_MARGIN,
    DEFAULT_PREPARED_SIZE,
    MAX_PREPARED_SIZE,
    PreparedImage,
    prepare_each,
)

RECORDS_FILE = "prepared.jsonl"
SHEET_FILE = "contact_sheet.png"
THUMB = 96  # pixels a side of a crop on the contact sheet
SHEET_COLUMNS = 16
NO_FACE_COLOUR = (0, 0, 255)  # BGR red
SHOWN = 10  # paths listed under a heading of the summary


def images_of(items: Iterable[str | Path]) -> list[Path]:
    """The images each item stands for: a CK+ folder or CSV manifest gives its labelled images
    (as training reads them), any other folder its image files, a file itself."""
    from .data.sources import is_ckplus_folder, load_source
    from .deploy.predictor import image_files

    found: list[Path] = []
    for item in items:
        path = Path(item)
        if (path.is_file() and path.suffix.lower() == ".csv") or (
            path.is_dir() and is_ckplus_folder(path)
        ):
            found += [record.path for record in load_source(path).records]
        else:
            found += image_files([path])
    return found


def record_of(path: Path, prepared: PreparedImage, output: str) -> dict[str, Any]:
    """The JSON line of one image: where its face was found and how its crop was cut."""
    face = prepared.face
    landmarks = face.landmarks if face is not None else None
    return {
        "path": str(path),
        "face_found": face is not None,
        "box": list(face.box) if face is not None else None,
        "landmarks": {k: [round(x, 1), round(y, 1)] for k, (x, y) in landmarks.items()}
        if landmarks
        else None,
        "score": round(face.score, 4) if face is not None and face.score is not None else None,
        "angle": round(prepared.angle, 2),
        "frames": prepared.frames,
        "output": output,
    }


def contact_sheet(crops: Sequence[np.ndarray], found: Sequence[bool]) -> np.ndarray:
    """Every crop as a THUMB-pixel tile, SHEET_COLUMNS a row; a crop without a face is framed
    in red, so the misses stand out."""
    columns = min(SHEET_COLUMNS, len(crops))
    rows = math.ceil(len(crops) / columns)
    sheet = np.full((rows * THUMB, columns * THUMB, 3), 255, np.uint8)
    for index, (crop, face) in enumerate(zip(crops, found, strict=True)):
        tile = cv2.cvtColor(
            cv2.resize(crop, (THUMB, THUMB), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR
        )
        if not face:
            cv2.rectangle(tile, (1, 1), (THUMB - 2, THUMB - 2), NO_FACE_COLOUR, 3)
        row, column = divmod(index, columns)
        sheet[row * THUMB : (row + 1) * THUMB, column * THUMB : (column + 1) * THUMB] = tile
    return sheet


def write_png(path: Path, image: np.ndarray) -> None:
    """A PNG written as encoded bytes (cv2.imwrite says nothing when it fails)."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(encoded.tobytes())


def prepare_into(
    paths: Sequence[Path], folder: Path, settings: dict[str, Any], progress: bool
) -> list[dict[str, Any]]:
    """Crops, prepared.jsonl and the contact sheet of `paths`, written into `folder`."""
    width = len(str(len(paths)))
    records, crops, found = [], [], []
    prepared_images = prepare_each(paths, settings, workers=None, progress=progress)
    for index, (path, prepared) in enumerate(zip(paths, prepared_images, strict=True), 1):
        name = f"{index:0{width}d}_{path.stem}.png"
        write_png(folder / name, prepared.image)
        records.append(record_of(path, prepared, name))
        crops.append(prepared.image)
        found.append(prepared.face_found)
    lines = "".join(strict_json(record) + "\n" for record in records)
    (folder / RECORDS_FILE).write_text(lines)
    write_png(folder / SHEET_FILE, contact_sheet(crops, found))
    return records


def summary(records: Sequence[dict[str, Any]], detector: str, out: Path) -> str:
    """What a user reads: faces found, how far the eyes were turned, which images had no face,
    which held several frames."""
    misses = [record["path"] for record in records if not record["face_found"]]
    turned = [abs(record["angle"]) for record in records if record["face_found"]]
    several = [record["path"] for record in records if record["frames"] > 1]
    lines = [
        f"prepared {len(records)} images with {detector}: face found in "
        f"{len(records) - len(misses)} ({1 - len(misses) / len(records):.0%})"
        + (
            f", eyes levelled by a median {np.median(turned):.1f} deg (at most {max(turned):.1f})"
            if turned and any(turned)
            else ""
        )
    ]
    lines += _listed(misses, "no face (the image's centre square was used) in")
    lines += _listed(several, "several frames (the first of each was prepared) in")
    lines.append(f"crops, {RECORDS_FILE} and {SHEET_FILE} in {out}")
    return "\n".join(lines)


def _listed(paths: Sequence[str], what: str) -> list[str]:
    """`what` and the first SHOWN paths, or nothing when there are none."""
    if not paths:
        return []
    lines = [f"{what} {len(paths)}:", *(f"  {path}" for path in paths[:SHOWN])]
    if len(paths) > SHOWN:
        lines.append(f"  ... and {len(paths) - SHOWN} more (see {RECORDS_FILE})")
    return lines


def build_parser() -> Parser:
    """The options of `python -m core.prepare`."""
    parser = Parser(prog="python -m core.prepare", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("items", nargs="+", help="image files, folders of images, CK+ folders or CSV manifests")
    add("--out", type=folder_path, required=True, help="folder for the crops (absent or empty)")
    add_detector_option(parser)
    add(
        "--size",
        type=int_in(MIN_INPUT_SIZE, MAX_PREPARED_SIZE),
        default=DEFAULT_PREPARED_SIZE,
        help=f"side of the prepared squares in pixels (default {DEFAULT_PREPARED_SIZE})",
    )
    add("--json", action="store_true", help="print one JSON object per image instead")
    return parser


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Prepare images as training does and write what the model sees; a user's mistake is one
    line and exit code 2, and nothing is written."""
    args = build_parser().parse_args(argv)
    check_output_folder("--out", args.out, empty=True)
    paths = images_of(args.items)
    if not paths:
        raise DataError(f"{' '.join(args.items)}: no images to prepare")
    settings = {"size": args.size, "margin": DEFAULT_FACE_MARGIN, "detector": args.detector}
    out = args.out.absolute()
    with output_written("--out", args.out), folder_in_place(out) as temporary:  # absent or empty
        records = prepare_into(paths, temporary, settings, progress=not args.json)
    if args.json:
        for record in records:
            print(strict_json({**record, "output": str(args.out / record["output"])}))
    else:
        print(summary(records, args.detector, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
