"""Which tests exercise the changed kernels: Python wrappers and the "nothing found"
answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools import kernel_tests as kt
from tests.unit.kernel_checkout import SOURCES, chosen, make_checkout

Op = kt.Op


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path)


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
