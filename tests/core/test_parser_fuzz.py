"""Random bytes and random text fed to the label-file and CSV parsers: they succeed or raise the
project's own DataError, never anything else."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data.sources import parse_emotion_file, parse_facs_file, read_csv_manifest
from core.errors import DataError
from tests.conftest import write_image

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like the real formats often enough to reach past the first check.
NUMBER = st.one_of(
    st.integers(-10, 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-10, 40).map(lambda v: f"{v:.7e}"),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "٣", "1_0", "0x1", "", "AU1", "+", "~"]),
)
LINE = st.lists(NUMBER, max_size=4).map(lambda tokens: "   ".join(tokens))
LABEL_TEXT = st.one_of(st.text(), st.lists(LINE, max_size=5).map("\n".join))
CELL = st.one_of(
    NUMBER,
    st.text(max_size=30),
    st.sampled_from(
        ["img0.png", "../x.png", "/etc/passwd", "~nobody_x/a.png", "~", "a" * 300, "happy", "1+2"]
    ),
)
HEADER = st.lists(
    st.sampled_from(["path", "subject", "emotion", "aus", "AU1", "AU2", "sequence", "x", ""]),
    max_size=6,
)
VALID_HEADERS = [
    ["path", "subject", "emotion", "aus"],
    ["path", "subject", "emotion", "AU1", "AU2", "sequence"],
]


@contextmanager
def written(content: bytes | str, name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        write_image(Path(folder) / "img0.png")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        yield path


def only_data_errors(parse: Callable[[Path], Any], content: bytes | str, name: str) -> None:
    try:
        with written(content, name) as path:
            parse(path)
    except DataError:
        pass


PARSERS = {
    "emotion": (parse_emotion_file, "x_emotion.txt"),
    "facs": (parse_facs_file, "x_facs.txt"),
    "csv": (lambda path: read_csv_manifest(path, aus=(1, 2)), "labels.csv"),
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(content=st.one_of(st.binary(max_size=300), LABEL_TEXT))
def test_label_and_csv_parsers_raise_only_data_errors(parser: str, content: bytes | str):
    only_data_errors(*PARSERS[parser][:1], content, PARSERS[parser][1])


@st.composite
def manifests(draw) -> str:
    """A header (usually a valid one) and rows with one cell a column, so parsing goes deep."""
    header = draw(st.one_of(st.sampled_from(VALID_HEADERS), HEADER))
    cells = st.one_of(st.just("img0.png"), CELL) if header else CELL
    rows = draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), max_size=4))
    return "\n".join(",".join(row) for row in [header, *rows])


@FUZZ
@given(text=manifests())
def test_csv_manifests_built_from_plausible_cells_raise_only_data_errors(text: str):
    only_data_errors(PARSERS["csv"][0], text, "labels.csv")
