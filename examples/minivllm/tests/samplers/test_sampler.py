"""Sampling ops: softmax with a temperature and greedy sampling, on minivllm._C."""

from __future__ import annotations

import math

import pytest

try:
    from minivllm._C import greedy_sample, softmax
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_softmax(temperature, rng):
    logits = [rng.uniform(-4, 4) for _ in range(16)]
    exps = [math.exp(v / temperature) for v in logits]
    assert softmax(logits, temperature) == pytest.approx([e / sum(exps) for e in exps])


def test_greedy_sample(rng):
    logits = [rng.uniform(-4, 4) for _ in range(16)]
    assert greedy_sample(logits) == logits.index(max(logits))


def test_empty_logits_are_rejected():
    with pytest.raises(ValueError):
        softmax([])
