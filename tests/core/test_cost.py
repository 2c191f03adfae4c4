"""What a model costs: parameters, and TFLite CPU latency kept once per architecture."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core import cost
from core.config import ModelConfig

TINY = ModelConfig(backbone="mobilenet", alpha=0.25, input_size=32)
N_AUS = 3


def test_latency_is_measured_once_per_architecture_and_kept_in_the_study(
    tmp_path: Path, monkeypatch
):
    measured = cost.latency_ms(TINY, N_AUS, cache=tmp_path)
    assert 0 < measured < 1000
    kept = json.loads((tmp_path / cost.LATENCY_FILE).read_text())
    assert list(kept.values()) == [measured]
    monkeypatch.setattr(cost, "_latency_of", lambda *_: pytest.fail("measured again"))
    assert cost.latency_ms(replace(TINY, learning_rate=0.1), N_AUS, cache=tmp_path) == measured
    with pytest.raises(pytest.fail.Exception, match="measured again"):  # another architecture
        cost.latency_ms(replace(TINY, input_size=48), N_AUS, cache=tmp_path)
    with pytest.raises(pytest.fail.Exception, match="measured again"):  # another AU head
        cost.latency_ms(TINY, N_AUS + 1, cache=tmp_path)


def test_the_parameter_count_is_every_weight_of_the_model():
    from core.model.builders import build_network

    network = build_network(TINY, N_AUS)
    assert cost.parameter_count(network) == sum(w.size for w in network.get_weights())
