"""`python -m tune.report RUN_DIR`."""

from .cli import main

raise SystemExit(main())
