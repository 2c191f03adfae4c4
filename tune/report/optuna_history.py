"""The study's Optuna view: read from the study's Optuna journal (or the results table), plotted.

The journal is what Optuna itself learnt from (values as told, in order); the table is the
fallback for a run folder without one, with distributions from the study's space. Ray's
searcher state (searcher-state-*.pkl) holds the same study but is a pickle: loading it runs
whatever code it names, so a report never reads it (a study folder may come from anyone).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import optuna
import pandas as pd

from search_spaces import SearchSpace

from ..optuna_storage import journal_path, journal_storage
from ..search import distribution
from .figures import save


def load_study(run_dir: Path, space: SearchSpace, table: pd.DataFrame) -> optuna.Study:
    """The Optuna study of a run: its journal (tune.optuna_storage) when present and whole,
    else rebuilt from the table."""
    if journal_path(run_dir).is_file():
        study = _study_from_journal(run_dir)
        if study is not None and study.trials:
            return study
    return study_from_table(table, space)


def _study_from_journal(run_dir: Path) -> optuna.Study | None:
    try:
        storage = journal_storage(run_dir)
        (name,) = optuna.get_all_study_names(storage)
        return optuna.load_study(study_name=name, storage=storage)
    except (OSError, ValueError) as error:  # damaged, or not one study: the next source
        warnings.warn(f"{journal_path(run_dir)}: not readable ({error})", stacklevel=2)
        return None


def study_from_table(table: pd.DataFrame, space: SearchSpace) -> optuna.Study:
    """Every trial of results.csv told to a fresh study: COMPLETE with its score, or FAIL."""
    distributions = {name: distribution(domain) for name, domain in space.params.items()}
    study = optuna.create_study(direction="maximize")
    for _, row in table.sort_values("order").iterrows():
        params = {name: _plain(row[name]) for name in distributions if name in row}
        if len(params) != len(distributions) or any(_missing(v) for v in params.values()):
            continue
        failed = row.get("status") == "errored" or _missing(row.get("score"))
        try:
            trial = optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                value=None if failed else float(row["score"]),
                state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
            )
        except ValueError:  # a value outside the (capped) space: not Optuna's to show
            continue
        study.add_trial(trial)
    return study


def study_figures(study: optuna.Study, folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Optuna's history, importances, parallel coordinates and slices as PNGs; notes for misses."""
    from optuna.visualization import matplotlib as plots

    drawn: list[tuple[str, Path]] = []
    notes: list[str] = []
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    several = len(study.directions) > 1
    first = {"target": lambda t: t.values[0], "target_name": "first objective"} if several else {}
    figures: list[tuple[str, str, Callable[..., Any], tuple[float, float]]] = [
        ("Optimisation history (score per trial, best so far)", "optuna_history",
         plots.plot_optimization_history, (7, 4)),
        ("Hyperparameter importances (Optuna's default evaluator, PED-ANOVA)", "optuna_importances",
         plots.plot_param_importances, (7, 3.6)),
        ("Parallel coordinates (one line a trial, coloured by score)", "optuna_parallel",
         plots.plot_parallel_coordinate, (9, 4.5)),
        ("Slice plots (score against each hyperparameter)", "optuna_slices",
         plots.plot_slice, (3.2 * max(1, len(study.trials[0].params) if study.trials else 1), 3.6)),
    ]  # fmt: skip
    for title, name, plot, size in figures:
        if len(complete) < 2:
            notes.append(f"{title}: not drawn, {len(complete)} completed trial(s); needs 2")
            continue
        try:
            path, cautions = _draw(plot, study, size, folder / f"{name}.png", **first)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            notes.append(f"{title}: not drawn ({error})")
            continue
        drawn.append((title, path))
        notes += [f"{title}: {caution}" for caution in cautions]
    return drawn, notes


def pareto_figure(study: optuna.Study, labels: list[str], path: Path) -> Path:
    """Optuna's Pareto-front plot of a multi-objective study (the front highlighted)."""
    from optuna.visualization import matplotlib as plots

    size = (6.5, 5) if len(labels) == 2 else (8, 6.5)
    drawn, _ = _draw(plots.plot_pareto_front, study, size, path, target_names=labels)
    return drawn


def _draw(
    plot: Callable[..., Any],
    study: optuna.Study,
    size: tuple[float, float],
    path: Path,
    **options: Any,
) -> tuple[Path, list[str]]:
    """One Optuna plot, its global style change undone; its warnings become notes for the page."""
    with warnings.catch_warnings(record=True) as caught, matplotlib.rc_context():
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = plot(study, **options)
        figure = np.atleast_1d(axes).ravel()[0].figure
        figure.set_size_inches(*size)
        save(figure, path, layout=False)
    return path, sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
