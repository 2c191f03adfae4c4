"""core/ in rooms: what the flat layout's module paths, pickles and model files still reach."""

from __future__ import annotations

import importlib
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import core
from core.data.records import Record
from tests.conftest import REPO, as_the_flat_layout_wrote_it
from tune.pickle_scan import scan


def test_every_old_module_path_is_the_very_module_of_its_new_home():
    for old, home in {**core.MOVED, "core.synthetic.write": "core.data.synthetic.write"}.items():
        module = importlib.import_module(old)
        assert module is importlib.import_module(home), old
        assert module.__name__ == module.__spec__.name == home, old
    from core.models import build_model

    from core.model.builders import build_model as built

    assert build_model is built


def test_an_old_path_imported_first_loads_its_home_once():
    """In a fresh process, as a user's old script or an unpickler would: the old path first."""
    code = (
        "import sys, core.records, core.synthetic.write as w\n"
        "from core.data import records, synthetic\n"
        "print(core.records is records, w is synthetic.write, records.__spec__.name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True True core.data.records", out.stdout + out.stderr


def test_old_paths_map_to_their_rooms_and_no_other_path_does():
    assert core.new_home("core.models") == "core.model.builders"
    assert core.new_home("core.synthetic.plan") == "core.data.synthetic.plan"
    assert core.new_home("core.model.builders") is None and core.new_home("core.nope") is None


def test_the_old_conversion_module_names_resolve_in_the_deploy_room():
    from core import deploy
    from core.deploy import conversion

    names = deploy.CONVERSION_NAMES
    assert all(getattr(deploy, name) is getattr(conversion, name) for name in names)
    assert not hasattr(deploy, "nope")


def test_the_pretrained_command_still_answers_the_librarys_names():
    from core import pretrained
    from core.model import pretrained as library

    assert pretrained.cached_weights is library.cached_weights and pretrained.main
    assert not hasattr(pretrained, "nope")


def test_a_pickle_naming_an_old_path_loads_and_passes_the_resume_scan():
    record = Record(Path("a.png"), "S005", "001", 0, (1, 0))
    content = pickle.dumps(record, protocol=2).replace(b"core.data.records\n", b"core.records\n")
    assert (("core.records", "Record")) in scan(content).imports
    assert scan(content).refused() == []
    assert pickle.loads(content) == record


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # never trained
def test_a_model_saved_by_the_flat_layout_loads_for_resume_and_prediction(tmp_path: Path):
    import keras

    from core.config import AUHead, train_config
    from core.deploy.predictor import load_model
    from core.model.builders import build_model

    checked = train_config({"backbone": "mini_xception", "input_size": 48, "l1": 0.01})
    model = build_model(checked.model, AUHead(n_aus=3))
    path = tmp_path / "model.keras"
    model.save(path)
    assert as_the_flat_layout_wrote_it(path) >= 4  # L1, AU metrics, the subsample layers
    with zipfile.ZipFile(path) as archive:
        named = archive.read("config.json").decode()
    assert '"module": "core.models"' in named and '"module": "core.mini_xception"' in named
    assert "core.model." not in named
    images = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    expected = model.predict(images, verbose=0)
    resumed = keras.models.load_model(path, safe_mode=True)  # core.training.loop's resume
    for loaded in (resumed, load_model(path)):
        got = loaded.predict(images, verbose=0)
        for head in ("emotion", "au"):
            np.testing.assert_allclose(got[head], expected[head], rtol=1e-6)
    assert json.loads(json.dumps(resumed.get_compile_config()))  # loss and metrics came back
