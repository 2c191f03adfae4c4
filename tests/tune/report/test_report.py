"""The study report, the cross-validated comparison, and the page in a real browser.

One tiny study on a real local Ray feeds every test: tune.run writes the quick report itself,
tune.evaluate adds cv.json, tune.report then trains the hand-tuned configs (one epoch each).
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.data.split import fold_splits
from core.evaluation import probe
from core.evaluation.metrics import with_interval
from core.model import pretrained
from tests.browser import run_chromium
from tests.conftest import hostile_pickle
from tests.core.test_probe import (
    count_computations,
    install_fake_weights,
    random_backbone,
    tiny_data,
)
from tune.optuna_storage import JOURNAL_FILE
from tune.report.cli import main as report_main
from tune.report.crossval import cross_validate
from tune.report.crossval import main as evaluate_main
from tune.report.handtuned import linear_probe_candidate
from tune.run import main as tune_main

SECTIONS = {
    "data": {"data_samples.png", "data_emotions.png", "data_aus.png", "data_split.png"},
    "study": {
        "optuna_history.png",
        "optuna_importances.png",
        "optuna_parallel.png",
        "optuna_slices.png",
    },
    "best": {"best_curves.png", "best_confusion.png", "best_au_f1.png", "best_au_accuracy.png"},
    "baselines": {"baselines.png"},
    "cv": {"cv.png"},
}
HEADINGS = (
    "Data",
    "Study",
    "Best trial",
    "The best beside the original hand-tuned configurations and the baselines",
    "Cross-validated comparison (subject-disjoint folds)",
)
# Added to a copy of the page only: the report itself carries no script.
IMAGE_PROBE = (
    "<script>window.addEventListener('load', () => { document.body.dataset.images = "
    "JSON.stringify(Array.from(document.images, i => [i.getAttribute('src'), i.naturalWidth, "
    "i.naturalHeight])); });</script>"
)


class Page(HTMLParser):
    """Images by section id, headings, and whether any script or remote link is present."""

    def __init__(self) -> None:
        super().__init__()
        self.section = None
        self.images: dict[str | None, list[str]] = {}
        self.headings: list[str] = []
        self.in_heading = False
        self.scripts = 0
        self.remote: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "img":
            self.images.setdefault(self.section, []).append(attrs["src"])
        elif tag == "h2":
            self.in_heading = True
        elif tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if "://" in (attrs.get(key) or ""):
                self.remote.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == "h2":
            self.in_heading = False

    def handle_data(self, data):
        if self.in_heading:
            self.headings.append(data.strip())


def parse(page: Path) -> Page:
    parser = Page()
    parser.feed(page.read_text())
    return parser


@pytest.fixture(scope="module")
def fake_fer2013(tmp_path_factory):
    """FER2013's weights replaced by a random backbone's in a cache of this module's own: the
    hand-tuned transfer config trains and the linear probe runs without the network."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FERTUNE_CACHE", str(tmp_path_factory.mktemp("cache")))
        install_fake_weights(random_backbone(), patch)
        patch.setitem(pretrained.NAMED_WEIGHTS, "fer2013", probe.WEIGHTS)
        yield


