"""A small vLLM-like checkout for the kernel_tests tests: two extensions (`_C`, `_moe_C`),
vllm/_custom_ops.py, a layer, a fusion pattern and tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from build_tools import kernel_tests as kt


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


# A small vLLM-like checkout: two extensions, vllm/_custom_ops.py, a layer, tests.
BINDINGS = """
#include "core/registration.h"
// ops.impl("commented_out", torch::kCUDA, &commented_out);
TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def(
      "rms_norm(Tensor! result, Tensor input, Tensor weight, "
      "float epsilon) -> ()");
  ops.impl("rms_norm", torch::kCUDA, &rms_norm);
  ops.def("silu_and_mul(Tensor! out, Tensor input) -> ()");
  ops.impl("silu_and_mul", torch::kCUDA, &silu_and_mul);
#ifndef USE_ROCM
  ops.def("scaled_quant(Tensor! out, Tensor input) -> ()");
  ops.impl("scaled_quant", torch::kCUDA, &vllm::scaled_quant);
#endif
  ops.def("get_block_size", &get_block_size);
}
TORCH_LIBRARY_EXPAND(CONCAT(TORCH_EXTENSION_NAME, _cache_ops), cache_ops) {
  cache_ops.def("reshape_and_cache(Tensor key, Tensor! cache) -> ()");
  cache_ops.impl("reshape_and_cache", torch::kCUDA, &reshape_and_cache);
}
REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
"""
MOE_BINDINGS = """
TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, m) {
  m.def("topk_softmax(Tensor! w, Tensor! ids, Tensor gating) -> ()");
  m.impl("topk_softmax", torch::kCUDA, &topk_softmax);
}
"""
LAYERNORM = """
namespace vllm {
template <typename T>
__global__ void rms_norm_kernel(T* out, const T* in) {  // not the op: another name
  if (threadIdx.x == 0) { out[0] = in[0]; }
}
}  // namespace vllm

void rms_norm(torch::Tensor& out, torch::Tensor& input, torch::Tensor& weight,
              double epsilon) {
  vllm::rms_norm_kernel<float><<<1, 1>>>(nullptr, nullptr);
}
"""
ACTIVATION = """
namespace vllm {
// The kernel has the op's name, in another namespace: not the op.
template <typename T>
__device__ T silu_and_mul(const T& x) { return x; }
#define LAUNCH_ACT(KERNEL) vllm::act_kernel<KERNEL><<<1, 1>>>()
template <int K>
__global__ void act_kernel() {}
}  // namespace vllm

void silu_and_mul(torch::Tensor& out, torch::Tensor& input) { LAUNCH_ACT(1); }
"""
QUANT = """
namespace vllm {
static void helper() {}
void scaled_quant(torch::Tensor& out, torch::Tensor const& input) {
  helper();
  launch_quant_kernel(out);
}
}  // namespace vllm
"""
QUANT_KERNELS = """
#include "quant.cuh"
void launch_quant_kernel(torch::Tensor& out) { quant_dispatch<float>(out); }
"""
QUANT_HEADER = """
#pragma once
template <typename T>
inline void quant_dispatch(torch::Tensor& out) { /* the kernel */ }
"""
CACHE = """
void reshape_and_cache(torch::Tensor& key, torch::Tensor& cache) {}
int64_t get_block_size() { return 16; }
"""
TOPK = """
namespace vllm::moe {
template <int EXPERTS>
void topkGatingSoftmaxLauncher(const float* in) {}
}  // namespace vllm::moe

void topk_softmax(torch::Tensor& w, torch::Tensor& ids, torch::Tensor& gating) {
  vllm::moe::topkGatingSoftmaxLauncher<8>(nullptr);
}
"""
CUSTOM_OPS = """
import torch


def rms_norm(out, input, weight, epsilon):
    torch.ops._C.rms_norm(out, input, weight, epsilon)


def silu_and_mul(out, x):
    torch.ops._C.silu_and_mul.default(out, x)


def reshape_and_cache(key, cache):
    torch.ops._C_cache_ops.reshape_and_cache(key, cache)


def topk_softmax(w, ids, gating):
    torch.ops._moe_C.topk_softmax(w, ids, gating)


def scaled_quant(out, x):
    return _scaled_quant_impl(out, x)


def _scaled_quant_impl(out, x):
    torch.ops._C.scaled_quant(out, x)


if hasattr(torch.ops._C, "rms_norm"):

    @torch.library.register_fake("_C::rms_norm")
    def _rms_norm_fake(out, input, weight, epsilon):
        return None
"""
LAYERS = """
import vllm._custom_ops as ops
from vllm._custom_ops import silu_and_mul as _silu


class RMSNorm:
    def forward_cuda(self, x):
        ops.rms_norm(x, x, x, 1e-6)

    @staticmethod
    def helper(x):
        return x


