"""First preparation of the built-in set vs the cached second one (goal: ratio <= 0.05)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from core.data.sources import load_source
from core.data.synthetic import builtin_root
from core.images.faces import DEFAULT_DETECTOR, DETECTORS
from core.images.preprocess import prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR)
    detector = parser.parse_args().detector
    started = time.perf_counter()
    builtin_root()
    generated = time.perf_counter() - started
    source = load_source(None)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        started = time.perf_counter()
        first = prepare(source, detector=detector, cache_dir=cache)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        prepare(load_source(None), detector=detector, cache_dir=cache)
        warm = time.perf_counter() - started
    print(f"machine: {os.cpu_count()} cores")
    print(f"built-in set ready (generated or found) in {generated:.2f} s")
    print(f"images: {len(first)}, faces found by {detector}: {int(first.face_found.sum())}")
    print(f"first preparation (480 px): {cold:.2f} s")
    print(f"cached preparation, records read again: {warm:.3f} s")
    print(f"ratio cached/first: {warm / cold:.4f} (goal <= 0.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
