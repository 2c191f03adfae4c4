"""Studies on a real local Ray (2 CPUs) with the tiny space and a small built-in-style set."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import re
import shutil
import signal
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

import search_spaces
from tests.browser import shown_text
from tests.conftest import as_the_flat_layout_wrote_it, start_study
from tune.objectives import pareto_front
from tune.optuna_dashboard import start_dashboard
from tune.optuna_storage import JOURNAL_FILE, journal_storage
from tune.pickle_scan import scan
from tune.run import main as tune_main
from tune.saved_state import members_of, newest_state_files, pickles_in, read_backup

pytestmark = pytest.mark.slow


def study_args(data: Path, storage: Path, name: str, *extra: str) -> list[str]:
    return ["--smoke-test", "--data", str(data), "--storage", str(storage), "--name", name, *extra]


def ours_in_saved_state(study: Path) -> set[tuple[str, str]]:
    """(module, name) of every class or function of ours that the pickles `--resume` reads name."""
    files = [*study.glob("*.pkl"), *study.glob("*.zip"), *study.glob("*_state-*.json")]
    files += study.glob("trial_*/*.pkl")
    named = {
        imported
        for path in files
        for member, content in members_of(path).items()
        for pickled in pickles_in(member, content)
        for imported in scan(pickled).imports
    }
    return {(m, n) for m, n in named if m.split(".")[0] in ("core", "tune", "search_spaces")}


def assert_saved_state_names_no_core_module(study: Path) -> None:
    """Resume unpickles these names: core/'s modules moved into rooms once and may move again, so
    a study's state names none of them (only tune's and the spaces' classes, which stay put),
    and each name it holds imports from where it says."""
    named = ours_in_saved_state(study)
    assert named and not [m for m, _ in named if m.split(".")[0] == "core"], sorted(named)
    for module, name in named:
        assert functools.reduce(getattr, name.split("."), importlib.import_module(module))


@pytest.fixture(scope="module")
def smoke_study(local_ray, small_synthetic: Path, tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("runs")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        # One trial at a time: the order trials finish in, and so TPE's later draws and what
        # ASHA has to compare, does not hang on the machine's load.
        args = study_args(small_synthetic, storage, "smoke", "--num-samples", "6", "--confirm", "0")
        args += ["--max-concurrent", "1"]
        assert tune_main([*args, "--optuna-dashboard"]) == 0
    (storage / "stdout.txt").write_text(printed.getvalue())
    return storage / "smoke"


def test_the_study_prints_a_progress_line_for_every_epoch_of_every_trial(smoke_study: Path):
    printed = (smoke_study.parent / "stdout.txt").read_text()
    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str})
    for trial_id, epochs in zip(table["trial_id"], table["epochs"], strict=True):
        for epoch in range(1, epochs + 1):
            (line,) = [
                line for line in printed.splitlines() if f"{trial_id} epoch {epoch}/3:" in line
            ]
            assert "val emotion acc" in line and "val AU macro F1" in line and "s/epoch" in line
            assert re.search(r"\| \d/6 done", line)
    assert "\r" not in printed
    tensorboard = f"tensorboard --logdir {smoke_study} --host 127.0.0.1"
    first = printed.index(tensorboard)
    assert first < printed.index(" epoch 1/3:")  # said before the first epoch, not only at the end
    assert "/tmp/ray" not in printed


def journal_trials(study: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of the one Optuna study in a study folder's journal, read as Optuna does."""
    storage = journal_storage(study)
    (summary,) = optuna.get_all_study_summaries(storage)  # one Optuna study, not one per run
    assert summary.study_name == name
    return optuna.load_study(study_name=name, storage=storage).trials


def test_trial_workers_are_reused_by_default(smoke_study: Path):
    """Warm workers (tune.trainable, core.model.warm): a finished trial's worker takes the next
    one."""
    pids = [int(path.read_text()) for path in smoke_study.glob("trial_*/pid")]
    assert len(pids) == 6 and len(set(pids)) < len(pids), pids


