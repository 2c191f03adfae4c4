"""A pickle's imports read without running it (tune.pickle_scan), on real and hostile pickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from ray.tune.search.optuna import OptunaSearch

import search_spaces
from tests.conftest import hostile_pickle
from tune.pickle_scan import embedded_pickles, scan
from tune.search import METRIC, make_searcher


def test_a_hostile_pickle_is_refused_without_being_run(tmp_path: Path):
    marker = tmp_path / "marker"
    found = scan(hostile_pickle(marker))
    assert found.whole and found.refused() == ["posix.system"]
    assert not marker.exists()


def test_a_name_that_reaches_through_a_module_is_refused():
    # protocol 4: STACK_GLOBAL("ray._private.utils", "os.system") resolves os.system
    crafted = (
        b"\x80\x04\x8c\x12ray._private.utils\x94\x8c\tos.system\x94\x93\x94"
        b"\x8c\x04true\x94\x85\x94R\x94."
    )
    assert scan(crafted).refused() == ["ray._private.utils.os.system"]
    computed = b"\x80\x04\x8c\x03ray\x8c\x01x\x86\x93."  # the name a tuple, not two strings
    assert scan(computed).refused() == ["a global whose name is computed"]


def test_a_real_searcher_state_is_allowed_and_a_cut_one_is_not_whole(tmp_path: Path):
    searcher = make_searcher(search_spaces.get("large_sample"), 0, "tpe", tmp_path, "s")
    assert isinstance(searcher, OptunaSearch)
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", {METRIC: 0.5})  # a study with a trial told
    searcher.save(str(tmp_path / "state.pkl"))
    content = (tmp_path / "state.pkl").read_bytes()
    assert scan(content).whole and scan(content).refused() == []
    cut = scan(content[: len(content) // 2])
    assert not cut.whole and cut.imports  # what came before the cut is still read


def test_pickles_in_hex_are_found_inside_json_strings_of_json():
    inner = json.dumps({"storage": {"_type": "CLOUDPICKLE_FALLBACK", "value": b"".hex()}})
    hostile = hostile_pickle(Path("/nonexistent"))
    state = json.dumps({"trial_data": [[inner, json.dumps({"x": hostile.hex()})]], "id": "80ab"})
    found = list(embedded_pickles(state))
    assert hostile in found
    assert scan(pickle.dumps({"a": 1})).refused() == []
