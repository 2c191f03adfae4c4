"""`python -m tune.report RUN_DIR`: the study as a page a person reads (RUN_DIR/report/index.html).

Trains the original report's hand-tuned configs on the study's split for the comparison (the
automatic report at the end of `tune.run` skips them: that takes minutes).
"""

from __future__ import annotations

from pathlib import Path

from core.cli import Parser, backbone_weights, epochs, exits_cleanly
from core.errors import DataError
from core.folder_lock import folder_lock

from .page import build_report


def build_parser() -> Parser:
    """The options of `python -m tune.report`."""
    import argparse

    parser = Parser(prog="python -m tune.report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a study folder (STORAGE/NAME)")
    parser.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train the original hand-tuned configs for the comparison (default: yes; results "
        "are kept in report/baselines.json and reused while the configs are unchanged)",
    )
    parser.add_argument(
        "--baseline-epochs",
        type=epochs,
        help="cap the hand-tuned configs' epochs (default: the study's own epoch limit)",
    )
    parser.add_argument(
        "--backbone-weights", help="weights for 'transfer' (fer2013, or a local file)"
    )
    return parser


@exits_cleanly
def main(argv: list[str] | None = None) -> int:
    """Build the page; with --baselines, train the hand-tuned configs first."""
    args = build_parser().parse_args(argv)
    if not args.run_dir.is_dir():
        raise DataError(f"{args.run_dir}: no such study folder")
    weights = backbone_weights(args.backbone_weights)
    with folder_lock(args.run_dir, "tune.report"):  # not while the study (or a report) writes it
        page = build_report(
            args.run_dir,
            baselines=args.baselines,
            backbone_weights=weights,
            baseline_epochs=args.baseline_epochs,
        )
    print(f"report: {page}")
    return 0
