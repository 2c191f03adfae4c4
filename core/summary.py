"""`python -m core.summary [PATH] [--json] [--plots DIR]`: what a data source holds."""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .cli import Parser, exits_cleanly, folder_path, int_in
from .data.records import Source
from .data.sources import load_source
from .errors import DataError
from .files import IMAGE_BYTES_LIMIT, check_output_folder, read_bounded, strict_json
from .images.image_files import check_declared_size, read_grey
from .labels import EMOTIONS, au_names, parse_au_list

NOT_READABLE = "not a readable image (empty, truncated or not an image)"


def image_facts(path: Path) -> tuple[str, bool]:
    """("WxH" as the picture is seen, is colour) from the file header, without decoding the
    pixels: a phone photo stored sideways is counted upright, as training reads it."""
    try:
        raw = read_bounded(path, IMAGE_BYTES_LIMIT)
        header = check_declared_size(path, raw)  # training's rule: summary and train agree
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()  # walks the file's chunks and checksums: catches a truncated file
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        raise DataError(f"{path}: {NOT_READABLE}") from None
    if header is None:  # a header Pillow cannot read: verify has refused it already
        raise DataError(f"{path}: {NOT_READABLE}")
    return f"{header.width}x{header.height}", header.colour


def summarise(source: Source) -> dict[str, Any]:
    """Counts, sizes, colour share and skips of a source, as plain types."""
    records = source.records
    emotion_counts = Counter(r.emotion for r in records)
    facts = [image_facts(r.path) for r in records]
    return {
        "root": str(source.root),
        "images": len(records),
        "subjects": len({r.subject for r in records}),
        "sequences": len({(r.subject, r.sequence) for r in records}),
        "emotions": {name: emotion_counts.get(i, 0) for i, name in enumerate(EMOTIONS)},
        "aus": {
            name: sum(r.aus[i] for r in records) for i, name in enumerate(au_names(source.aus))
        },
        "sizes": dict(sorted(Counter(size for size, _ in facts).items())),
        "colour": sum(colour for _, colour in facts),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in source.skipped],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as the lines `core.summary` prints."""
    lines = [
        f"data: {summary['root']}",
        f"images {summary['images']}, subjects {summary['subjects']}, "
        f"sequences {summary['sequences']}, colour {summary['colour']}",
        "emotions: " + ", ".join(f"{k} {v}" for k, v in summary["emotions"].items()),
        "AUs: " + ", ".join(f"{k} {v}" for k, v in summary["aus"].items()),
        "sizes: " + ", ".join(f"{k} ({v})" for k, v in summary["sizes"].items()),
        f"skipped: {len(summary['skipped'])}",
    ]
    lines += [f"  {s['path']}: {s['reason']}" for s in summary["skipped"]]
    return "\n".join(lines)


def write_plots(source: Source, summary: dict[str, Any], folder: Path) -> list[Path]:
    """One sample per emotion, emotion counts and AU counts as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    figure, axes = plt.subplots(1, len(EMOTIONS), figsize=(3 * len(EMOTIONS), 3.2))
    for index, (axis, name) in enumerate(zip(axes, EMOTIONS, strict=True)):
        sample = next((r for r in source.records if r.emotion == index), None)
        axis.set_title(name)
        axis.axis("off")
        if sample is not None:
            axis.imshow(read_grey(sample.path), cmap="gray")
    written.append(_save(figure, folder / "samples_per_emotion.png"))
    for key, title in (("emotions", "Images per emotion"), ("aus", "Images per AU")):
        figure, axis = plt.subplots(figsize=(7 if key == "aus" else 4, 3.2))
        counts = summary[key]
        axis.bar(list(counts), list(counts.values()), color="#4c72b0")
        axis.set_title(title)
        axis.tick_params(axis="x", rotation=45 if key == "aus" else 0)
        written.append(_save(figure, folder / f"{key}_counts.png"))
    return written


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Summarise a data source; a user's mistake is one line and exit code 2."""
    parser = Parser(prog="python -m core.summary", description=__doc__)
    parser.add_argument("path", nargs="?", help="CK+ folder or CSV manifest (default: built-in)")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument(
        "--plots", type=folder_path, metavar="DIR", help="write PNG charts into DIR"
    )
    parser.add_argument("--aus", type=parse_au_list, help="AU list, e.g. 1,2,4 (default: 15 AUs)")
    parser.add_argument(
        "--peak-frames", type=int_in(1, 1000), default=1, help="labelled frames per sequence"
    )
    parser.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="accept CSV image paths outside the manifest's folder",
    )
    args = parser.parse_args(argv)
    if args.plots:
        check_output_folder("--plots", args.plots)
    options = {"aus": args.aus} if args.aus else {}
    source = load_source(
        args.path,
        peak_frames=args.peak_frames,
        allow_outside_root=args.allow_outside_root,
        **options,
    )
    summary = summarise(source)
    if args.plots:
        write_plots(source, summary, args.plots)
    print(strict_json(summary) if args.json else format_summary(summary), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