class SiluAndMul:
    def forward(self, x):
        _silu(x, x)


def dispatch_topk():
    return vllm_topk_softmax


def vllm_topk_softmax(w, ids, gating):
    ops.topk_softmax(w, ids, gating)


def fused_topk(gating):
    fn = dispatch_topk()
    fn(None, None, gating)


def uses_a_class():
    return RMSNorm()
"""
FUSION = """
import torch

RMS_OP = torch.ops._C.rms_norm.default


def pattern(x):
    # Only names the op: a pattern to match, not a call.
    return auto_functionalized(torch.ops._C.rms_norm.default, x)
"""
TESTS = {
    "tests/kernels/core/test_layernorm.py": """
        import torch
        from tests.kernels.utils import opcheck


        def test_rms_norm():
            opcheck(torch.ops._C.rms_norm, (None,))
        """,
    "tests/kernels/core/test_activation.py": """
        import pytest

        from vllm import _custom_ops as ops


        @pytest.mark.parametrize("fn", [ops.silu_and_mul])
        def test_act(fn):
            fn(None, None)
        """,
    "tests/kernels/test_cache_kernels.py": """
        def test_cache():
            from vllm._custom_ops import reshape_and_cache

            reshape_and_cache(None, None)
        """,
    "tests/kernels/moe/test_fused_topk.py": """
        from vllm.model_executor.layers.fused_moe import fused_topk


        def test_fused_topk():
            fused_topk(None)
        """,
    "tests/kernels/attention/test_attention.py": """
        import torch


        def test_paged_attention():
            torch.ops._C.paged_attention_v1(None)
        """,
    "tests/compile/test_fusion.py": """
        from vllm.compilation.fusion import pattern


        def test_pattern():
            pattern(None)
        """,
    "tests/kernels/quantization/test_quant.py": """
        import vllm._custom_ops


        def test_quant():
            vllm._custom_ops.scaled_quant(None, None)
        """,
    "tests/kernels/test_getattr.py": """
        import torch


        def test_getattr():
            getattr(torch.ops._C, "silu_and_mul")(None, None)
        """,
    "tests/model_executor/test_layers.py": """
        from vllm.model_executor.layers.layernorm import RMSNorm, SiluAndMul


        def test_rms_norm_layer():
            RMSNorm().forward_cuda(None)


        def test_helper_only():
            SiluAndMul
        """,
    "tests/model_executor/test_static_method.py": """
        from vllm.model_executor.layers.layernorm import RMSNorm


        def test_helper():
            RMSNorm.helper(None)
        """,
    "tests/model_executor/test_class_via_wrapper.py": """
        from vllm.model_executor.layers.layernorm import uses_a_class


        def test_it():
            uses_a_class()
        """,
    "tests/kernels/utils.py": """
        def opcheck(op, args):
            return op
        """,
    "tests/kernels/moe/utils.py": """
        import torch


        def not_a_test_file():
            torch.ops._moe_C.topk_softmax(None)
        """,
}
SOURCES = {
    "csrc/torch_bindings.cpp": "_C",
    "csrc/layernorm_kernels.cu": "_C",
    "csrc/activation_kernels.cu": "_C",
    "csrc/quantization/quant.cu": "_C",
    "csrc/quantization/quant_kernels.cu": "_C",
    "csrc/cache_kernels.cu": "_C",
    "csrc/moe/torch_bindings.cpp": "_moe_C",
    "csrc/moe/topk_softmax_kernels.cu": "_moe_C",
}


def make_checkout(root: Path) -> Path:
    files = {
        "csrc/torch_bindings.cpp": BINDINGS,
        "csrc/moe/torch_bindings.cpp": MOE_BINDINGS,
        "csrc/layernorm_kernels.cu": LAYERNORM,
        "csrc/activation_kernels.cu": ACTIVATION,
        "csrc/quantization/quant.cu": QUANT,
        "csrc/quantization/quant_kernels.cu": QUANT_KERNELS,
        "csrc/quantization/quant.cuh": QUANT_HEADER,
        "csrc/cache_kernels.cu": CACHE,
        "csrc/moe/topk_softmax_kernels.cu": TOPK,
        "vllm/__init__.py": "",
        "vllm/_custom_ops.py": CUSTOM_OPS,
        "vllm/model_executor/__init__.py": "",
        "vllm/model_executor/layers/__init__.py": "",
        "vllm/model_executor/layers/layernorm.py": LAYERS,
        "vllm/model_executor/layers/fused_moe/__init__.py": (
            "from ..layernorm import fused_topk\n__all__ = ['fused_topk']\n"
        ),
        "vllm/compilation/__init__.py": "",
        "vllm/compilation/fusion.py": FUSION,
        "tests/__init__.py": "",
        **TESTS,
    }
    return write(root, files)


def chosen(selection: kt.Selection) -> list[str]:
    return [t.test_file for t in selection.tests]
