"""Dependencies read from FetchContent_Declare calls, and what will serve each of them."""

from __future__ import annotations

from pathlib import Path

from build_tools import drift
from build_tools.checkout import source_tree
from build_tools.cmake import dependencies as deps
from build_tools.cmake.archs import supported_archs
from build_tools.settings import Settings

CMAKE = """\
cmake_minimum_required(VERSION 3.26)
project(p NONE)
set(CUTLASS_REVISION "v4.4.2")
if (DEFINED ENV{VLLM_CUTLASS_SRC_DIR})
  set(VLLM_CUTLASS_SRC_DIR $ENV{VLLM_CUTLASS_SRC_DIR})
endif()
if(VLLM_CUTLASS_SRC_DIR)
  FetchContent_Declare(cutlass SOURCE_DIR ${VLLM_CUTLASS_SRC_DIR})
else()
  FetchContent_Declare(
      cutlass  # the networked one
      GIT_REPOSITORY https://github.com/nvidia/cutlass.git
      GIT_TAG ${CUTLASS_REVISION}
  )
endif()
"""
FLASH = """\
if (DEFINED ENV{VLLM_FLASH_ATTN_SRC_DIR})
  set(VLLM_FLASH_ATTN_SRC_DIR $ENV{VLLM_FLASH_ATTN_SRC_DIR})
  FetchContent_Declare(vllm-flash-attn SOURCE_DIR ${VLLM_FLASH_ATTN_SRC_DIR})
else()
  FetchContent_Declare(vllm-flash-attn
      GIT_REPOSITORY https://github.com/vllm-project/flash-attention.git
      GIT_TAG f5bc33cf)
endif()
FetchContent_Declare(oneDNN GIT_REPOSITORY https://github.com/oneapi-src/oneDNN.git GIT_TAG v3.10)
"""


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "cmake" / "external_projects").mkdir(parents=True)
    (root / "CMakeLists.txt").write_text(CMAKE)
    (root / "cmake" / "external_projects" / "flash.cmake").write_text(FLASH)
    return root


def test_declarations_are_merged_by_name(tmp_path: Path) -> None:
    root = tree(tmp_path)
    files = [root / "CMakeLists.txt", root / "cmake" / "external_projects" / "flash.cmake"]
    found = {
        d.name: d for d in deps.declared(files, ["VLLM_CUTLASS_SRC_DIR", "VLLM_FLASH_ATTN_SRC_DIR"])
    }
    assert found["cutlass"].pin == "v4.4.2" and found["cutlass"].variable == "VLLM_CUTLASS_SRC_DIR"
    assert found["cutlass"].repository == "https://github.com/nvidia/cutlass.git"
    assert found["vllm-flash-attn"].variable == "VLLM_FLASH_ATTN_SRC_DIR"
    assert found["oneDNN"].variable == "" and found["oneDNN"].pin == "v3.10"


def test_deps_dir_folders_match_the_name_or_the_repository(tmp_path: Path) -> None:
    root = tree(tmp_path)
    local = tmp_path / "deps"
    for name in ("cutlass", "flash-attention", "unrelated"):
        (local / name).mkdir(parents=True)
    files = [root / "CMakeLists.txt", root / "cmake" / "external_projects" / "flash.cmake"]
    declared = deps.declared(files, ["VLLM_CUTLASS_SRC_DIR", "VLLM_FLASH_ATTN_SRC_DIR"])
    served = {s.dependency.name: s for s in deps.serve(declared, root, {}, local)}
    assert served["cutlass"].how is deps.ServedBy.NETWORK, "an empty folder is no local source"
    for name in ("cutlass", "flash-attention", "unrelated"):
        (local / name / "CMakeLists.txt").write_text("# a checkout of it\n")
    served = {s.dependency.name: s for s in deps.serve(declared, root, {}, local)}
    assert served["cutlass"].where == str(local / "cutlass")
    assert served["vllm-flash-attn"].where == str(local / "flash-attention")
    assert served["oneDNN"].how is deps.ServedBy.NETWORK  # no variable: nothing local can serve it
    (root / ".deps" / "onednn-src").mkdir(parents=True)
    (root / ".deps" / "onednn-src" / "x").write_text("")
    served = {s.dependency.name: s for s in deps.serve(declared, root, {}, None)}
    assert (
        served["oneDNN"].how is deps.ServedBy.POPULATED
        and served["cutlass"].how is deps.ServedBy.NETWORK
    )


