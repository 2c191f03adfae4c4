"""One place loads a study's data (`StudySettings.load_data`): the run, the report and
cross-validation see the same images, also for a study started with --allow-outside-root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.data.sources import load_source
from core.labels import DEFAULT_AUS, EMOTIONS
from tune.report.cli import main as report_main
from tune.report.crossval import main as evaluate_main
from tune.study import StudySettings


@pytest.fixture
def outside_root_study(small_synthetic: Path, tmp_path: Path) -> Path:
    """A study folder whose CSV names every image by an absolute path outside the CSV's folder
    (allowed only with --allow-outside-root): its study.json and a results table."""
    source = load_source(small_synthetic)
    rows = [
        f"{record.path},{record.subject},{EMOTIONS[record.emotion]},"
        + "+".join(str(au) for au, on in zip(DEFAULT_AUS, record.aus, strict=True) if on)
        for record in source.records
    ]
    manifest = tmp_path / "manifest" / "labels.csv"
    manifest.parent.mkdir()
    manifest.write_text("\n".join(["path,subject,emotion,aus", *rows]) + "\n")
    settings = StudySettings(
        space="tiny",
        name="outside",
        storage=str(tmp_path / "runs"),
        data=str(manifest),
        allow_outside_root=True,
    )
    folder = Path(settings.experiment_path)
    settings.save(folder)
    # A study that ran one trial and has no best model yet: the report has what it needs.
    (folder / "results.csv").write_text(
        "trial_id,order,status,epochs,score\n0a1b2c3d,0,finished,1,0.3\n"
    )
    return folder


def test_report_and_evaluate_read_a_study_started_with_allow_outside_root(
    outside_root_study: Path, capfd
):
    settings = StudySettings.load(outside_root_study)
    data = settings.load_data(progress=False)
    assert len(data.prepared) == 72
    assert evaluate_main([str(outside_root_study), "--configs", "linear", "--folds", "2"]) == 0
    assert capfd.readouterr().err == ""
    cv = json.loads((outside_root_study / "cv.json").read_text())
    assert len(cv["configs"]["linear"]["per_fold"]) == 2
    assert report_main([str(outside_root_study)]) == 0
    page = (outside_root_study / "report" / "index.html").read_text()
    assert "72 images" in page, "the report lost the data section"
    assert "outside the manifest's folder" not in page
    # Without the study's permission the same CSV is refused: the setting is what carries it.
    settings.allow_outside_root = False
    settings.save(outside_root_study)
    assert evaluate_main([str(outside_root_study), "--configs", "linear", "--folds", "2"]) == 2
    assert "outside the manifest's folder" in capfd.readouterr().err
