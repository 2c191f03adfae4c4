"""Warm trials: one compiled model per architecture, reset in place for each trial of that shape.

Why: on two cores Keras spends 8-15 s tracing a dual-head MobileNet's train and test steps, often
more than a short trial's epochs, and a second model of the same shape traces again. A model whose
weights and optimizer state are reset in place keeps its traced functions, so the next trial of a
shape already seen in this process starts in about a second. That holds only while every value
that differs between those trials lives in a variable the traced step reads (learning rate, L1
strength, AU positive weights: `builders.assign_trial_values`) and `compile()` is never called
again; whatever is baked into the graph is part of the key (`architecture_key`). Sample size,
augmentation and crop live in the tf.data pipeline, which each trial builds anew anyway.

A reset trial starts from exactly the weights a fresh trial of its seed would: a fresh network is
built under the caller's seed only to copy its variables (BatchNorm statistics and dropout seed
states included) into the cached one. One process, no Ray: the tuner's trainable uses it because
Ray keeps a worker alive between trials (`reuse_actors`); `core.train` does not need it.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import keras
import numpy as np

from ..config import AUHead, ModelConfig
from .builders import assign_trial_values, build_model, build_network

# Shapes kept compiled at once. A study mostly alternates between a few input sizes; each cached
# model holds its weights, optimizer slots and traced graphs (tens of MB at alpha 1.0), so few.
MAX_SHAPES = 2

_models: OrderedDict[tuple, keras.Model] = OrderedDict()


def architecture_key(cfg: ModelConfig, head: AUHead) -> tuple:
    """What a traced train step depends on: every model key but the values held in variables.

    Whether L1 and weighted AU loss are on is part of it (their layers and loss class differ);
    so is the dtype policy (mixed precision builds another graph). Batch size is not: the step
    is traced for any batch length.
    """
    fixed = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name != "learning_rate"}
    fixed |= {"l1": cfg.l1 > 0, "n_aus": head.n_aus, "au_pos_weights": head.pos_weights is not None}
    return (*sorted(fixed.items()), ("dtype_policy", keras.config.dtype_policy().name))


def warm_model(cfg: ModelConfig, head: AUHead) -> keras.Model:
    """A compiled model for `cfg`, in the state a fresh `build_model(cfg, head)` would have.

    Call it where `build_model` would be called, after seeding: the first trial of a shape gets
    a new model (and pays the tracing); the next ones get that model back, reset.
    """
    key = architecture_key(cfg, head)
    release_memory()
    model = _models.get(key)
    if model is None:
        model = build_model(cfg, head)
        _remember(key, model)
        return model
    _models.move_to_end(key)
    reset_model(model, cfg, head)
    return model


def reset_model(model: keras.Model, cfg: ModelConfig, head: AUHead) -> None:
    """Fresh weights for the caller's seed, a zeroed optimizer and the config's variable values."""
    fresh = build_network(cfg, head.n_aus)
    copy_variables(fresh.variables, model.variables)
    del fresh
    reset_optimizer(model.optimizer)
    assign_trial_values(model, cfg, head)
    model.reset_metrics()


def copy_variables(source: Sequence[Any], target: Sequence[Any]) -> None:
    """Assign each source variable's value to the target variable at the same place."""
    if len(source) != len(target):
        raise RuntimeError(f"cannot reset a model: {len(source)} variables for {len(target)}")
    for src, dst in zip(source, target, strict=True):
        if tuple(src.shape) != tuple(dst.shape):
            raise RuntimeError(f"cannot reset {dst.path}: shape {src.shape} for {dst.shape}")
        dst.assign(src.value)


def reset_optimizer(optimizer: Any) -> None:
    """The state of an optimizer that has taken no step: step count and moments at zero.

    The learning rate is left to `assign_trial_values`. Under mixed precision the loss-scale
    wrapper goes back to its initial scale and resets the optimizer it wraps.
    """
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        reset_optimizer(inner)
        optimizer.step_counter.assign(0)
        optimizer.dynamic_scale.assign(optimizer.initial_scale)
        return
    rate = optimizer.learning_rate
    for variable in optimizer.variables:
        if variable is not rate:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))


def release_memory() -> None:
    """Free what earlier runs of this process left behind, before the next one builds anything.

    Their datasets, callbacks and throw-away networks sit in reference cycles that only a full
    collection frees (0.1-0.3 s); left to the collector's own schedule, they add a few MB a run
    to a long-lived worker.
    """
    gc.collect()


def cached_shapes() -> list[tuple]:
    """The keys of the models held, least recently used first."""
    return list(_models)


def clear() -> None:
    """Drop every cached model (tests; a process that changes its mind about the dtype policy)."""
    _models.clear()
    gc.collect()


def _remember(key: tuple, model: keras.Model) -> None:
    _models[key] = model
    while len(_models) > MAX_SHAPES:
        _models.popitem(last=False)
        gc.collect()  # a Keras model and its traced graphs sit in reference cycles
