"""Optuna TPE proposes configs from a named space; ASHA prunes trials that trail their peers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator
from ray.tune.search.optuna import OptunaSearch

from search_spaces import Choice, IntRange, LogUniform, SearchSpace, Uniform

from .objectives import metrics_and_modes
from .optuna_storage import close_lost_trials, journal_storage
from .ray_compat import move_experiment, record_at_later_rungs, save_state_this_step
from .saved_state import save_backup

METRIC = "score"  # best-so-far combined validation score: fair at any epoch
MODE = "max"


def distribution(domain: Any) -> optuna.distributions.BaseDistribution:
    """Our domain as an Optuna distribution: the one translation of a space's domains (the
    searcher, the report's rebuilt history and the KerasTuner peer all start from it)."""
    if isinstance(domain, Choice):
        return optuna.distributions.CategoricalDistribution(list(domain.values))
    if isinstance(domain, IntRange):
        return optuna.distributions.IntDistribution(domain.low, domain.high, step=domain.step)
    if isinstance(domain, LogUniform):
        return optuna.distributions.FloatDistribution(domain.low, domain.high, log=True)
    if isinstance(domain, Uniform):
        return optuna.distributions.FloatDistribution(domain.low, domain.high)
    raise TypeError(f"unknown domain {domain!r}")


def suggest(trial: optuna.Trial, name: str, domain: Any) -> Any:
    """One Optuna suggestion for one of our domains."""
    dist = distribution(domain)
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


