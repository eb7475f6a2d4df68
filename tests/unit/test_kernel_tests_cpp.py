"""Which ops a changed C++ file stands for: registrations, definitions and C++ hops."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from build_tools import kernel_tests as kt
from tests.unit.kernel_checkout import ACTIVATION, QUANT, SOURCES, make_checkout, write

Op = kt.Op


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path)


def ops_of(
    root: Path, changed: str, max_call_depth: int = kt.DEFAULT_MAX_CALL_DEPTH
) -> dict[str, int]:
    found = kt.ops_of_changed_file(root, changed, SOURCES, max_call_depth=max_call_depth)
    return {s.op.name: s.depth for s in found}


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
