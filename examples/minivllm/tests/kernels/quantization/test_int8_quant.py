"""Symmetric per-tensor int8 quantization and its inverse, through minivllm.ops."""

from __future__ import annotations

import pytest

try:
    from minivllm import ops
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


def test_quantize_int8(rng):
    x = [rng.uniform(-3, 3) for _ in range(64)]
    q, scale = ops.quantize_int8(x)
    amax = max(abs(v) for v in x)
    assert scale == pytest.approx(amax / 127.0)
    assert q == [max(-128, min(127, round(v / scale))) for v in x]


def test_round_trip_is_within_half_a_step(rng):
    x = [rng.uniform(-3, 3) for _ in range(64)]
    q, scale = ops.quantize_int8(x)
    back = ops.dequantize_int8(q, scale)
    assert back == pytest.approx([v * scale for v in q])
    assert max(abs(a - b) for a, b in zip(back, x)) <= scale / 2 + 1e-12