def test_the_optuna_history_is_on_disk_with_every_trial_once(smoke_study: Path):
    printed = (smoke_study.parent / "stdout.txt").read_text()
    address = re.search(
        r"Optuna dashboard while it runs: (http://127\.0\.0\.1:\d+/dashboard/)", printed
    )
    assert address and printed.index(address[0]) < printed.index(" epoch 1/3:")
    assert f"optuna-dashboard {smoke_study / JOURNAL_FILE}" in printed
    trials = journal_trials(smoke_study, "smoke")
    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str})
    assert len(trials) == len(table) == 6
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    assert sorted(t.value for t in trials) == pytest.approx(sorted(table["score"]))
    assert trials[0].params == dict(search_spaces.get("tiny").start)  # the hand-tuned start


def test_the_running_dashboard_lists_the_study_and_its_trials(smoke_study: Path, tmp_path: Path):
    dashboard = start_dashboard(smoke_study / JOURNAL_FILE)  # what --optuna-dashboard starts
    try:
        studies = shown_text(tmp_path, dashboard.url)
        trials = shown_text(tmp_path, f"{dashboard.url}studies/0/trials")
    finally:
        dashboard.stop()
    assert "smoke Direction: MAXIMIZE" in studies
    values = journal_trials(smoke_study, "smoke")
    assert "6 Trials" in trials
    assert all(f"Trial {t.number} Complete" in trials for t in values)
    assert f"Value {values[0].value!r}" in trials  # the first trial's card, opened by default


def test_a_two_objective_study_keeps_its_pareto_front_and_draws_it(
    local_ray, small_synthetic: Path, tmp_path: Path, capsys
):
    args = study_args(small_synthetic, tmp_path, "front", "--num-samples", "3")
    assert tune_main([*args, "--objectives", "emotion,params"]) == 0
    printed = capsys.readouterr().out
    assert "note: ASHA prunes on one metric" in printed and "Pareto front (" in printed
    study = tmp_path / "front"
    table = pd.read_csv(study / "results.csv", dtype={"trial_id": str})
    points = {
        row.trial_id: {"emotion": row.best_val_emotion_accuracy, "params": row.model_params}
        for row in table.itertuples()
    }
    expected = set(pareto_front(points, ["emotion", "params"]))
    assert set(table.loc[table["on_front"], "trial_id"]) == expected
    saved = json.loads((study / "best_config.json").read_text())
    assert saved["objectives"] == ["emotion", "params"]
    assert {member["trial_id"] for member in saved["front"]} == expected
    for member in saved["front"]:
        assert member["scores"] == pytest.approx(points[member["trial_id"]])
        assert set(member["config"]) >= set(search_spaces.get("tiny").params)
    (optuna_study,) = optuna.get_all_study_summaries(journal_storage(study))
    assert len(optuna_study.directions) == 2
    page = (study / "report" / "index.html").read_text()
    assert "Pareto front: val emotion accuracy, parameters" in page
    assert (study / "report" / "pareto_front.png").stat().st_size > 10_000
    assert_saved_state_names_no_core_module(study)


def test_results_table_has_one_row_per_trial(smoke_study: Path):
    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str})
    assert len(table) == 6 and table["trial_id"].is_unique
    assert set(table["status"]) <= {"met-targets", "pruned", "finished"}
    assert (table["epochs"] >= 1).all() and (table["epochs"] <= 3).all()
    best = json.loads((smoke_study / "best_config.json").read_text())
    assert best["trial_id"] == table.iloc[0]["trial_id"]  # --confirm 0: the best single split
    assert "confirmation" not in best and "confirmed_mean" not in table
    assert not (smoke_study / "confirmation.json").exists()
    report = json.loads((smoke_study / "best" / "report.json").read_text())
    assert {"emotion", "au_at_0.5", "au_tuned_on_val"} <= set(report)
    assert (smoke_study / "best" / "model.keras").stat().st_size > 0


