"""Command-line plumbing shared by every entry point: one-line errors, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import errno
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .config import MAX_EPOCHS, NAMED_WEIGHTS
from .errors import ConfigError, UserError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are the project's one-line ConfigError."""

    def error(self, message: str):  # type: ignore[override]
        """Usage errors become the one-line ConfigError, not argparse's exit."""
        raise ConfigError(f"{self.prog}: {message}")


EXIT_INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def exits_cleanly(main: Callable[..., int]) -> Callable[..., int]:
    """Turn a user's mistake, a full disk or a Ctrl-C into one line on stderr: exit code 2,
    or 130 for Ctrl-C. Every command writes its outputs whole or not at all, so the line can
    say that nothing half-written is left."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except UserError as error:
            message = " ".join(str(error).split())
            print(f"error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted; nothing half-written is left", file=sys.stderr)
            return EXIT_INTERRUPTED
        except OSError as error:
            if error.errno not in FULL_DISK:
                raise
            where = f"{error.filename}: " if error.filename else ""
            print(f"error: {where}{error.strerror}; nothing half-written is left", file=sys.stderr)
            return 2

    return wrapper


def positive_int(text: str) -> int:
    """An argparse type: a whole number > 0 (sizes, counts)."""
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0 (epochs of patience, retries)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected zero or a positive whole number, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number > 0 (rates, CPU shares)."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number >= 0 (L1 strength, GPU shares)."""
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected zero or a positive number, got {text}")
    return value


MAX_SEED = 2**31 - 1  # splits add the fold number to it; TensorFlow takes 31-bit seeds


def data_path(text: str) -> str:
    """A --data value: a path, never an empty one (which read as "." or as the built-in set,
    depending on the command)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (leave it out for the built-in set)")
    return text


def folder_path(text: str) -> Path:
    """An output folder option's value (--out, --plots, --storage): never an empty path, which
    Path reads as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a folder")
    return Path(text)


def add_data_option(parser: argparse.ArgumentParser) -> None:
    """--data of every command that trains: a CK+ folder or a CSV manifest, else built-in."""
    parser.add_argument(
        "--data",
        type=data_path,
        help="CK+ folder or CSV manifest (default: the built-in synthetic set)",
    )


def add_detector_option(parser: argparse.ArgumentParser) -> None:
    """--detector of every command that prepares images: part of the preparation settings."""
    from .images.faces import DEFAULT_DETECTOR, DETECTORS

    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        default=DEFAULT_DETECTOR,
        help=f"face detector (default {DEFAULT_DETECTOR}: landmarks, eyes levelled; haar: "
        "OpenCV's frontal cascade, faster, no alignment)",
    )


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], checked before any work starts."""

    def parse(text: str) -> int:
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, got {text}"
            )
        return value

    parse.__name__ = f"int_in_{low}_{high}"
    return parse


seed = int_in(0, MAX_SEED)
# Upper bounds where an absurd value hurts (`core.export --threads 100000` ran for minutes): far
# above any real use, checked before work.
MAX_THREADS = os.cpu_count() or 1  # more threads than cores only slows a run down
threads = int_in(1, MAX_THREADS)
epochs = int_in(1, MAX_EPOCHS)
MAX_TIMING_RUNS = 10_000


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in (low, high], checked before any work starts."""

    def parse(text: str) -> float:
        value = _number(text, float)
        if not low < value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a number above {low:g} and at most {high:g}, got {text}"
            )
        return value

    parse.__name__ = f"float_in_{low:g}_{high:g}"
    return parse


def fraction(text: str) -> float:
    """A factor in [0, 1): augmentation strengths, dropout."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def _number(text: str, kind: type) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None


def add_target_option(parser: argparse.ArgumentParser) -> None:
    """`--targets PRESET` and `--target METRIC=VALUE` (repeatable), shared by core.train and
    tune.run."""
    from .config import TARGET_PRESETS

    def shown(name: str) -> str:
        return ", ".join(f"{k}={v}" for k, v in TARGET_PRESETS[name].items())

    parser.add_argument(
        "--targets",
        choices=tuple(TARGET_PRESETS),
        help=f"named validation targets: default ({shown('default')}) or report (the original "
        f"report's {shown('report')}: weak, a model that detects no AU meets its AU half)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="one validation target (alone: the whole set; with --targets: over the preset's); "
        "all must be met to stop",
    )


def backbone_weights(value: str | None) -> str | None:
    """`--backbone-weights`: None ('none' too), a name of known weights ('imagenet', 'fer2013'),
    or an existing file, made absolute (trials run in other folders)."""
    if not value or value == "none":
        return None
    if any(value in names for names in NAMED_WEIGHTS.values()):
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigError(f"--backbone-weights {value}: file does not exist")
    return str(path.resolve())
