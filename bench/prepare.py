"""First preparation of the built-in set vs the cached second one (goal: ratio <= 0.05)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from core.preprocess import prepare
from core.sources import load_source
from core.synthetic import builtin_root


def main() -> int:
    started = time.perf_counter()
    builtin_root()
    generated = time.perf_counter() - started
    source = load_source(None)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        started = time.perf_counter()
        first = prepare(source, cache_dir=cache)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        prepare(load_source(None), cache_dir=cache)
        warm = time.perf_counter() - started
    print(f"machine: {os.cpu_count()} cores")
    print(f"built-in set ready (generated or found) in {generated:.2f} s")
    print(f"images: {len(first)}, faces found: {int(first.face_found.sum())}")
    print(f"first preparation (480 px): {cold:.2f} s")
    print(f"cached preparation, records read again: {warm:.3f} s")
    print(f"ratio cached/first: {warm / cold:.4f} (goal <= 0.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