def test_a_studys_saved_state_names_tune_and_space_classes_only(smoke_study: Path):
    assert_saved_state_names_no_core_module(smoke_study)
    expected = {("tune.stopper", "TargetStopper"), ("tune.study", "trial_name")}
    assert expected <= ours_in_saved_state(smoke_study)


def test_the_study_keeps_a_whole_copy_of_its_last_saved_state(smoke_study: Path):
    copy = read_backup(smoke_study)
    assert copy is not None
    newest = newest_state_files(smoke_study)
    assert len(newest) == 3
    for path in newest:
        assert copy[path.name] == path.read_bytes()  # Tune's final save, all three files
    assert len(json.loads(newest[0].read_bytes())["trial_data"]) == 6


def test_first_trial_is_the_hand_tuned_config_and_the_rest_come_from_optuna(smoke_study: Path):
    from ray.tune.search.optuna import OptunaSearch

    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str}).sort_values("order")
    start = search_spaces.get("tiny").start
    first = table.iloc[0]
    assert {key: first[key] for key in start} == pytest.approx(start)
    searcher = OptunaSearch()
    searcher.restore(str(next(smoke_study.glob("searcher-state-*.pkl"))))
    told = [trial.params for trial in searcher._ot_study.trials]
    assert len(told) == 6
    for _, row in table.iterrows():
        assert any(all(row[key] == pytest.approx(params[key]) for key in start) for params in told)


def test_asha_cuts_exactly_the_trials_that_trail_at_a_rung(smoke_study: Path):
    """Replays the trials' reported scores, in the order they came (one trial at a time),
    through a fresh copy of the study's scheduler: the trials it cuts are the ones the table
    calls pruned, at the epoch it cut them. Tiny models often tie (each predicts one constant),
    and ASHA cuts no tie: whether any trial is cut is up to the draw, which trials is not."""
    from types import SimpleNamespace

    from tune.search import make_scheduler

    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str}).sort_values("order")
    scheduler = make_scheduler(search_spaces.get("tiny"))
    controller = SimpleNamespace()
    expected = {}
    for row in table.itertuples():
        trial = SimpleNamespace(trial_id=row.trial_id)
        scheduler.on_trial_add(controller, trial)
        progress = pd.read_csv(Path(row.trial_dir) / "progress.csv")
        for result in progress[["training_iteration", "score"]].to_dict("records"):
            if row.status == "met-targets" and result["training_iteration"] == row.epochs:
                break  # Tune's stopper ends it before the scheduler is asked
            if scheduler.on_trial_result(controller, trial, result) == "STOP":
                expected[row.trial_id] = result["training_iteration"]
                break
        scheduler.on_trial_complete(controller, trial, result)
    cut = {tid: epoch for tid, epoch in expected.items() if epoch < 3}  # 3: every trial stops
    pruned = table[table["status"] == "pruned"]
    assert dict(zip(pruned["trial_id"], pruned["epochs"], strict=True)) == cut


def scripted_study(folder: Path, trials: list[dict]) -> dict[str, tuple[str, int]]:
    """The study's scheduler and stopper in a real Tune run whose trials report scripted
    scores, one trial at a time, in the order given: each trial's status and last epoch, by
    name. A trial reports `score` each epoch (3 at most) and meets the targets at `met_at`."""
    from ray import tune

    from tune.ray_compat import grid_trials
    from tune.search import make_scheduler
    from tune.stopper import TargetStopper
    from tune.trial_status import trial_status

    def scripted(config):
        trial = config["trial"]
        for epoch in range(1, 4):
            met = epoch == trial.get("met_at")
            stopped_by = "targets" if met else "max_epochs" if epoch == 3 else "running"
            tune.report({"score": trial["score"], "targets_met": met, "stopped_by": stopped_by})

    tuner = tune.Tuner(
        scripted,
        param_space={"trial": tune.grid_search(trials)},
        tune_config=tune.TuneConfig(
            scheduler=make_scheduler(search_spaces.get("tiny")), max_concurrent_trials=1
        ),
        run_config=tune.RunConfig(
            storage_path=str(folder), name="scripted", stop=TargetStopper(), verbose=0
        ),
    )
    return {
        t.config["trial"]["name"]: (trial_status(t), t.last_result["training_iteration"])
        for t in grid_trials(tuner.fit())
    }


