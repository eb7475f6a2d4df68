"""Which tests exercise the changed kernels: registrations, definitions, C++ hops, Python
wrappers, the "nothing found" answers, and the bundled example's own tests."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from build_tools import kernel_tests as kt
from build_tools.settings import EXAMPLE_SOURCE

Op = kt.Op


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


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
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
    return write(tmp_path, files)


def ops_of(
    root: Path, changed: str, max_call_depth: int = kt.DEFAULT_MAX_CALL_DEPTH
) -> dict[str, int]:
    found = kt.ops_of_changed_file(root, changed, SOURCES, max_call_depth=max_call_depth)
    return {s.op.name: s.depth for s in found}


def chosen(selection: kt.Selection) -> list[str]:
    return [t.test_file for t in selection.tests]


# Registrations.


def test_def_impl_blocks_namespaces_and_functions(checkout: Path) -> None:
    regs = kt.collect_registrations(checkout, SOURCES)
    got = {(r.op.namespace, r.op.name, r.function) for r in regs}
    assert got == {
        ("_C", "rms_norm", None),
        ("_C", "rms_norm", "rms_norm"),
        ("_C", "silu_and_mul", None),
        ("_C", "silu_and_mul", "silu_and_mul"),
        ("_C", "scaled_quant", None),
        ("_C", "scaled_quant", "vllm::scaled_quant"),
        ("_C", "get_block_size", "get_block_size"),
        ("_C_cache_ops", "reshape_and_cache", None),
        ("_C_cache_ops", "reshape_and_cache", "reshape_and_cache"),
        ("_moe_C", "topk_softmax", None),
        ("_moe_C", "topk_softmax", "topk_softmax"),
    }
    assert [r.line for r in regs if r.function == "rms_norm"] == [7]


def test_impl_and_stable_abi_forms() -> None:
    text = """
    #include <torch/csrc/stable/library.h>
    namespace vllm::w4a8 {
    torch::stable::Tensor encode(torch::stable::Tensor const& b) { return b; }
    STABLE_TORCH_LIBRARY_IMPL(_C, CUDA, m) {
      m.impl("encode", TORCH_BOX(&encode));
      m.impl("scaled_fp4_quant.out", TORCH_BOX(&scaled_fp4_quant_out));
    }
    }  // namespace vllm::w4a8
    TORCH_LIBRARY_IMPL_EXPAND(TORCH_EXTENSION_NAME, CatchAll, m) {
      m.impl("supported", &supported);
    }
    TORCH_LIBRARY_FRAGMENT(_C_extra, lib) { lib.def("plain(Tensor x) -> Tensor", plain_fn); }
    """
    regs = kt.parse_registrations(textwrap.dedent(text), "x.cu", "_C_stable_libtorch")
    got = [(str(r.op), r.function, r.scope) for r in regs]
    assert got == [
        ("torch.ops._C.encode", "encode", ("vllm", "w4a8")),
        ("torch.ops._C.scaled_fp4_quant", "scaled_fp4_quant_out", ("vllm", "w4a8")),
        ("torch.ops._C_stable_libtorch.supported", "supported", ()),
        ("torch.ops._C_extra.plain", "plain_fn", ()),
    ]


def test_python_method_tables() -> None:
    text = """
    namespace {
    PyMethodDef methods[] = {
        {"rms_norm", minivllm::rms_norm, METH_VARARGS, "rms_norm(x) -> list"},
        {"plain", (PyCFunction)plain, METH_NOARGS, nullptr},
        {nullptr, nullptr, 0, nullptr},
    };
    PyModuleDef module = {PyModuleDef_HEAD_INIT, "pkg._ext", "doc", -1, methods};
    }  // namespace
    """
    regs = kt.parse_registrations(textwrap.dedent(text), "b.cpp", "_target")
    assert [(r.op, r.function) for r in regs] == [
        (Op("_ext", "rms_norm", python_module=True), "minivllm::rms_norm"),
        (Op("_ext", "plain", python_module=True), "plain"),
    ]
    assert str(regs[0].op) == "_ext.rms_norm"


def test_namespace_expressions() -> None:
    assert kt.namespace_of("TORCH_EXTENSION_NAME", "_C") == "_C"
    assert kt.namespace_of("CONCAT(TORCH_EXTENSION_NAME, _custom_ar)", "_C") == "_C_custom_ar"
    assert kt.namespace_of("_moe_C", "_C") == "_moe_C"
    assert kt.extension_name("_C_stable_libtorch") == "_C_stable_libtorch"
    assert kt.extension_name("vllm._moe_C") == "_moe_C"


# Definitions.


def test_definitions_namespaces_linkage_and_what_is_not_one() -> None:
    text = r"""
    #define DEFINE(name) void name() {}
    namespace vllm {
    namespace {
    void hidden() {}
    }  // namespace
    static inline int helper(int x) { return x; }
    template <typename T, int N>
    __global__ void __launch_bounds__(256) kernel(T* out) { if (N) { out[0] = 0; } }
    void declared_only(int x);
    struct Launcher {
      void run() { kernel<float, 1><<<1, 1>>>(nullptr); }
    };
    }  // namespace vllm
    void vllm::qualified(int a) const {}
    auto trailing(int a) -> int { return a; }
    extern "C" { int c_entry(void) { return 0; } }
    torch::Tensor rms_norm(torch::Tensor& out) {
      const char* s = "void fake(int x) {";  // void not_code() {
      auto f = [](int x) { return x; };
      return out;
    }
    TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) { ops.def("x() -> ()"); }
    DEFINE(made_by_a_macro)
    """
    got = [
        (d.name, d.namespace, d.qualifier, d.internal)
        for d in kt.find_definitions(textwrap.dedent(text))
    ]
    assert got == [
        ("hidden", ("vllm", ""), (), True),
        ("helper", ("vllm",), (), True),
        ("kernel", ("vllm",), (), False),
        ("qualified", (), ("vllm",), False),
        ("trailing", (), (), False),
        ("c_entry", (), (), False),
        ("rms_norm", (), (), False),
    ]


# Changed files -> ops.


def test_the_file_defining_the_impl_function(checkout: Path) -> None:
    assert ops_of(checkout, "csrc/layernorm_kernels.cu") == {"rms_norm": 0}
    assert ops_of(checkout, "csrc/cache_kernels.cu") == {
        "get_block_size": 0,
        "reshape_and_cache": 0,
    }
    assert ops_of(checkout, "csrc/moe/topk_softmax_kernels.cu") == {"topk_softmax": 0}


def test_a_kernel_of_the_same_name_in_another_namespace_is_not_the_op(checkout: Path) -> None:
    # ACTIVATION defines vllm::silu_and_mul (a device function) and ::silu_and_mul (the op).
    renamed = ACTIVATION.replace(
        "void silu_and_mul(torch::Tensor& out", "void other(torch::Tensor&"
    )
    write(checkout, {"csrc/activation_kernels.cu": renamed})
    assert ops_of(checkout, "csrc/activation_kernels.cu") == {}
    write(checkout, {"csrc/activation_kernels.cu": ACTIVATION})
    sources = kt.ops_of_changed_file(checkout, "csrc/activation_kernels.cu", SOURCES)
    assert [(s.op.name, s.depth) for s in sources] == [("silu_and_mul", 0)]
    assert "silu_and_mul is defined here (line 10)" in sources[0].how


def test_qualified_impl_needs_its_namespace(checkout: Path) -> None:
    assert ops_of(checkout, "csrc/quantization/quant.cu") == {"scaled_quant": 0}
    write(checkout, {"csrc/quantization/quant.cu": QUANT.replace("namespace vllm", "namespace v2")})
    assert ops_of(checkout, "csrc/quantization/quant.cu") == {}


def test_editing_a_binding_file_selects_all_its_ops(checkout: Path) -> None:
    assert ops_of(checkout, "csrc/torch_bindings.cpp") == {
        "get_block_size": 0,
        "reshape_and_cache": 0,
        "rms_norm": 0,
        "scaled_quant": 0,
        "silu_and_mul": 0,
    }
    assert ops_of(checkout, "csrc/moe/torch_bindings.cpp") == {"topk_softmax": 0}


def test_calls_through_other_files_headers_and_the_depth_limit(checkout: Path) -> None:
    # quant_kernels.cu: launch_quant_kernel <- vllm::scaled_quant (quant.cu), the impl.
    assert ops_of(checkout, "csrc/quantization/quant_kernels.cu") == {"scaled_quant": 1}
    # The header is in no target: quant_dispatch <- launch_quant_kernel <- scaled_quant.
    assert ops_of(checkout, "csrc/quantization/quant.cuh") == {"scaled_quant": 2}
    assert ops_of(checkout, "csrc/quantization/quant.cuh", max_call_depth=1) == {}
    chain = kt.ops_of_changed_file(checkout, "csrc/quantization/quant.cuh", SOURCES)[0].chain
    assert chain == (
        "vllm::scaled_quant (csrc/quantization/quant.cu:3)",
        "launch_quant_kernel (csrc/quantization/quant_kernels.cu:2)",
        "quant_dispatch (csrc/quantization/quant.cuh:3)",
    )


def test_calls_inside_macros_are_followed(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "csrc/b.cpp": 'TORCH_LIBRARY(_C, m) { m.impl("op", &op_fn); }\n',
            "csrc/kernels.cuh": "namespace vllm {\ntemplate <int N>\n__global__ void k() {}\n}\n",
            "csrc/op.cu": (
                "#define LAUNCH(N) vllm::k<N><<<1, 1>>>()\nvoid op_fn() { LAUNCH(4); }\n"
            ),
        },
    )
    sources = {"csrc/b.cpp": "_C", "csrc/op.cu": "_C"}
    got = kt.ops_of_changed_file(root, "csrc/kernels.cuh", sources)
    assert [(s.op.name, s.depth) for s in got] == [("op", 1)]


def test_internal_functions_and_other_targets_do_not_count(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "csrc/b.cpp": 'TORCH_LIBRARY(_C, m) { m.impl("op", &op_fn); }\n',
            "csrc/op.cu": "static void helper() {}\nvoid op_fn() { helper(); }\n",
            "csrc/other.cu": "void helper() {}\n",
            "csrc/cpu/op.cpp": "void op_fn() {}\n",
        },
    )
    sources = {
        "csrc/b.cpp": "_C",
        "csrc/op.cu": "_C",
        "csrc/other.cu": "_C",
        "csrc/cpu/op.cpp": "_cpu",
    }
    assert kt.ops_of_changed_file(root, "csrc/other.cu", sources) == []
    assert kt.ops_of_changed_file(root, "csrc/cpu/op.cpp", sources) == []
    assert [s.op.name for s in kt.ops_of_changed_file(root, "csrc/op.cu", sources)] == ["op"]


# Ops -> tests.


def test_topk_kernel_selects_the_moe_test_through_four_wrappers(checkout: Path) -> None:
    sel = kt.select_tests(checkout, ["csrc/moe/topk_softmax_kernels.cu"], SOURCES)
    assert chosen(sel) == ["tests/kernels/moe/test_fused_topk.py"]
    (reason,) = sel.tests[0].reasons
    assert reason.depth == 4
    assert reason.via == (
        "vllm.model_executor.layers.layernorm.fused_topk",
        "vllm.model_executor.layers.layernorm.dispatch_topk",
        "vllm.model_executor.layers.layernorm.vllm_topk_softmax",
        "vllm._custom_ops.topk_softmax",
    )
    assert str(reason) == (
        "via wrapper vllm.model_executor.layers.layernorm.fused_topk (line 5): "
        + " -> ".join((*reason.via, "torch.ops._moe_C.topk_softmax"))
    )
    less = kt.select_tests(
        checkout, ["csrc/moe/topk_softmax_kernels.cu"], SOURCES, max_wrapper_depth=3
    )
    assert less.tests == ()
    assert less.nothing_found == "no test references the ops of the changed files " + (
        "(torch.ops._moe_C.topk_softmax)"
    )


def test_direct_references_wrappers_and_what_is_not_followed(checkout: Path) -> None:
    sel = kt.select_tests(checkout, ["csrc/torch_bindings.cpp"], SOURCES)
    got = {t.test_file: [str(r) for r in t.reasons] for t in sel.tests}
    assert got == {
        "tests/kernels/core/test_activation.py": [
            "via wrapper vllm._custom_ops.silu_and_mul (line 6): "
            "vllm._custom_ops.silu_and_mul -> torch.ops._C.silu_and_mul"
        ],
        "tests/kernels/core/test_layernorm.py": [
            "references torch.ops._C.rms_norm directly (line 6)"
        ],
        "tests/kernels/quantization/test_quant.py": [
            "via wrapper vllm._custom_ops.scaled_quant (line 5): vllm._custom_ops.scaled_quant"
            " -> vllm._custom_ops._scaled_quant_impl -> torch.ops._C.scaled_quant"
        ],
        "tests/kernels/test_cache_kernels.py": [
            "via wrapper vllm._custom_ops.reshape_and_cache (line 4): "
            "vllm._custom_ops.reshape_and_cache -> torch.ops._C_cache_ops.reshape_and_cache"
        ],
        "tests/kernels/test_getattr.py": ["references torch.ops._C.silu_and_mul directly (line 5)"],
        "tests/model_executor/test_layers.py": [
            "via wrapper vllm.model_executor.layers.layernorm.RMSNorm (line 5): "
            "vllm.model_executor.layers.layernorm.RMSNorm -> vllm._custom_ops.rms_norm"
            " -> torch.ops._C.rms_norm",
            "via wrapper vllm.model_executor.layers.layernorm.SiluAndMul (line 9): "
            "vllm.model_executor.layers.layernorm.SiluAndMul -> vllm._custom_ops.silu_and_mul"
            " -> torch.ops._C.silu_and_mul",
        ],
    }
    # Not chosen: the fusion pattern only names the op; RMSNorm.helper (a method) calls
    # nothing; a class met inside a wrapper is not followed; helpers are no test files.
    assert sel.untested_ops == (Op("_C", "get_block_size"),)
    assert sel.found and sel.nothing_found is None
    assert sel.pairs()[0] == (
        "tests/kernels/core/test_activation.py",
        got["tests/kernels/core/test_activation.py"][0],
    )


def test_nothing_found_is_told_apart(checkout: Path) -> None:
    no_op = kt.select_tests(checkout, ["./README.md"], SOURCES)
    assert no_op.changed == ("README.md",)
    assert not no_op.found and no_op.op_sources == ()
    assert no_op.nothing_found == (
        "no op is registered by or implemented in the changed files (README.md)"
    )
    no_test = kt.select_tests(checkout, [str(checkout / "csrc/cache_kernels.cu")], SOURCES)
    assert no_test.changed == ("csrc/cache_kernels.cu",)
    assert [t.test_file for t in no_test.tests] == ["tests/kernels/test_cache_kernels.py"]
    (checkout / "tests/kernels/test_cache_kernels.py").unlink()
    no_test = kt.select_tests(checkout, ["csrc/cache_kernels.cu"], SOURCES)
    assert no_test.nothing_found == (
        "no test references the ops of the changed files "
        "(torch.ops._C.get_block_size, torch.ops._C_cache_ops.reshape_and_cache)"
    )


def test_the_result_is_deterministic(checkout: Path) -> None:
    changed = ["csrc/torch_bindings.cpp", "csrc/moe/topk_softmax_kernels.cu"]
    first = kt.select_tests(checkout, changed, SOURCES)
    again = kt.select_tests(checkout, list(reversed(changed)), SOURCES)
    assert first == again
    assert chosen(first) == sorted(chosen(first))


# The bundled example: a CPython extension with PyMethodDef tables and minivllm.ops wrappers.


def example_sources() -> dict[str, str]:
    """{source: target} from the example's minivllm_extension(...) calls."""
    text = (EXAMPLE_SOURCE / "CMakeLists.txt").read_text()
    sources: dict[str, str] = {}
    for m in re.finditer(r"^minivllm_extension\((\w+)(.*?)\)", text, re.M | re.S):
        for src in re.findall(r"\S+\.(?:cpp|cu)\b", m.group(2)):
            sources[src] = m.group(1)
    return sources