class DefineByRun:
    """Optuna's define-by-run form: searched values are suggested, fixed (and linked) values
    returned.

    A class, not a closure, because Tune pickles the searcher into the experiment state.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        searched = {name: suggest(trial, name, d) for name, d in self.space.params.items()}
        return {k: v for k, v in self.space.config(searched).items() if k not in searched}


def make_searcher(
    space: SearchSpace,
    seed: int,
    method: str = "tpe",
    study: Path | None = None,
    name: str = "",
    objectives: list[str] | None = None,
    start: bool = True,
) -> OptunaSearch:
    """Seeded multivariate TPE with the space's hand-tuned config (and its variants) first, unless
    `start` is false; or seeded random search.
    With a local `study` folder, Optuna's history is kept in its journal under `name`. With
    `objectives`, Optuna optimises them together (TPE's multi-objective form) and keeps the front.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory"
    options: dict[str, Any] = {"metric": METRIC, "mode": MODE}
    if objectives:
        options["metric"], options["mode"] = metrics_and_modes(objectives)
    if study is not None:
        options.update(storage=journal_storage(study), study_name=name)
    if method == "random":
        return ResumableOptunaSearch(
            space=DefineByRun(space),
            sampler=optuna.samplers.RandomSampler(seed=seed),
            **options,
        )
    sampler = optuna.samplers.TPESampler(
        multivariate=True, seed=seed, n_startup_trials=max(4, len(space.params) // 2)
    )
    return ResumableOptunaSearch(
        space=DefineByRun(space),
        sampler=sampler,
        points_to_evaluate=space.start_points() if start else None,
        **options,
    )


class ResumableOptunaSearch(OptunaSearch):
    """OptunaSearch that keeps a trial open when it errors, since `--resume` runs errored trials
    on from their checkpoints, and that never counts a result twice in a study's journal.

    OptunaSearch tells Optuna an errored trial FAILED and then ignores the resumed trial's
    results, warning once an epoch with the whole result dict: the sampler never learnt the
    score. Here the Optuna trial stays running until the trial ends for good (a study that ends
    with it errored leaves it running: neither state counts as a result). What Optuna already
    holds is asked of its storage, which on disk (tune.optuna_storage) may be ahead of the state
    Tune saved: an epoch a resumed trial reports again (its checkpoint was older than its last
    report) is not reported twice, and a trial told before an interruption is not told again.
    """

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        step = result.get("training_iteration", 0)
        if (
            self._ot_trials.get(trial_id) is None
            or step in self._held(trial_id).intermediate_values
        ):
            return
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if error:
            return
        if trial_id in self._ot_trials and self._held(trial_id).state.is_finished():
            self._completed_trials.add(trial_id)
            return
        super().on_trial_complete(trial_id, result, error)

    def _held(self, trial_id: str) -> optuna.trial.FrozenTrial:
        """The trial as Optuna's storage holds it now."""
        return self._ot_study._storage.get_trial(self._ot_trials[trial_id]._trial_id)

    def reopen(self, study_folder: Path) -> int:
        """After a restore: the journal of the folder the study is in now (a copy or a rename
        of the folder it was saved in must not write into the original), and the trials the
        journal shows running that the restored state does not know marked failed. How many."""
        if not isinstance(self._storage, JournalStorage):
            return 0
        storage = journal_storage(study_folder)
        study = optuna.load_study(
            study_name=self._study_name, storage=storage, sampler=self._sampler
        )
        self._storage, self._ot_study = storage, study
        self._ot_trials = {
            trial_id: optuna.Trial(study, trial._trial_id)
            for trial_id, trial in self._ot_trials.items()
        }
        return close_lost_trials(study, {t._trial_id for t in self._ot_trials.values()})


class BackedUpSearch(SearchGenerator):
    """Tune's search generator, which also keeps a whole copy of the study's state after each
    save (tune.saved_state). `study` is the local study folder, or None for an object store
    (each object is written whole). A resumed study may sit in another folder than the one it
    was created in, so the resume sets `study` again.
    """

    def __init__(self, searcher: Searcher, study: Path | None) -> None:
        super().__init__(searcher)
        self.study = study

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        if self.study is not None:  # new trials go where the study is now (a copy, a rename)
            move_experiment(self._experiment, self.study)
            searcher = self.searcher
            while isinstance(searcher, ConcurrencyLimiter):
                searcher = searcher.searcher
            if isinstance(searcher, ResumableOptunaSearch):
                searcher.reopen(self.study)

    def save_to_dir(self, dirpath: str, session_str: str) -> None:
        # Tune writes the experiment state, then calls this: after it all three files are new.
        super().save_to_dir(dirpath, session_str)
        if self.study is not None:
            save_backup(Path(dirpath), self.study)


def backed_up_search(searcher: Searcher, max_concurrent: int, study: Path | None) -> BackedUpSearch:
    """What Tune builds from a searcher and `max_concurrent_trials` (a ConcurrencyLimiter in a
    SearchGenerator), with the whole-copy keeping generator in its place."""
    if max_concurrent > 0:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    return BackedUpSearch(searcher, study)


class PromptStateSave:
    """A scheduler mixin that has Tune save the study's state in the same step a trial is added
    or ends.

    Tune saves its experiment state at most every 10 s ("auto"); a driver killed inside that
    window left a finished or pruned trial recorded as running (`--resume` ran it again) or a
    new trial unrecorded (`--resume` dropped it and drew another). Tune gives a scheduler its
    controller, and the controller saves at the end of every step when its checkpoint manager is
    flagged: by then the trial is TERMINATED (or PENDING). Private attributes, so this class is
    the one place to change when Ray moves them; without them it is the plain scheduler.
    """

    def on_trial_add(self, tune_controller, trial) -> None:
        super().on_trial_add(tune_controller, trial)
        save_state_this_step(tune_controller)

    def on_trial_complete(self, tune_controller, trial, result) -> None:
        super().on_trial_complete(tune_controller, trial, result)
        save_state_this_step(tune_controller)


class PromptASHA(PromptStateSave, ASHAScheduler):
    """ASHA: prunes trials that trail their peers at each rung.

    A trial that ended on its own before a rung (it met the targets, or its patience ran out)
    counts there with its score, the best so far: a lower bound of what it would have scored
    there, so the rung's cutoff is never above the one full knowledge would give. Without it a
    later rung holds only the trials that neither met the targets nor stalled, and ASHA compares
    the laggards with each other only (a MobileNet from scratch ran 14 epochs below the floor
    beside pretrained trials that had met the targets in 2-5).
    """

    def on_trial_complete(self, tune_controller, trial, result) -> None:
        if result.get("targets_met") or result.get("stopped_by") == "patience":
            record_at_later_rungs(self, trial.trial_id, result)
        super().on_trial_complete(tune_controller, trial, result)


class PromptFIFO(PromptStateSave, FIFOScheduler):
    """No pruning: every trial runs until it meets the targets, stalls or ends."""


def make_scheduler(space: SearchSpace, kind: str = "asha") -> FIFOScheduler:
    """Epochs are the time unit: one `tune.report` per epoch."""
    if kind == "none":
        return PromptFIFO()
    max_epochs = int(space.fixed["max_epochs"])
    return PromptASHA(
        time_attr="training_iteration",
        metric=METRIC,
        mode=MODE,
        max_t=max_epochs,
        grace_period=min(space.grace_period, max_epochs),
        reduction_factor=2,
    )
