"""RMSNorm, called on the extension module itself (as vLLM's
tests/kernels/core/test_layernorm.py calls torch.ops._C.rms_norm)."""

from __future__ import annotations

import pytest
from minivllm.reference import ref_rms_norm

try:
    from minivllm import _C
except ImportError as e:
    pytest.skip(f"minivllm's extensions are not built: {e}", allow_module_level=True)


@pytest.mark.parametrize("num_tokens, hidden", [(1, 8), (7, 16), (3, 1)])
def test_rms_norm(num_tokens, hidden, rng):
    x = [rng.uniform(-2, 2) for _ in range(num_tokens * hidden)]
    weight = [rng.uniform(0.5, 1.5) for _ in range(hidden)]
    assert _C.rms_norm(x, weight, 1e-5) == pytest.approx(ref_rms_norm(x, weight, 1e-5))


def test_fused_add_rms_norm(rng):
    hidden = 8
    x = [rng.uniform(-2, 2) for _ in range(3 * hidden)]
    residual = [rng.uniform(-2, 2) for _ in range(3 * hidden)]
    weight = [rng.uniform(0.5, 1.5) for _ in range(hidden)]
    out, new_residual = _C.fused_add_rms_norm(x, residual, weight, 1e-6)
    added = [a + b for a, b in zip(x, residual)]
    assert new_residual == pytest.approx(added)
    assert out == pytest.approx(ref_rms_norm(added, weight, 1e-6))


def test_rms_norm_rejects_ragged_rows():
    with pytest.raises(ValueError):
        _C.rms_norm([1.0] * 7, [1.0] * 2)
