"""Python wrappers around the compiled ops (the counterpart of vllm/_custom_ops.py)."""

from __future__ import annotations

from collections.abc import Sequence

try:
    from minivllm import _C, _moe_C
except ImportError as e:
    raise ImportError(
        f"minivllm's compiled extensions are not available ({e}). Build them with "
        "CMake (cmake --build <build-dir> --target install, with "
        "CMAKE_INSTALL_PREFIX set to the source tree) or install minivllm "
        "without VLLM_USE_PRECOMPILED=1."
    ) from e

__all__ = [
    "built_with_cuda",
    "cuda_device_count",
    "dequantize_int8",
    "fused_add_rms_norm",
    "gelu_and_mul",
    "greedy_sample",
    "moe_align_block_size",
    "quantize_int8",
    "reshape_and_cache",
    "rms_norm",
    "rotary_embedding",
    "silu_and_mul",
    "silu_and_mul_cuda",
    "softmax",
    "topk_softmax",
    "topk_softmax_cuda",
]


def built_with_cuda() -> bool:
    return _C.built_with_cuda() and _moe_C.built_with_cuda()


def cuda_device_count() -> int:
    return _C.cuda_device_count()


# _C


def rms_norm(x: Sequence[float], weight: Sequence[float], epsilon: float = 1e-6) -> list[float]:
    """RMSNorm of each len(weight)-long row of x."""
    return _C.rms_norm(x, weight, epsilon)


def fused_add_rms_norm(
    x: Sequence[float], residual: Sequence[float], weight: Sequence[float], epsilon: float = 1e-6
) -> tuple[list[float], list[float]]:
    """Returns (rms_norm(x + residual), x + residual)."""
    return _C.fused_add_rms_norm(x, residual, weight, epsilon)


def silu_and_mul(x: Sequence[float]) -> list[float]:
    """silu(x[:d]) * x[d:] with d = len(x) // 2."""
    return _C.silu_and_mul(x)


def gelu_and_mul(x: Sequence[float]) -> list[float]:
    """gelu(x[:d]) * x[d:] with d = len(x) // 2 (exact erf GELU)."""
    return _C.gelu_and_mul(x)


def rotary_embedding(
    positions: Sequence[int], query: Sequence[float], head_size: int, base: float = 10000.0
) -> list[float]:
    """NeoX-style rotary embedding of a flat (num_tokens, num_heads, head_size) query."""
    return _C.rotary_embedding(positions, query, head_size, base)


def reshape_and_cache(
    key: Sequence[float], slot_mapping: Sequence[int], cache: list[float]
) -> None:
    """Writes each token's key entry into `cache` (in place) at its slot; slot -1 is skipped."""
    _C.reshape_and_cache(key, slot_mapping, cache)


def quantize_int8(x: Sequence[float]) -> tuple[list[int], float]:
    """Symmetric per-tensor int8 quantization: returns (q, scale)."""
    return _C.quantize_int8(x)


def dequantize_int8(q: Sequence[int], scale: float) -> list[float]:
    return _C.dequantize_int8(q, scale)


def softmax(logits: Sequence[float], temperature: float = 1.0) -> list[float]:
    return _C.softmax(logits, temperature)


def greedy_sample(logits: Sequence[float]) -> int:
    return _C.greedy_sample(logits)


def silu_and_mul_cuda(x: Sequence[float]) -> list[float]:
    """silu_and_mul on the GPU; raises RuntimeError without a CUDA build or device."""
    return _C.silu_and_mul_cuda(x)


# _moe_C


def topk_softmax(
    gating_logits: Sequence[Sequence[float]], topk: int, renormalize: bool = False
) -> tuple[list[list[int]], list[list[float]]]:
    """Per token: softmax over the experts, then the topk experts and their weights."""
    return _moe_C.topk_softmax(gating_logits, topk, renormalize)


def topk_softmax_cuda(
    gating_logits: Sequence[Sequence[float]], topk: int, renormalize: bool = False
) -> tuple[list[list[int]], list[list[float]]]:
    """topk_softmax on the GPU; raises RuntimeError without a CUDA build or device."""
    return _moe_C.topk_softmax_cuda(gating_logits, topk, renormalize)


def moe_align_block_size(
    topk_ids: Sequence[Sequence[int]], num_experts: int, block_size: int
) -> tuple[list[int], list[int], int]:
    """Returns (sorted_token_ids, expert_ids, num_tokens_post_pad)."""
    return _moe_C.moe_align_block_size(topk_ids, num_experts, block_size)
