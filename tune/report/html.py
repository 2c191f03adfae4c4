"""Plain, self-contained HTML for the report: no script, no external style, PNGs beside it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #4c72b0; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f0f3f8; }
td.text, th:first-child { text-align: left; }
div.wide { overflow-x: auto; }
tr.best { font-weight: bold; background: #eef6ee; }
p.note { background: #fff8e0; border-left: 4px solid #e0b000; padding: 0.4em 0.8em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def page(title: str, parts: Iterable[str]) -> str:
    """A whole self-contained HTML page: no script, no CDN."""
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def section(anchor: str, title: str, parts: Iterable[str]) -> str:
    """A titled section with an anchor, so the page's table of contents can link to it."""
    inner = "\n".join(parts)
    return f'<section id="{escape(anchor)}">\n<h2>{escape(title)}</h2>\n{inner}\n</section>'


def heading(title: str) -> str:
    """A sub-heading inside a section."""
    return f"<h3>{escape(title)}</h3>"


def paragraph(text: str) -> str:
    """A paragraph of escaped text."""
    return f"<p>{escape(text)}</p>"


def note(text: str) -> str:
    """A highlighted remark: a caveat, a skip, or how to get what is missing."""
    return f'<p class="note">{escape(text)}</p>'


def code(text: str) -> str:
    """A command the reader can copy."""
    return f"<p><code>{escape(text)}</code></p>"


def figure(path: Path, caption: str) -> str:
    """An image beside the page (relative link), captioned; alt text is the caption."""
    src = escape(path.name)
    return (
        f'<figure><img src="{src}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def table(frame: pd.DataFrame, highlight: Sequence[bool] | None = None, digits: int = 3) -> str:
    """A DataFrame as an HTML table; floats to `digits` decimals (tiny ones in e-notation)."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for number, row in enumerate(frame.itertuples(index=False)):
        cells = "".join(
            f"<td>{escape(_cell(v, digits))}</td>"
            if isinstance(v, int | float | np.number) or v is None
            else f'<td class="text">{escape(str(v))}</td>'
            for v in row
        )
        marked = highlight is not None and highlight[number]
        rows.append(f'<tr class="best">{cells}</tr>' if marked else f"<tr>{cells}</tr>")
    body = "\n".join(rows)
    return f'<div class="wide"><table>\n<tr>{head}</tr>\n{body}\n</table></div>'


def _cell(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"
    return str(value)
