"""Files that appear whole or not at all: write beside the target, then rename over it.

A reader (a resumed study, the report, `core.predict`) never sees half a file, even when the
writer is killed mid-write: `os.replace` is atomic on one filesystem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def replace_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Call `write(temporary)` on a sibling of `path`, then rename it over `path`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text_atomically(path: Path, text: str) -> None:
    """`path` holds `text`, or what it held before."""
    replace_atomically(path, lambda temporary: temporary.write_text(text))


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """`path` holds `content`, or what it held before."""
    replace_atomically(path, lambda temporary: temporary.write_bytes(content))


def write_json_atomically(path: Path, payload: Any) -> None:
    """`payload` as indented JSON, written whole or not at all."""
    write_text_atomically(path, json.dumps(payload, indent=2))