def test_no_network_fetch_for_what_the_preset_provides(tmp_path: Path) -> None:
    checkout = source_tree.load(Settings(source=tree(tmp_path)))
    both = {"VLLM_CUTLASS_SRC_DIR": "/x", "VLLM_FLASH_ATTN_SRC_DIR": "/y"}
    assert drift.network_fetches(checkout, both, "") == []
    fetched = drift.network_fetches(checkout, {"VLLM_CUTLASS_SRC_DIR": "/x"}, "")
    names = [(s.dependency.name, s.dependency.variable) for s in fetched]
    assert names == [("vllm-flash-attn", "VLLM_FLASH_ATTN_SRC_DIR")], names


def test_each_src_dir_is_local_or_unset_in_one_answer(tmp_path: Path) -> None:
    """What the presets write and note, and what doctor says is unset: one answer (the
    environment's copy, else deps_dir's; the rest CMake fetches)."""
    checkout = source_tree.load(Settings(source=tree(tmp_path)))
    found = drift.src_dirs(checkout, {"VLLM_CUTLASS_SRC_DIR": "/x"}, "")
    assert found.local == {"VLLM_CUTLASS_SRC_DIR": "/x"}
    assert found.unset == ("VLLM_FLASH_ATTN_SRC_DIR",)
    deps_dir = tmp_path / "deps"
    (deps_dir / "flash-attention").mkdir(parents=True)
    (deps_dir / "flash-attention" / "CMakeLists.txt").write_text("# a checkout of it\n")
    found = drift.src_dirs(checkout, {}, str(deps_dir))
    assert found.local == {"VLLM_FLASH_ATTN_SRC_DIR": str(deps_dir / "flash-attention")}
    assert found.unset == ("VLLM_CUTLASS_SRC_DIR",)


def test_cuda_supported_archs_per_nvcc(tmp_path: Path) -> None:
    path = tmp_path / "CMakeLists.txt"
    path.write_text(
        "if(DEFINED CMAKE_CUDA_COMPILER_VERSION AND\n"
        "   CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 13.0)\n"
        '  set(CUDA_SUPPORTED_ARCHS "7.5;8.0;9.0;10.0;12.0")\n'
        "elseif(CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.8)\n"
        '  set(CUDA_SUPPORTED_ARCHS "8.0;9.0;10.0;10.1")\n'
        "else()\n"
        '  set(CUDA_SUPPORTED_ARCHS "7.0;8.0;9.0")  # older nvcc\n'
        "endif()\n"
    )
    assert supported_archs(path, (13, 0)) == "7.5;8.0;9.0;10.0;12.0"
    assert supported_archs(path, (12, 9)) == "8.0;9.0;10.0;10.1"
    assert supported_archs(path, (11, 8)) == "7.0;8.0;9.0"
    path.write_text("project(p NONE)\n")
    assert supported_archs(path, (13, 0)) is None


DEEPGEMM = """\
if (DEFINED ENV{DEEPGEMM_SRC_DIR})
  set(DEEPGEMM_SRC_DIR $ENV{DEEPGEMM_SRC_DIR})
endif()
if(DEEPGEMM_SRC_DIR)
  set(deepgemm_SOURCE_DIR "${DEEPGEMM_SRC_DIR}")
else()
  set(_DEEPGEMM_UPSTREAM_REPO "https://github.com/vllm-project/DeepGEMM.git")
  set(_DEEPGEMM_UPSTREAM_TAG "82ca617e5879d0efb0aba5b91b1c81852588af6f")
  FetchContent_Populate(
    deepgemm
    SOURCE_DIR "${_deepgemm_src}"
    GIT_REPOSITORY "${_DEEPGEMM_UPSTREAM_REPO}"
    GIT_TAG "${_DEEPGEMM_UPSTREAM_TAG}"
  )
endif()
FetchContent_Populate(cutlass)
"""


def test_a_populate_with_its_own_download_is_a_dependency_with_its_variable(
    tmp_path: Path,
) -> None:
    """vLLM 0.34.0's DeepGEMM: FetchContent_Populate with GIT_REPOSITORY, DEEPGEMM_SRC_DIR read
    beside it; a one-argument Populate declares nothing."""
    path = tmp_path / "deepgemm.cmake"
    path.write_text(DEEPGEMM)
    found = deps.declared([path], ["DEEPGEMM_SRC_DIR", "VLLM_CUTLASS_SRC_DIR"])
    assert found == [
        deps.Dependency(
            "deepgemm",
            "https://github.com/vllm-project/DeepGEMM.git",
            "82ca617e5879d0efb0aba5b91b1c81852588af6f",
            "DEEPGEMM_SRC_DIR",
            "deepgemm.cmake",
        )
    ]
    local = tmp_path / "deps" / "DeepGEMM"
    (local / "csrc").mkdir(parents=True)
    assert deps.local_source(found[0], {}, tmp_path / "deps") == local
