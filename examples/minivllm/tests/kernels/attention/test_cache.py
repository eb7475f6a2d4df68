"""The paged KV-cache write, reshape_and_cache (vLLM's tests/kernels/attention/test_cache.py)."""

from __future__ import annotations

import pytest

try:
    from minivllm import ops
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)

ENTRY = 4


def test_reshape_and_cache(rng):
    key = [rng.uniform(-1, 1) for _ in range(3 * ENTRY)]
    slots = [5, -1, 0]
    cache = [0.0] * (6 * ENTRY)
    want = list(cache)
    for t, slot in enumerate(slots):
        if slot >= 0:
            want[slot * ENTRY : (slot + 1) * ENTRY] = key[t * ENTRY : (t + 1) * ENTRY]
    assert ops.reshape_and_cache(key, slots, cache) is None
    assert cache == pytest.approx(want)


def test_slot_out_of_range():
    with pytest.raises(IndexError):
        ops.reshape_and_cache([0.0] * ENTRY, [6], [0.0] * (6 * ENTRY))


def test_cache_must_be_a_list():
    with pytest.raises(TypeError):
        ops.reshape_and_cache([0.0] * ENTRY, [0], (0.0,) * ENTRY)