def test_asha_cuts_a_trial_that_trails_and_the_table_says_pruned(local_ray, tmp_path: Path):
    """The two that trail the median at epoch 1 stop there and read as pruned, the one that
    trails at epoch 2 stops there, the rest run all three epochs (the smoke study above may
    tie; this cannot)."""
    scores = {"a": 0.5, "b": 0.2, "c": 0.9, "d": 0.1, "e": 0.6}
    ended = scripted_study(tmp_path, [{"name": k, "score": v} for k, v in scores.items()])
    assert ended == {
        "a": ("finished", 3),
        "b": ("pruned", 1),
        "c": ("finished", 3),
        "d": ("pruned", 1),
        "e": ("pruned", 2),  # at epoch 2 it trails 0.5 and 0.9
    }


def test_a_trial_that_met_the_targets_early_counts_at_the_later_rungs(local_ray, tmp_path):
    """Trial "met" reaches the targets at epoch 1 and ends; at epoch 2 "late" (0.6) is compared with
    it (0.9, its best so far) and with "slow" (0.5): it trails their median and is cut. Were
    "met" left out of the rung, "late" would face "slow" alone and run on."""
    ended = scripted_study(
        tmp_path,
        [
            {"name": "slow", "score": 0.5},
            {"name": "poor", "score": 0.1},  # cut at epoch 1: the rung there holds 4 scores
            {"name": "met", "score": 0.9, "met_at": 1},
            {"name": "late", "score": 0.6},
        ],
    )
    assert ended == {
        "slow": ("finished", 3),
        "poor": ("pruned", 1),
        "met": ("met-targets", 1),
        "late": ("pruned", 2),
    }


