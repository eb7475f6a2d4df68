"""NeoX-style rotary embedding through minivllm.ops."""

from __future__ import annotations

import pytest
from minivllm.reference import ref_rotary

try:
    from minivllm import ops
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


@pytest.mark.parametrize("head_size, num_heads", [(4, 2), (8, 1)])
def test_rotary_embedding(head_size, num_heads, rng):
    positions = [0, 3, 17]
    query = [rng.uniform(-1, 1) for _ in range(len(positions) * num_heads * head_size)]
    got = ops.rotary_embedding(positions, query, head_size, 10000.0)
    assert got == pytest.approx(ref_rotary(positions, query, head_size, 10000.0))


def test_position_zero_is_identity(rng):
    query = [rng.uniform(-1, 1) for _ in range(8)]
    assert ops.rotary_embedding([0], query, 8) == pytest.approx(query)
