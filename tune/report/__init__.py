"""Analysis after a study, separate from the Ray glue: the report page and its figures, the
original report's hand-tuned configs trained on the study's split, and cross-validation.

Commands: `python -m tune.report RUN_DIR` (the page) and `python -m tune.evaluate RUN_DIR`
(k-fold comparison).
"""
