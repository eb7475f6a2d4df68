"""issue 19 on the real vLLM 0.20.0 sdist (fetched from PyPI, cached): an edit of the MoE
top-k softmax kernel selects the MoE top-k tests and no attention test; an edit of a paged
attention kernel selects the attention test."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.kernel_tests import select_tests
from tests.integration.vllm_trees import fetch

# Which target compiles the files these checks touch (in the product: the CMake File API).
SOURCE_TARGETS = {
    "csrc/moe/topk_softmax_kernels.cu": "_moe_C",
    "csrc/moe/torch_bindings.cpp": "_moe_C",
    "csrc/attention/paged_attention_v1.cu": "_C",
    "csrc/torch_bindings.cpp": "_C",
}


@pytest.fixture(scope="module")
def tree() -> Path:
    return fetch("0.20.0")


def test_topk_softmax_selects_the_moe_topk_tests_and_no_attention_test(tree: Path) -> None:
    chosen = select_tests(tree, ["csrc/moe/topk_softmax_kernels.cu"], SOURCE_TARGETS)
    files = [t.test_file for t in chosen.tests]
    assert "tests/kernels/moe/test_fused_topk.py" in files, files
    assert not [f for f in files if "attention" in f], f"attention tests chosen: {files}"
    assert {op.name for op in chosen.ops} >= {"topk_softmax"}, chosen.ops


def test_a_paged_attention_kernel_selects_the_attention_test(tree: Path) -> None:
    chosen = select_tests(tree, ["csrc/attention/paged_attention_v1.cu"], SOURCE_TARGETS)
    files = [t.test_file for t in chosen.tests]
    assert "tests/kernels/attention/test_attention.py" in files, files
    assert not [f for f in files if "/moe/" in f], f"MoE tests chosen: {files}"
