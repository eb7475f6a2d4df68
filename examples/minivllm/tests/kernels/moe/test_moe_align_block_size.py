"""moe_align_block_size, called on the _moe_C extension module."""

from __future__ import annotations

import pytest
from minivllm.reference import ref_moe_align

try:
    from minivllm import _moe_C
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


@pytest.mark.parametrize("block_size", [1, 4, 16])
def test_moe_align_block_size(block_size, rng):
    num_experts = 8
    topk_ids = [rng.sample(range(num_experts), 2) for _ in range(7)]
    got = _moe_C.moe_align_block_size(topk_ids, num_experts, block_size)
    assert tuple(got) == ref_moe_align(topk_ids, num_experts, block_size)


def test_expert_id_out_of_range():
    with pytest.raises(ValueError):
        _moe_C.moe_align_block_size([[9]], 8, 4)
