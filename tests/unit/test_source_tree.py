from __future__ import annotations

import json
from importlib.metadata import PathDistribution
from pathlib import Path

import pytest
from packaging.version import Version

from build_tools.checkout import source_tree
from build_tools.cmake import presets_file, presets_resolve
from build_tools.errors import BuildToolsError
from build_tools.machine import requirements, venv_state
from build_tools.settings import Settings


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


VLLM_LIKE = {
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.26.1)\nproject(vllm)\n",
    "setup.py": "",
    "vllm/__init__.py": "",
    "pyproject.toml": '[project]\nname = "vllm"\n',
}


@pytest.mark.parametrize(
    ("files", "device", "expected"),
    [
        ({"requirements/build.txt": "cmake\n"}, "cuda", "requirements/build.txt"),
        (
            {"requirements/build/cuda.txt": "cmake\n", "requirements/build.txt": "x\n"},
            "cuda",
            "requirements/build/cuda.txt",
        ),
        ({"requirements/build/cpu.txt": "cmake\n"}, "cpu", "requirements/build/cpu.txt"),
        (
            {"requirements/cpu-build.txt": "cmake\n", "requirements/build.txt": "x\n"},
            "cpu",
            "requirements/cpu-build.txt",
        ),
        ({"requirements/build.txt": "cmake\n"}, "rocm", "requirements/build.txt"),
        ({}, "cuda", None),
    ],
)
def test_requirements_file_per_layout(
    tmp_path: Path, files: dict[str, str], device: str, expected: str | None
) -> None:
    root = tree(tmp_path, {**VLLM_LIKE, **files})
    checkout = source_tree.load(Settings(source=root, device=device))  # type: ignore[arg-type]
    assert checkout.kind == "vllm" and checkout.name == "vllm"
    assert checkout.cmake_minimum == (3, 26, 1)
    found = checkout.requirements
    assert (found.relative_to(root).as_posix() if found else None) == expected


def test_requirement_names_follow_includes(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "requirements/common.txt": "ninja  # comment\npackaging>=24.2\n",
            "requirements/build.txt": (
                "-r common.txt\n--extra-index-url https://x\ncmake>=3.26.1\n"
                "torch==2.9.0 ; platform_system == 'Linux'\nsetuptools_scm[toml]>=8\n"
            ),
        },
    )
    names = requirements.names(tmp_path / "requirements/build.txt")
    assert names == ["ninja", "packaging", "cmake", "torch", "setuptools_scm"]


def test_fetchcontent_use_is_discovered(tmp_path: Path) -> None:
    flashmla = "cmake/external_projects/flashmla.cmake"
    root = tree(tmp_path, {**VLLM_LIKE, flashmla: "FetchContent_Declare(x)\n"})
    assert source_tree.load(Settings(source=root)).uses_fetchcontent
    (root / flashmla).write_text("# nothing\n")
    assert not source_tree.load(Settings(source=root)).uses_fetchcontent


def test_not_a_cmake_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildToolsError, match="not a CMake source tree"):
        source_tree.load(Settings(source=tmp_path))
    with pytest.raises(BuildToolsError, match="is not a directory"):
        source_tree.load(Settings(source=tmp_path / "missing"))


def test_invalid_presets_json_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "CMakeUserPresets.json"
    path.write_text('{\n  "version": 6,\n  "configurePresets": [,]\n}\n')
    before = path.read_bytes()
    with pytest.raises(BuildToolsError, match=r"CMakeUserPresets.json is not valid JSON \(line 3"):
        presets_file.read_object(path)
    assert path.read_bytes() == before


def test_build_dir_follows_the_presets_binary_dir(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", VLLM_LIKE)
    data = {
        "version": 6,
        "configurePresets": [
            {"name": "mine", "binaryDir": "${sourceDir}/out/${presetName}"},
            {"name": "rel", "binaryDir": "build-rel"},
        ],
    }
    (root / "CMakeUserPresets.json").write_text(json.dumps(data))
    presets = presets_file.load(root)
    assert presets_resolve.binary_dir(presets, "mine", {}) == root / "out" / "mine"
    assert presets_resolve.binary_dir(presets, "rel", {}) == root / "build-rel"
    assert presets.find("release") is None


def test_editable_source_reads_direct_url(tmp_path: Path) -> None:
    info = tmp_path / "minivllm-0.1.0.dist-info"
    info.mkdir()
    (info / "direct_url.json").write_text(
        '{"url": "file:///tmp/my%20src/minivllm", "dir_info": {"editable": true}}'
    )
    assert venv_state.editable_source(PathDistribution(info)) == Path("/tmp/my src/minivllm")
    (info / "direct_url.json").write_text('{"url": "file:///tmp/x", "dir_info": {}}')
    assert venv_state.editable_source(PathDistribution(info)) is None


@pytest.mark.parametrize(
    ("spec", "version", "ok"),
    [
        (">=3.10,<3.14", (3, 12, 1), True),
        (">=3.10,<3.14", (3, 14, 0), False),
        (">=3.10,<3.14", (3, 9, 18), False),
        (">=3.9", (3, 13, 0), True),
        ("==3.12.*", (3, 12, 7), True),
        ("==3.12.*", (3, 11, 7), False),
        ("", (2, 7, 0), True),
        ("~=3.10", (3, 13, 0), True),
        ("~=3.10.0", (3, 11, 2), False),  # ~= is "compatible release", not >=
    ],
)
def test_python_satisfies(
    tmp_path: Path, spec: str, version: tuple[int, int, int], ok: bool
) -> None:
    project = f'[project]\nname = "vllm"\nrequires-python = "{spec}"\n'
    root = tree(tmp_path, {**VLLM_LIKE, "pyproject.toml": project})
    wanted = Version(".".join(map(str, version)))
    assert source_tree.load(Settings(source=root)).requires_python.contains(wanted) is ok


def test_torch_pin_and_requires_python(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            **VLLM_LIKE,
            "pyproject.toml": '[project]\nname = "vllm"\nrequires-python = ">=3.10,<3.14"\n',
            "requirements/common.txt": "torch == 2.9.0+cu129 ; platform_machine == 'x86_64'\n",
            "requirements/build/cuda.txt": "-r ../common.txt\ncmake>=3.26.1\n",
        },
    )
    checkout = source_tree.load(Settings(source=root))
    assert checkout.torch_pin == "2.9.0+cu129"
    assert str(checkout.requires_python) == "<3.14,>=3.10"


def test_git_head_without_running_git(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    tree(tmp_path, {".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": sha + "\n"})
    assert source_tree.git_head(tmp_path) == sha
    (tmp_path / ".git/refs/heads/main").unlink()
    (tmp_path / ".git/packed-refs").write_text(f"# pack-refs\n{sha} refs/heads/main\n")
    assert source_tree.git_head(tmp_path) == sha
    (tmp_path / ".git/HEAD").write_text(sha[::-1] + "\n")  # detached
    assert source_tree.git_head(tmp_path) == sha[::-1]
    assert source_tree.git_head(tmp_path / "nowhere") is None
