"""Gated activations: silu_and_mul and gelu_and_mul through minivllm.ops (the way vLLM's
tests/kernels/core/test_activation.py reaches torch.ops._C.silu_and_mul), and the CUDA
kernel against the CPU op."""

from __future__ import annotations

import pytest
from minivllm.reference import gelu, silu

try:
    from minivllm import ops
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


@pytest.mark.parametrize("op, act", [(ops.silu_and_mul, silu), (ops.gelu_and_mul, gelu)])
@pytest.mark.parametrize("d", [1, 8, 33])
def test_act_and_mul(op, act, d, rng):
    x = [rng.uniform(-4, 4) for _ in range(2 * d)]
    assert op(x) == pytest.approx([act(x[i]) * x[d + i] for i in range(d)])


@pytest.mark.parametrize("op", [ops.silu_and_mul, ops.gelu_and_mul])
def test_odd_length_is_rejected(op):
    with pytest.raises(ValueError, match="even length"):
        op([1.0, 2.0, 3.0])


def test_silu_and_mul_cuda(rng):
    x = [rng.uniform(-4, 4) for _ in range(2 * 64)]
    if ops.cuda_device_count() == 0:
        with pytest.raises(RuntimeError):
            ops.silu_and_mul_cuda(x)
        pytest.skip("no CUDA device (the op raises, as it should)")
    assert ops.silu_and_mul_cuda(x) == pytest.approx(ops.silu_and_mul(x), rel=1e-5, abs=1e-6)
