"""The bundled example: its changed files select its own tests."""

from __future__ import annotations

import re

import pytest

from build_tools import kernel_tests as kt
from build_tools.settings import EXAMPLE_SOURCE
from tests.unit.kernel_checkout import chosen

Op = kt.Op


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
        "via wrapper minivllm.ops.topk_softmax_cuda (line 44): "
        "minivllm.ops.topk_softmax_cuda -> _moe_C.topk_softmax_cuda"
    ]
    everything = kt.select_tests(EXAMPLE_SOURCE, ["csrc/torch_bindings.cpp"], sources)
    assert len(everything.tests) == 6
    layernorm = next(t for t in everything.tests if t.test_file.endswith("test_layernorm.py"))
    assert layernorm.depth == 0  # `from minivllm import _C` ... `_C.rms_norm(...)`
