"""plan/targets.py's choice and plan/over_base.py's libraries of a component: what a build
over precompiled kernels builds, and which installed file is whose."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from build_tools.checkout import provenance
from build_tools.cmake.build_tree import BuildTree
from build_tools.cmake.codemodel import CodeModel, InstallRule
from build_tools.plan import over_base
from build_tools.plan.over_base import installed_libraries
from build_tools.plan.targets import choose

FA2 = "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so"


def test_choose_says_why_each_target_is_built() -> None:
    choice = choose(
        ["_C", "_moe_C", "_vllm_fa2_C", "triton_kernels", "new_C"],
        precompiled=["_C", "_moe_C", "_vllm_fa2_C"],
        built_here=["_moe_C"],
        found=None,
        files_only=["triton_kernels"],
    )
    assert choice.kept == ["_C", "_vllm_fa2_C", "triton_kernels"]
    assert choice.build == {
        "_moe_C": ["built here before: kept up to date"],
        "new_C": ["the precompiled wheel has no library of it"],
    }


def over_for(root: Path) -> over_base.Over:
    build = root / "cmake-build-release"
    build.mkdir(parents=True, exist_ok=True)
    checkout = SimpleNamespace(
        cache_value=lambda key: None,
        build_dir=build,
        build_tree=BuildTree(build),
        tree=SimpleNamespace(root=root),
    )
    return cast(over_base.Over, SimpleNamespace(checkout=checkout, git=None))


def model_with(*rules: InstallRule) -> CodeModel:
    targets: dict[str, Any] = {"_vllm_fa2_C": "MODULE_LIBRARY", "_C": "MODULE_LIBRARY"}
    return CodeModel(targets, ("_vllm_fa2_C", "_C"), installs=rules)


# vLLM's flash-attention: `install(CODE "set(CMAKE_INSTALL_PREFIX ${...}/vllm/)")` moves the
# prefix when the install runs; the rule itself says `vllm_flash_attn`.
FA_RULES = (
    InstallRule("_vllm_fa2_C", "code"),
    InstallRule(
        "_vllm_fa2_C",
        "target",
        "vllm_flash_attn",
        (("vllm-flash-attn/_vllm_fa2_C.abi3.so", "_vllm_fa2_C.abi3.so"),),
        "_vllm_fa2_C",
    ),
    InstallRule("_C", "target", "vllm", (("_C.abi3.so", "_C.abi3.so"),), "_C"),
)


def test_a_moved_prefix_is_matched_to_the_base_library_of_that_name(tmp_path: Path) -> None:
    over, model = over_for(tmp_path), model_with(*FA_RULES)
    known = [FA2, "vllm/_C.abi3.so"]
    assert installed_libraries(over.checkout, model, "_vllm_fa2_C", known) == [FA2]
    assert installed_libraries(over.checkout, model, "_C", known) == ["vllm/_C.abi3.so"]
    assert installed_libraries(over.checkout, model, "_vllm_fa2_C") == [
        "vllm_flash_attn/_vllm_fa2_C.abi3.so"
    ], "without a base, the rules' own path"


def test_two_base_libraries_of_one_name_are_not_guessed_between(tmp_path: Path) -> None:
    over, model = over_for(tmp_path), model_with(*FA_RULES)
    known = [FA2, "other/_vllm_fa2_C.abi3.so"]
    assert installed_libraries(over.checkout, model, "_vllm_fa2_C", known) == [
        "vllm_flash_attn/_vllm_fa2_C.abi3.so"
    ]


def test_the_install_manifest_says_where_it_went(tmp_path: Path) -> None:
    over, model = over_for(tmp_path), model_with(*FA_RULES)
    manifest = over.checkout.build_dir / "install_manifest__vllm_fa2_C.txt"
    manifest.write_text(f"{tmp_path / FA2}\n{tmp_path / 'vllm/vllm_flash_attn/__init__.py'}\n")
    assert installed_libraries(over.checkout, model, "_vllm_fa2_C") == [FA2]


def test_every_component_built_is_recorded_as_built_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's build over its wheel builds `_moe_C` and the files-only `triton_kernels`
    together: recording the second must not undo the first."""
    over = over_for(tmp_path)
    over.checkout.tree.state_dir = tmp_path / ".vllm-build-tools"  # type: ignore[misc]
    library = tmp_path / "vllm" / "_moe_C.abi3.so"
    library.parent.mkdir()
    library.write_bytes(b"wheel's")
    moe = InstallRule("_moe_C", "target", "vllm", (("_moe_C.abi3.so", "_moe_C.abi3.so"),), "_moe_C")
    triton = InstallRule("triton_kernels", "directory", "vllm/third_party/triton_kernels", ())
    model = CodeModel(
        {"_moe_C": "MODULE_LIBRARY"}, ("_moe_C", "triton_kernels"), installs=(moe, triton)
    )
    wheel = provenance.Origin(provenance.PRECOMPILED, "", (7, 0, "x", 0))
    provenance.save(over.checkout.tree, {"vllm/_moe_C.abi3.so": wheel})
    library.write_bytes(b"built here")
    monkeypatch.setattr(over_base, "_build_detail", lambda checkout, git: {"preset": "release"})
    over_base.record_built(over, model, ["_moe_C", "triton_kernels"])
    origin = provenance.load(over.checkout.tree)["vllm/_moe_C.abi3.so"]
    assert origin.origin == provenance.BUILT and origin.component == "_moe_C", origin
