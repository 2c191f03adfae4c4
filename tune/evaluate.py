"""`python -m tune.evaluate RUN_DIR --folds 5`: best and hand-tuned configs, cross-validated.

The entry point users type; the work is in `tune.report.crossval`.
"""

from __future__ import annotations

from .report.crossval import main

if __name__ == "__main__":
    raise SystemExit(main())
