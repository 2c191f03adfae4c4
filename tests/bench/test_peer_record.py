"""bench/peer_record.py: the race's JSON record, redrawn from the folders bench/peers.py wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def record(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import peer_record

    return peer_record


def write_race(folder: Path, budget_s: float, scores: dict[str, list[float]]) -> None:
    """A race folder as bench/peers.py leaves it: each tool's seeds reach their score at half
    the budget; ours' seeds also leave a study with two trials' progress.csv."""
    runs = []
    for tool, by_seed in scores.items():
        for seed, score in enumerate(by_seed):
            curve = [[0.1 * budget_s, 0.3], [0.5 * budget_s, score]]
            reached = 0.6 * budget_s if tool == "ours" else None
            runs.append(
                {
                    "tool": tool,
                    "seed": seed,
                    "curve": curve,
                    "score_floor": 0.3,
                    "time_to_target_s": reached,
                    "best_val_score": score,
                    "test_emotion_accuracy": 0.8,
                    "test_au_f1_macro": 0.5,
                    "trials_started": 2,
                    "trials_finished": 2,
                    "epochs": 5,
                    "wall_s": 150.0,
                    "cpu_s": 150.0,
                }
            )
            if tool == "ours":
                study = folder / "runs" / f"ours-seed{seed}"
                write_progress(study / "trial_a" / "progress.csv", [12.0, 3.0, 5.0])
                write_progress(study / "trial_b" / "progress.csv", [9.0])
                (study / "study.json").write_text(json.dumps({"cpus_per_trial": 1.0}))
    (folder / "runs.json").write_text(json.dumps(runs))
    settings = {"budget_s": budget_s, "space": "large_sample", "seeds": [0, 1, 2, 3, 4]}
    (folder / "race.json").write_text(json.dumps(settings))


def write_progress(path: Path, seconds: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,time_this_iter_s"] + [f"{i + 1},{s}" for i, s in enumerate(seconds)]
    path.write_text("\n".join(lines) + "\n")


def test_useful_work_counts_epochs_not_each_trials_start(record, tmp_path: Path):
    write_race(tmp_path, 120, {"ours": [0.5]})
    work = record.useful_work(tmp_path / "runs" / "ours-seed0", wall_s=20.0, cores=2)
    # trial a: its first iteration counts as its median later epoch (4 s), 8 s were its start;
    # trial b has one epoch: the run's median later epoch (4 s), 5 s its start.
    assert work["epoch_core_s"] == pytest.approx(4 + 3 + 5 + 4)
    assert work["trial_start_core_s"] == pytest.approx(8 + 5)
    assert work["share"] == pytest.approx(16 / 40)


def test_the_record_holds_every_budget_and_a_goal_only_where_the_figures_show_it(
    record, tmp_path: Path
):
    ahead = {"ours": [0.60, 0.62, 0.64, 0.66, 0.68], "optuna": [0.50, 0.53, 0.55, 0.58, 0.60]}
    behind = {"ours": [0.50, 0.52, 0.54, 0.56, 0.58], "optuna": [0.60, 0.62, 0.64, 0.66, 0.69]}
    write_race(tmp_path / "short", 120, ahead)
    write_race(tmp_path / "long", 300, behind)
    out = tmp_path / "results" / "peers.json"
    assert record.main([str(tmp_path / "long"), str(tmp_path / "short"), "--out", str(out)]) == 0
    whole = json.loads(out.read_text(), parse_constant=lambda word: pytest.fail(word))
    assert whole["budgets_s"] == [120, 300]
    assert whole["complete"] is False  # three peers never ran
    short, long = whole["races"]
    assert short["goals"]["ours_ahead_of_optuna_at_100pct"] is True
    assert short["goals"]["ours_ge_every_peer_at_50_75_100pct"] is True
    assert long["goals"]["ours_ahead_of_optuna_at_100pct"] is False
    assert whole["goals"]["ours_ahead_of_optuna_at_100pct"] is False  # must hold at each budget
    assert short["goals"]["time_to_target_le_0.7x_optuna"] is True  # optuna never reached it
    assert whole["goals"]["ours_ahead_of_kt_bayes_at_100pct"] is False  # not run: not shown
    # The curves are kept, so every table can be redrawn without rerunning.
    assert short["per_seed"]["optuna"]["4"]["curve"] == [[12.0, 0.3], [60.0, 0.6]]
    assert short["per_seed"]["ours"]["0"]["useful_work"]["epoch_core_s"] == pytest.approx(16)
    anytime = {row["tool"]: row for row in short["anytime"]}
    assert anytime["ours"]["1.0"] == pytest.approx(0.64)
    assert anytime["ours"]["intervals"]["1.0"][0] <= 0.64 <= anytime["ours"]["intervals"]["1.0"][1]
    assert "| ours | " in short["tables"] and "| optuna | " in short["tables"]


def test_a_folder_without_its_race_settings_is_refused(record, tmp_path: Path):
    (tmp_path / "runs.json").write_text("[]")
    with pytest.raises(SystemExit, match=r"no race\.json"):
        record.read_race(tmp_path)


def test_a_rerun_of_ours_replaces_our_runs_and_is_named(record, tmp_path: Path):
    write_race(tmp_path / "race", 120, {"ours": [0.5] * 5, "optuna": [0.6] * 5})
    write_race(tmp_path / "rerun", 120, {"ours": [0.7] * 5})
    race = record.read_race(tmp_path / "race", ours=tmp_path / "rerun")
    scores = sorted((r.tool, r.outcome["best_val_score"]) for r in race["runs"])
    assert scores == [("optuna", 0.6)] * 5 + [("ours", 0.7)] * 5
    assert race["settings"]["ours_folder"] == str(tmp_path / "rerun")
    one = record.race_record(race)
    assert one["goals"]["ours_ahead_of_optuna_at_100pct"] is True
    assert one["per_seed"]["ours"]["0"]["useful_work"]["epoch_core_s"] == pytest.approx(16)
    assert race["settings"]["ours_rerun_seeds"] == [0, 1, 2, 3, 4]
    write_race(tmp_path / "long", 300, {"ours": [0.7] * 5})
    with pytest.raises(SystemExit, match="another budget"):
        record.read_race(tmp_path / "race", ours=tmp_path / "long")


def test_keep_adds_a_budget_to_a_record_whose_other_races_folders_are_gone(record, tmp_path: Path):
    out = tmp_path / "peers.json"
    write_race(tmp_path / "short", 120, {"ours": [0.6] * 5, "optuna": [0.5] * 5})
    assert record.main([str(tmp_path / "short"), "--out", str(out)]) == 0
    short = json.loads(out.read_text())["races"][0]
    write_race(tmp_path / "long", 300, {"ours": [0.5] * 5, "optuna": [0.6] * 5})
    (tmp_path / "short" / "runs.json").unlink()  # the 120 s race's folder is gone
    assert record.main([str(tmp_path / "long"), "--out", str(out), "--keep"]) == 0
    whole = json.loads(out.read_text())
    assert whole["budgets_s"] == [120, 300]
    assert whole["races"][0] == short  # as recorded, not redrawn
    assert whole["races"][0]["goals"]["ours_ahead_of_optuna_at_100pct"] is True
    assert whole["goals"]["ours_ahead_of_optuna_at_100pct"] is False  # at 300 s optuna leads
    assert record.main([str(tmp_path / "long"), "--out", str(out)]) == 0  # without --keep
    assert json.loads(out.read_text())["budgets_s"] == [300]


def test_keep_refuses_a_file_that_is_not_a_record(record, tmp_path: Path):
    out = tmp_path / "peers.json"
    out.write_text(json.dumps({"races": [{"tool": "ours"}]}))
    write_race(tmp_path / "long", 300, {"ours": [0.5] * 5})
    with pytest.raises(SystemExit, match="not a list of records with a budget"):
        record.main([str(tmp_path / "long"), "--out", str(out), "--keep"])
    assert json.loads(out.read_text()) == {"races": [{"tool": "ours"}]}  # left as it was


def test_a_rerun_of_some_seeds_replaces_ours_on_those_seeds_only(record, tmp_path: Path):
    write_race(tmp_path / "race", 120, {"ours": [0.5] * 5, "optuna": [0.6] * 5})
    write_race(tmp_path / "rerun", 120, {"ours": [0.7]})  # seed 0 only
    race = record.read_race(tmp_path / "race", ours=tmp_path / "rerun")
    ours = sorted(
        (r.outcome["seed"], r.outcome["best_val_score"]) for r in race["runs"] if r.tool == "ours"
    )
    assert ours == [(0, 0.7), (1, 0.5), (2, 0.5), (3, 0.5), (4, 0.5)]
    assert race["settings"]["ours_rerun_seeds"] == [0]
    (tmp_path / "rerun" / "runs" / "ours-seed0" / "trial_b" / "progress.csv").unlink()
    per_seed = record.race_record(race)["per_seed"]["ours"]
    assert per_seed["0"]["useful_work"]["epoch_core_s"] == pytest.approx(12)  # the rerun's study
    assert per_seed["1"]["useful_work"]["epoch_core_s"] == pytest.approx(16)  # the race's