def tensorboard_steps(folder: Path, tag: str = "epoch_emotion_accuracy") -> list[int]:
    """The steps of one scalar in a run folder, read with TensorBoard's own reader (none before
    the trial's first epoch ended)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not folder.is_dir():
        return []

    events = EventAccumulator(str(folder))
    events.Reload()
    return [event.step for event in events.Tensors(tag)] if tag in events.Tags()["tensors"] else []


def test_tensorboard_files_hold_per_epoch_scalars_of_both_heads(smoke_study: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    table = pd.read_csv(smoke_study / "results.csv", dtype={"trial_id": str})
    for _, row in table.iterrows():
        folder = smoke_study / f"trial_{row['trial_id']}" / "tb"
        for run in ("train", "validation"):
            events = EventAccumulator(str(folder / run))
            events.Reload()
            for tag in ("epoch_emotion_accuracy", "epoch_au_binary_accuracy", "epoch_au_f1_macro"):
                steps = [event.step for event in events.Tensors(tag)]
                assert steps == list(range(len(steps))) and len(steps) == row["epochs"]
        hparams = EventAccumulator(str(folder / "hparams"))
        hparams.Reload()
        assert "_hparams_/session_start_info" in hparams.Tags()["tensors"]


def test_trials_that_meet_the_targets_are_stopped_by_the_stopper(
    local_ray, small_synthetic: Path, tmp_path: Path
):
    args = study_args(small_synthetic, tmp_path, "easy", "--num-samples", "2")
    assert tune_main([*args, "--target", "val_au_binary_accuracy=0.05"]) == 0
    table = pd.read_csv(tmp_path / "easy" / "results.csv", dtype={"trial_id": str})
    assert list(table["status"]) == ["met-targets", "met-targets"]
    assert list(table["epochs"]) == [1, 1]


def test_interrupted_study_resumes_with_every_trial_once(
    small_synthetic: Path, tmp_path: Path, capfd
):
    args = study_args(
        small_synthetic, tmp_path, "cut", "--num-samples", "3", "--max-concurrent", "1"
    )
    driver = start_study(args)
    study = tmp_path / "cut"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(study.glob("trial_*/checkpoint_*"))) < 2:
        time.sleep(1)
    # One writer per study: while it runs, a second start or a resume is refused, naming it.
    capfd.readouterr()
    resume = ["--resume", "--name", "cut", "--storage", str(tmp_path)]
    for second, option in ((args, "--name cut"), (resume, "--resume --name cut")):
        assert tune_main(second) == 2
        said = capfd.readouterr().err.strip()
        assert said.startswith(f"error: {option}: {study}: in use by process {driver.pid} ("), said
    driver.send_signal(signal.SIGINT)
    output, _ = driver.communicate(timeout=180)
    assert driver.returncode == 130, output
    assert f"--resume --name cut --storage {tmp_path}" in output
    # The trial Ctrl-C caught mid-epoch was halted (tune.halt): on disk, beyond the epochs Tune
    # took in, at most the one report that was on its way when Ctrl-C came (Tune's loop may end
    # before it reads it), never a further epoch, neither a checkpoint nor TensorBoard scalars.
    for trial in study.glob("trial_*"):
        taken = len(pd.read_csv(trial / "progress.csv")) if (trial / "progress.csv").exists() else 0
        indexes = [int(c.name.rsplit("_", 1)[1]) for c in trial.glob("checkpoint_*")]
        assert max(indexes, default=-1) <= taken, f"{trial.name}: {indexes}, {taken} taken"
        assert max(tensorboard_steps(trial / "tb" / "validation"), default=-1) <= taken, trial.name
    # The copy is what goes on: the original folder must not be read from or written to.
    shutil.copytree(study, tmp_path / "copy")
    original, study = study, tmp_path / "copy"
    # As the flat layout before core/'s rooms wrote it: the checkpoints' models name core.models.
    checkpoints = list(study.glob("trial_*/checkpoint_*/model.keras"))
    assert sum(as_the_flat_layout_wrote_it(model) for model in checkpoints) > 0
    assert_saved_state_names_no_core_module(study)
    untouched = {p: p.stat().st_mtime_ns for p in original.rglob("*")}
    before = [p.name for p in study.glob("trial_*/progress.csv")]
    resumed = start_study(["--resume", "--name", "copy", "--storage", str(tmp_path)])
    output, _ = resumed.communicate(timeout=400)
    assert resumed.returncode == 0, output
    assert {p: p.stat().st_mtime_ns for p in original.rglob("*")} == untouched
    table = pd.read_csv(study / "results.csv", dtype={"trial_id": str})
    assert len(table) == 3 and table["trial_id"].is_unique
    assert set(table["status"]) <= {"met-targets", "pruned", "finished"}
    assert before
    for progress in study.glob("trial_*/progress.csv"):
        epochs = pd.read_csv(progress)["epoch"].tolist()
        assert epochs == sorted(set(epochs)), f"{progress.parent.name} repeated epochs {epochs}"
    # The copy's journal goes on with the same Optuna study; each trial's result once.
    trials = journal_trials(study, "cut")
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.value for t in done) == pytest.approx(sorted(table["score"]))
    lost = [t for t in trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert all(t.state == optuna.trial.TrialState.FAIL and t.user_attrs for t in lost), lost


def test_a_time_budget_that_ends_trials_before_they_report_leaves_a_clean_terminal(
    small_synthetic: Path, tmp_path: Path
):
    """The study's halt (tune.halt) ends the running trials without a last report: Tune's result
    grid warned of their missing metrics, and Ray's driver may log each one's unread `train`
    error with a traceback (tune.ray_compat.quiet_halted_trial_errors)."""
    args = study_args(small_synthetic, tmp_path, "budget", "--num-samples", "30")
    driver = start_study([*args, "--time-budget", "12", "--confirm", "0", "--no-report"])
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output
    table = pd.read_csv(tmp_path / "budget" / "results.csv", dtype={"trial_id": str})
    assert "cut-short" in set(table["status"]), table
    for noise in ("Failed to fetch metrics", "Unhandled error", "Traceback", "WARNING"):
        assert noise not in output, output
