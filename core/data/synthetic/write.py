"""Writing the set in the CK+ layout: one process per core, and the cached default set."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ...errors import ConfigError, DataError
from ...files import (
    check_output_folder,
    process_alive,
    remove_stale_temporaries,
    temporary_path,
)
from ...paths import cache_name, cache_root
from .draw import draw_frame
from .plan import GENERATOR_VERSION, SequencePlan, SubjectPlan, plan_dataset

# Level 1 with Huffman-only coding: the sensor noise defeats LZ matching, so this is faster and
# smaller than level 1's default strategy; the one SUB filter (instead of trying all five on
# every row) writes 1.5x faster for 10 % larger files.
_PNG = (
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_SUB,
)


def ckplus_float(value: float) -> str:
    """A number the way CK+ writes it: '   7.0000000e+00'."""
    return f"{value:16.7e}"


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, list(_PNG)):
        raise DataError(f"{path}: OpenCV could not write the image")


def write_subject(root: Path, subject: SubjectPlan, seed: int, frames_per_sequence: int) -> None:
    """Draw and write one subject's sequences; each frame's randomness has its own seed."""
    for sequence in subject.sequences:
        stem = f"{subject.name}_{sequence.number:03d}"
        rel = Path(subject.name) / f"{sequence.number:03d}"
        folder = root / "cohn-kanade-images" / rel
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(1, frames_per_sequence + 1):
            rng = np.random.default_rng([seed, 2, subject.index, sequence.number, frame])
            image = draw_frame(subject, sequence, frame, frames_per_sequence, rng)
            _write_png(folder / f"{stem}_{frame:08d}.png", image)
        if sequence.labelled:
            _write_labels(root, rel, f"{stem}_{frames_per_sequence:08d}", sequence)


def _write_labels(root: Path, rel: Path, peak: str, sequence: SequencePlan) -> None:
    emotion = root / "Emotion" / rel
    facs = root / "FACS" / rel
    emotion.mkdir(parents=True, exist_ok=True)
    facs.mkdir(parents=True, exist_ok=True)
    (emotion / f"{peak}_emotion.txt").write_text(ckplus_float(sequence.code) + "\n")
    lines = "".join(ckplus_float(au) + ckplus_float(level) + "\n" for au, level in sequence.facs)
    (facs / f"{peak}_facs.txt").write_text(lines)


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _clean_context() -> multiprocessing.context.BaseContext:
    """Workers that do not inherit the caller's threads (TensorFlow, OpenCV's pool): a fork of
    a threaded process can hang. Like any non-fork start, the caller's script needs a
    `if __name__ == "__main__":` guard."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def exit_with(parent_pid: int) -> None:
    """A pool worker's initializer: the worker ends within a second of the command that
    started it (after a `kill -9` of the command, workers went on drawing for minutes). A
    forkserver worker's parent is the fork server, which itself waits for its workers, so the
    worker watches the command's pid rather than its parent's."""

    def watch() -> None:
        while process_alive(parent_pid):
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def generate(
    root: Path,
    *,
    seed: int = 0,
    n_subjects: int = 120,
    n_labelled: int = 560,
    n_unlabelled: int = 40,
    frames_per_sequence: int = 3,
    workers: int | None = None,
) -> Path:
    """Draw the set into `root` in the CK+ layout (one process per core, subjects in parallel)."""
    if frames_per_sequence < 1:
        raise ConfigError(f"frames_per_sequence={frames_per_sequence}: expected >= 1")
    subjects = plan_dataset(
        seed=seed, n_subjects=n_subjects, n_labelled=n_labelled, n_unlabelled=n_unlabelled
    )
    root = Path(root)
    for part in ("cohn-kanade-images", "Emotion", "FACS"):
        (root / part).mkdir(parents=True, exist_ok=True)
    n_workers = min(_worker_count(workers), len(subjects))
    if n_workers == 1:
        for subject in subjects:
            write_subject(root, subject, seed, frames_per_sequence)
        return root
    with ProcessPoolExecutor(
        n_workers, mp_context=_clean_context(), initializer=exit_with, initargs=(os.getpid(),)
    ) as pool:
        jobs = [
            pool.submit(write_subject, root, subject, seed, frames_per_sequence)
            for subject in subjects
        ]
        for job in jobs:
            job.result()
    return root


def builtin_root(
    *,
    seed: int = 0,
    n_subjects: int = 120,
    n_labelled: int = 560,
    cache_dir: Path | None = None,
) -> Path:
    """The default data set, drawn once into the cache; a half-drawn folder never gets the name."""
    base = Path(cache_dir) if cache_dir is not None else cache_root()
    final = base / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-s{n_subjects}-n{n_labelled}"
    if final.is_dir():
        return final
    check_output_folder(cache_name(), base)  # the set cannot be drawn anywhere else
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(base)
    temp = temporary_path(base, final.name)
    try:
        generate(temp, seed=seed, n_subjects=n_subjects, n_labelled=n_labelled)
        try:
            os.replace(temp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return final
