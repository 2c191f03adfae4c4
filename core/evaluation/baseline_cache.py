"""The baselines' test outputs, kept on disk: every study on one data set and split gets the same.

A study's end fits the 24 px logistic regression and the linear probe (160 regressions and the
frozen backbone over every image) to put its best beside them: about 10 s of a 2-core machine,
the same each time a study runs on the same images with the same seed. The key holds everything
the outputs depend on (images, labels, subjects, split, seed, the probe's weights file and the
source of the code that computes them), so a change to any of them computes afresh. A file that
does not read back as the outputs its key promises is computed again and replaced: a cache is
never trusted over a computation.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..files import write_bytes_atomically
from ..paths import cache_root
from . import baselines, metrics, outputs, probe
from .outputs import TestOutputs

if TYPE_CHECKING:
    from ..data.dataset import TrainingData

FOLDER = "baselines"
ARRAYS = ("emotion_true", "emotion_prob", "au_true", "au_prob", "thresholds")


def cached_outputs(
    data: TrainingData,
    seed: int,
    probe_weights: Path | None,
    compute: Callable[[], dict[str, TestOutputs]],
) -> dict[str, TestOutputs]:
    """`compute()`'s outputs, read from the cache when an earlier call kept them for the same
    inputs; kept there otherwise. A cache that cannot be written (a read-only home) or code
    without its source (a frozen install) only costs the computation each time."""
    try:
        path = cache_root() / FOLDER / f"{cache_key(data, seed, probe_weights)}.npz"
    except (OSError, TypeError):  # inspect.getsource: no source to key on
        return compute()
    kept = read_outputs(path, data)
    if kept is not None:
        return kept
    fresh = compute()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(path, packed(fresh))
    return fresh


def cache_key(data: TrainingData, seed: int, probe_weights: Path | None) -> str:
    """SHA-256 over every input of the baselines' outputs and the code that computes them."""
    digest = hashlib.sha256()
    prepared = data.prepared
    for array in (prepared.images, prepared.emotions, prepared.aus):
        digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr((array.dtype.str, array.shape)).encode())
    digest.update("\0".join(map(str, prepared.subjects)).encode())
    for part in (data.split.train, data.split.val, data.split.test):
        digest.update(np.asarray(part, dtype=np.int64).tobytes() + b"|")
    digest.update(f"seed={seed}".encode())
    weights = b"" if probe_weights is None else Path(probe_weights).read_bytes()
    digest.update(hashlib.sha256(weights).digest())
    for module in (baselines, metrics, outputs, probe):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()


def packed(by_name: dict[str, TestOutputs]) -> bytes:
    """The outputs as one .npz: per baseline its arrays and, when known, its test subjects."""
    arrays = {}
    for name, out in by_name.items():
        arrays.update({f"{name}/{field}": np.asarray(getattr(out, field)) for field in ARRAYS})
        if out.subjects is not None:
            arrays[f"{name}/subjects"] = np.asarray(out.subjects, dtype=str)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_outputs(path: Path, data: TrainingData) -> dict[str, TestOutputs] | None:
    """The outputs a cache file holds, or None when it is missing or does not hold outputs of
    `data`'s test images (truncated, another set's, another shape)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    names = dict.fromkeys(key.split("/", 1)[0] for key in arrays)  # in the order kept
    found = {name: _outputs(name, arrays, data) for name in names}
    if not found or any(out is None for out in found.values()):
        return None
    return found


def _outputs(name: str, arrays: dict[str, np.ndarray], data: TrainingData) -> TestOutputs | None:
    if any(f"{name}/{field}" not in arrays for field in ARRAYS):
        return None
    got = {field: arrays[f"{name}/{field}"] for field in ARRAYS}
    test = data.split.test
    n, n_aus = len(test), data.prepared.aus.shape[1]
    shapes_fit = (
        got["emotion_true"].shape == (n,)
        and got["emotion_prob"].ndim == 2
        and got["emotion_prob"].shape[0] == n
        and got["au_true"].shape == got["au_prob"].shape == (n, n_aus)
        and got["thresholds"].shape == (n_aus,)
    )
    if not shapes_fit or not all(np.isfinite(got[f]).all() for f in ("emotion_prob", "au_prob")):
        return None
    subjects = arrays.get(f"{name}/subjects")
    labels_fit = (
        np.array_equal(got["emotion_true"], data.prepared.emotions[test])
        and np.array_equal(got["au_true"], np.asarray(data.prepared.aus[test]).astype(int))
        and (subjects is None or np.array_equal(subjects, np.asarray(data.prepared.subjects)[test]))
    )
    if not labels_fit:
        return None
    return TestOutputs(
        subjects=subjects,
        emotion_true=got["emotion_true"],
        emotion_prob=got["emotion_prob"],
        au_true=got["au_true"],
        au_prob=got["au_prob"],
        thresholds=tuple(float(t) for t in got["thresholds"]),
    )
