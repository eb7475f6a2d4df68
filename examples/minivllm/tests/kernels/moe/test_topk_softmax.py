"""MoE routing: topk_softmax (vLLM: torch.ops._moe_C.topk_softmax, reached in its tests via
fused_topk), on the CPU and, when a GPU is visible, the CUDA kernel against it."""

from __future__ import annotations

import pytest
from minivllm.reference import ref_topk_softmax

try:
    from minivllm import ops
    from minivllm._moe_C import topk_softmax
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


def flat(rows):
    return [v for row in rows for v in row]


def gating_logits(rng, num_tokens=5, num_experts=8):
    return [[rng.uniform(-3, 3) for _ in range(num_experts)] for _ in range(num_tokens)]


@pytest.mark.parametrize("topk", [1, 2, 8])
@pytest.mark.parametrize("renormalize", [False, True])
def test_topk_softmax(topk, renormalize, rng):
    logits = gating_logits(rng)
    ids, weights = topk_softmax(logits, topk, renormalize)
    want_ids, want_weights = ref_topk_softmax(logits, topk, renormalize)
    assert ids == want_ids
    assert flat(weights) == pytest.approx(flat(want_weights))


def test_topk_larger_than_num_experts():
    with pytest.raises(ValueError):
        topk_softmax([[0.0, 1.0]], 3)


@pytest.mark.parametrize("renormalize", [False, True])
def test_topk_softmax_cuda(renormalize, rng):
    logits = gating_logits(rng, num_tokens=33, num_experts=16)
    if ops.cuda_device_count() == 0:
        with pytest.raises(RuntimeError):
            ops.topk_softmax_cuda(logits, 2, renormalize)
        pytest.skip("no CUDA device (the op raises, as it should)")
    ids, weights = ops.topk_softmax_cuda(logits, 2, renormalize)
    want_ids, want_weights = ops.topk_softmax(logits, 2, renormalize)
    assert ids == want_ids
    assert flat(weights) == pytest.approx(flat(want_weights), rel=1e-5, abs=1e-6)