@pytest.fixture(scope="module")
def study(local_ray, fake_fer2013, small_synthetic: Path, tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("runs")
    argv = ["--smoke-test", "--data", str(small_synthetic), "--storage", str(storage)]
    assert tune_main([*argv, "--name", "shown", "--num-samples", "3"]) == 0
    return storage / "shown"


@pytest.fixture(scope="module")
def quick_page(study: Path) -> str:
    """The page tune.run wrote at the end of the study, before anything else touches it."""
    return (study / "report" / "index.html").read_text()


@pytest.fixture(scope="module")
def cross_validated(study: Path, quick_page: str) -> dict:
    argv = [str(study), "--folds", "2", "--epochs", "1", "--configs", "best,transfer"]
    assert evaluate_main(argv) == 0
    return json.loads((study / "cv.json").read_text())


@pytest.fixture(scope="module")
def full_report(study: Path, cross_validated: dict) -> Path:
    assert report_main([str(study), "--baseline-epochs", "1"]) == 0
    return study / "report" / "index.html"


@pytest.mark.slow
def test_study_ends_with_a_quick_report_that_skips_the_hand_tuned_training(
    study: Path, quick_page: str
):
    assert "not trained (the quick report skips them)" in quick_page
    assert f"python -m tune.evaluate {study} --folds 5" in quick_page
    assert not (study / "report" / "baselines.json").exists()
    thresholds = json.loads((study / "best" / "thresholds.json").read_text())
    report = json.loads((study / "best" / "report.json").read_text())
    best = json.loads((study / "best_config.json").read_text())
    assert thresholds["thresholds"] == report["au_tuned_on_val"]["thresholds"]
    assert thresholds["au_names"] == report["au_tuned_on_val"]["au_names"]
    assert thresholds["input_size"] == best["input_size"] and thresholds["prepared_size"] == 480


@pytest.mark.slow
def test_report_references_existing_non_empty_pngs_for_every_section(full_report: Path):
    page = parse(full_report)
    assert page.headings == list(HEADINGS)
    assert page.scripts == 0 and page.remote == []
    for section, expected in SECTIONS.items():
        assert set(page.images.get(section, [])) == expected, section
        for name in expected:
            path = full_report.parent / name
            assert path.stat().st_size > 5_000, name
            with Image.open(path) as image:
                assert image.format == "PNG" and min(image.size) >= 200, name
                assert np.asarray(image.convert("L")).std() > 5, f"{name} is blank"


@pytest.mark.slow
def test_report_shows_the_trials_table_and_per_au_scores_of_the_best(
    study: Path, full_report: Path
):
    text = full_report.read_text()
    table = pd.read_csv(study / "results.csv", dtype={"trial_id": str})
    for trial_id, status in zip(table["trial_id"], table["status"], strict=True):
        assert f'<td class="text">{trial_id}</td><td class="text">{status}</td>' in text
    report = json.loads((study / "best" / "report.json").read_text())
    au1 = report["au_tuned_on_val"]["per_au"]["AU1"]
    row = f'<td class="text">AU1</td><td>{au1["threshold"]:.3f}</td><td>{au1["precision"]:.3f}</td>'
    assert row in text
    assert f"({report['au_tuned_on_val']['no_au_baseline_accuracy']:.3f})" in text
    # The best against the linear baseline, paired, in words and with its interval.
    paired = next(r for r in report["comparisons"] if r["against"] == "linear")
    shown = with_interval(paired["difference"], paired["interval"], "+")
    cells = ("linear", "emotion acc", shown, paired["verdict"])
    assert "".join(f'<td class="text">{cell}</td>' for cell in cells) in text
    low, high = report["intervals"]["emotion_accuracy"]
    assert f"accuracy {report['emotion']['accuracy']:.3f} [{low:.2f}, {high:.2f}]" in text


@pytest.mark.slow
def test_hand_tuned_configs_are_scored_on_the_same_test_split_within_the_budget(
    study: Path, full_report: Path
):
    baselines = json.loads((study / "report" / "baselines.json").read_text())
    best = json.loads((study / "best" / "report.json").read_text())
    assert set(baselines) == {"base", "large_sample", "transfer"}
    for name, entry in baselines.items():
        config, report = entry["config"], entry["report"]
        assert config["input_size"] <= 48, name  # tiny's budget
        assert config["alpha"] == (1.0 if name == "transfer" else 0.25), name
        assert config["max_epochs"] == 1 and report["training"]["epochs"] == 1
        assert report["split_sizes"] == best["split_sizes"]
        assert report["emotion"]["n"] == best["emotion"]["n"]
    assert baselines["large_sample"]["config"]["sample_size"] == 40  # 500 capped to tiny's 40
    assert baselines["base"]["config"]["sample_size"] is None  # majority count, as the report
    transfer = baselines["transfer"]["config"]
    assert transfer["backbone"] == "mini_xception" and transfer["backbone_weights"] == "fer2013"
    text = full_report.read_text()
    assert "transfer: skipped" not in text
    assert "input_size 480 -&gt; 48" in text
    # The best paired with each hand-tuned config on the same test images (both keep outputs).
    paired = text.split("Paired with each hand-tuned configuration")[1]
    for name, entry in baselines.items():
        assert len(entry["report"]["test_outputs"]["subjects"]) == best["emotion"]["n"]
        assert f'<td class="text">{name}</td><td class="text">AU mAP</td>' in paired
    assert "no paired comparison" not in text


@pytest.mark.slow
def test_cross_validation_reports_mean_and_std_over_subject_folds(
    study: Path, cross_validated: dict, full_report: Path
):
    assert cross_validated["skipped"] == {}
    assert set(cross_validated["configs"]) == {"best", "transfer"}
    best = cross_validated["configs"]["best"]
    folds = best["per_fold"]
    assert [row["fold"] for row in folds] == [1, 2]
    # Nested: the study's validation subjects chose the best config, so they are never tested;
    # every other image is tested exactly once.
    held = cross_validated["selection_held_out"]
    assert held["images"] > 0 and sum(row["n_test"] for row in folds) == 72 - held["images"]
    assert "Nested: the" in full_report.read_text()
    accuracies = [row["emotion_accuracy"] for row in folds]
    assert best["mean"]["emotion_accuracy"] == pytest.approx(np.mean(accuracies))
    assert best["std"]["emotion_accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert len(pd.read_csv(study / "cv.csv")) == 2 * len(cross_validated["configs"])  # fold rows
    mean, std = best["mean"]["au_f1_macro"], best["std"]["au_f1_macro"]
    assert f"{mean:.3f} ± {std:.3f}" in full_report.read_text()


def test_cross_validation_folds_keep_subjects_apart():
    subjects = np.repeat([f"S{i:02d}" for i in range(20)], 3)
    emotions = np.tile([0, 1, 2], 20)
    splits = fold_splits(emotions, subjects, folds=4, seed=3)
    tested = np.concatenate([split.test for split in splits])
    assert sorted(tested) == list(range(60))
    for split in splits:
        train, val, test = (set(subjects[part]) for part in (split.train, split.val, split.test))
        assert train and val and test
        assert not (train & val or train & test or val & test)
        assert len(split.train) + len(split.val) + len(split.test) == 60


def test_cross_validation_fits_the_linear_probe_per_fold_on_one_feature_set(
    isolated_cache: Path, monkeypatch
):
    skipped = linear_probe_candidate()
    assert skipped.config is None
    assert skipped.notes == ["skipped: fer2013 weights not fetched: python -m core.pretrained"]
    install_fake_weights(random_backbone(), monkeypatch)
    computed = count_computations(monkeypatch)
    prepared = tiny_data().prepared
    splits = fold_splits(prepared.emotions, prepared.subjects, folds=2, seed=0)
    result = cross_validate([linear_probe_candidate()], prepared, splits)["linear_probe"]
    assert [row["epochs"] for row in result["per_fold"]] == [0, 0]
    assert sum(row["n_test"] for row in result["per_fold"]) == len(prepared)
    assert computed == [1]  # the folds share one image set: the backbone ran once


@pytest.mark.slow
def test_page_loads_in_headless_chromium_with_every_image(full_report: Path, tmp_path: Path):
    probe = full_report.with_name("probe.html")  # beside the page: same relative image links
    probe.write_text(full_report.read_text().replace("</body>", IMAGE_PROBE + "</body>"))
    try:
        shown = run_chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = parse_dom(shown.stdout)
    assert dom.headings == list(HEADINGS)
    images = json.loads(dom.body_data["data-images"])
    expected = set().union(*SECTIONS.values())
    assert {src for src, _, _ in images} == expected
    assert all(width > 0 and height > 0 for _, width, height in images), images
    shot = tmp_path / "page.png"
    taken = run_chromium(
        tmp_path, "--hide-scrollbars", "--window-size=1200,3000", f"--screenshot={shot}",
        full_report.as_uri(),
    )  # fmt: skip
    assert taken.returncode == 0, taken.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        assert np.asarray(image.convert("L")).std() > 10  # text and figures, not a blank page


class Dom(Page):
    def __init__(self) -> None:
        super().__init__()
        self.body_data: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.body_data = {k: v for k, v in attrs if k.startswith("data-")}
        super().handle_starttag(tag, attrs)


def parse_dom(text: str) -> Dom:
    parser = Dom()
    parser.feed(text)
    return parser


@pytest.mark.slow
def test_a_report_runs_no_code_from_a_study_folder_it_was_sent(
    study: Path, quick_page: str, tmp_path: Path
):
    sent = tmp_path / "sent"
    shutil.copytree(study, sent)
    (sent / JOURNAL_FILE).unlink()  # the searcher's pickle was the report's fallback before
    marker = tmp_path / "marker"
    for state in [*sent.glob("*.pkl"), *sent.glob("search_gen_state-*.json")]:
        state.write_bytes(hostile_pickle(marker))
    assert report_main([str(sent), "--no-baselines"]) == 0
    assert not marker.exists()
    page = parse(sent / "report" / "index.html")
    shown = [Path(src).name for sources in page.images.values() for src in sources]
    assert "optuna_history.png" in shown  # from results.csv when there is no journal
