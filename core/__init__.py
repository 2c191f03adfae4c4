"""Data, dual-head models and one-config training for facial-expression CNNs. Never imports Ray.

The top level holds the commands users type (train, summary, prepare, predict, export,
pretrained) and the shared contracts (cli, config, errors, files, folder_lock, labels, paths,
quiet); the library lives in rooms by job: data, images, model, training, evaluation, deploy.

Until the rooms, every module sat at the top (`core.models`, `core.metrics`, ...), and code,
notebooks and saved files written then name those paths. MOVED maps each old path to its new
home, and a finder on `sys.meta_path` answers an import of an old path (or of a module below an
old package, `core.synthetic.write`) with the very module object of its new home: one module,
one set of registered Keras classes, one place for a test to patch. A `.keras` file records its
custom classes' modules too (`"module": "core.models"`), but Keras finds them by their
registered `fertune>` names, never by that path.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType

# Old module path -> its home in the rooms. `core.deploy` (now the deploy room; its names still
# resolve there) and `core.pretrained` (now only the command; the library is
# core.model.pretrained) kept their paths, so they are not here.
MOVED = {
    "core.sources": "core.data.sources",
    "core.records": "core.data.records",
    "core.split": "core.data.split",
    "core.dataset": "core.data.dataset",
    "core.synthetic": "core.data.synthetic",
    "core.faces": "core.images.faces",
    "core.preprocess": "core.images.preprocess",
    "core.image_files": "core.images.image_files",
    "core.models": "core.model.builders",
    "core.mini_xception": "core.model.mini_xception",
    "core.warm": "core.model.warm",
    "core.loop": "core.training.loop",
    "core.pipeline": "core.training.pipeline",
    "core.augment": "core.training.augment",
    "core.callbacks": "core.training.callbacks",
    "core.seeds": "core.training.seeds",
    "core.threads": "core.training.threads",
    "core.metrics": "core.evaluation.metrics",
    "core.weighted_metrics": "core.evaluation.weighted_metrics",
    "core.thresholds": "core.evaluation.thresholds",
    "core.baselines": "core.evaluation.baselines",
    "core.yardstick": "core.evaluation.yardstick",
    "core.intervals": "core.evaluation.intervals",
    "core.verdicts": "core.evaluation.verdicts",
    "core.outputs": "core.evaluation.outputs",
    "core.probe": "core.evaluation.probe",
    "core.tflite_model": "core.deploy.tflite_model",
    "core.cost": "core.deploy.cost",
    "core.predictor": "core.deploy.predictor",
}


def new_home(name: str) -> str | None:
    """Where the module an old path `name` names lives now; None for a path that did not move."""
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        old = ".".join(parts[:end])
        if old in MOVED:
            return ".".join([MOVED[old], *parts[end:]])
    return None


class _OldPaths:
    """Finds an old path on `sys.meta_path`, before the file system is searched."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        home = new_home(name) if name.startswith("core.") else None
        return ModuleSpec(name, _NewHome(home)) if home else None


class _NewHome:
    """Loads an old path as its new home's module, imported once and known under both names."""

    def __init__(self, home: str) -> None:
        self.home = home
        self.spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.home)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system gave it the old path's; it is the home's


if _OldPaths not in sys.meta_path:
    sys.meta_path.insert(0, _OldPaths)