@pytest.mark.parametrize(
    "changed, tests",
    [
        ("csrc/moe/topk_softmax_kernels.cu", ["kernels/moe/test_topk_softmax.py"]),
        ("csrc/moe/topk_softmax.cpp", ["kernels/moe/test_topk_softmax.py"]),
        ("csrc/activation_kernels.cu", ["kernels/core/test_activation.py"]),
        ("csrc/layernorm.cpp", ["kernels/core/test_layernorm.py"]),
        ("csrc/cache.cpp", ["kernels/attention/test_cache.py"]),
        ("csrc/quantization.cpp", ["kernels/quantization/test_int8_quant.py"]),
        ("csrc/sampler.cpp", ["samplers/test_sampler.py"]),
        (
            "csrc/moe/moe_bindings.cpp",
            ["kernels/moe/test_moe_align_block_size.py", "kernels/moe/test_topk_softmax.py"],
        ),
    ],
)
def test_the_example_tests(changed: str, tests: list[str]) -> None:
    sources = example_sources()
    assert "csrc/moe/topk_softmax_kernels.cu" in sources
    sel = kt.select_tests(EXAMPLE_SOURCE, [changed], sources)
    assert chosen(sel) == [f"tests/{t}" for t in tests]


def test_the_example_reasons() -> None:
    sources = example_sources()
    sel = kt.select_tests(EXAMPLE_SOURCE, ["csrc/moe/topk_softmax_kernels.cu"], sources)
    (source,) = sel.op_sources
    assert (source.op, source.depth) == (Op("_moe_C", "topk_softmax_cuda", True), 1)
    assert source.chain[-1].startswith("minivllm::cuda::topk_softmax (")
    assert [str(r) for r in sel.tests[0].reasons] == [
        "via wrapper minivllm.ops.topk_softmax_cuda (line 60): "
        "minivllm.ops.topk_softmax_cuda -> _moe_C.topk_softmax_cuda"
    ]
    everything = kt.select_tests(EXAMPLE_SOURCE, ["csrc/torch_bindings.cpp"], sources)
    assert len(everything.tests) == 6
    layernorm = next(t for t in everything.tests if t.test_file.endswith("test_layernorm.py"))
    assert layernorm.depth == 0  # `from minivllm import _C` ... `_C.rms_norm(...)`
