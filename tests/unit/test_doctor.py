"""doctor on fake trees and a fake machine: findings, never tracebacks, and the exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from build_tools import doctor
from build_tools.cmake import presets_file, presets_resolve
from build_tools.cmake.build_tree import STAMP, preset_digest
from build_tools.console import Console
from build_tools.doctor.findings import Finding, Verdict
from build_tools.machine import toolchain as tc
from build_tools.settings import Settings
from tests.helpers import base_env, make_tool

NVCC_12 = 'echo "Cuda compilation tools, release 12.8, V12.8.93"'
NVCC_13 = 'echo "Cuda compilation tools, release 13.0, V13.0.88"'


def fake_machine(tmp_path: Path, nvcc: str = NVCC_12, **env: str) -> tc.Machine:
    bin_dir = tmp_path / "fakebin"
    cache_dir = tmp_path / "ccache-dir"
    make_tool(bin_dir, "cmake", 'echo "cmake version 3.31.6"')
    make_tool(bin_dir, "ninja", 'echo "1.13.2"')
    make_tool(bin_dir, "uv", 'echo "uv 0.9.1"')
    make_tool(bin_dir, "nvcc", nvcc)
    answer = f'if [ "$1" = --get-config ]; then echo "{cache_dir}"; else echo "ccache 4.10.2"; fi'
    make_tool(bin_dir, "ccache", answer)
    return tc.Machine(
        environ=base_env(bin_dir, **env),
        fs_root=tmp_path / "root",
        affinity=lambda: 2,
        suite_bin=(),
    )


def fake_venv(root: Path, torch: str = "2.9.0+cu128") -> Path:
    venv = root / ".venv"
    python = make_tool(venv / "bin", "python")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.12.1\n")
    site = venv / "lib" / "python3.12" / "site-packages"
    info = site / f"torch-{torch}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {torch}\n")
    return python


def preset(root: Path, machine: tc.Machine) -> dict[str, object]:
    return {
        "name": "release",
        "binaryDir": "${sourceDir}/cmake-build-release",
        "generator": "Ninja",
        "cacheVariables": {
            "CMAKE_BUILD_TYPE": "Release",
            "VLLM_PYTHON_EXECUTABLE": str(root / ".venv" / "bin" / "python"),
            "CMAKE_CXX_COMPILER_LAUNCHER": str(machine.which("ccache")),
            "CMAKE_CUDA_COMPILER": str(machine.which("nvcc")),
        },
        "environment": {"TORCH_CUDA_ARCH_LIST": "9.0"},
    }


def configured_tree(root: Path, machine: tc.Machine, arch: str = "90") -> Path:
    """A bootstrapped-looking checkout: venv, presets, a configured and built build dir."""
    fake_venv(root)
    configure = preset(root, machine)
    presets = {
        "version": 6,
        "configurePresets": [configure],
        "buildPresets": [{"name": "release", "configurePreset": "release", "jobs": 2}],
    }
    (root / "CMakeUserPresets.json").write_text(json.dumps(presets))
    build = root / "cmake-build-release"
    (build / "CMakeFiles").mkdir(parents=True)
    (build / "build.ninja").write_text("")
    (build / "CMakeFiles" / "rules.ninja").write_text("")
    cache = configure["cacheVariables"]
    assert isinstance(cache, dict)
    (build / "CMakeCache.txt").write_text(
        "# This is the CMakeCache file.\n"
        "//Name of generator.\nCMAKE_GENERATOR:INTERNAL=Ninja\n"
        f"CMAKE_CXX_COMPILER_LAUNCHER:UNINITIALIZED={cache['CMAKE_CXX_COMPILER_LAUNCHER']}\n"
        f"VLLM_PYTHON_EXECUTABLE:UNINITIALIZED={cache['VLLM_PYTHON_EXECUTABLE']}\n"
    )
    command = f"nvcc --generate-code=arch=compute_{arch},code=[compute_{arch},sm_{arch}] -c k.cu"
    entries = [{"directory": str(build), "command": command, "file": str(root / "csrc/k.cu")}]
    (build / "compile_commands.json").write_text(json.dumps(entries))
    return build


def by_name(findings: list[Finding]) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for f in findings:
        found.setdefault(f.name, []).append(f)
    return found


def one(findings: list[Finding], name: str) -> Finding:
    (found,) = by_name(findings)[name]
    return found


def test_a_healthy_checkout_has_no_error_and_exits_0(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    configured_tree(example_copy, machine)
    findings = doctor.diagnose(Settings(source=example_copy), machine)
    bad = [f for f in findings if f.verdict is not Verdict.OK]
    assert bad == [], bad
    names = set(by_name(findings))
    for name in ("python", "uv", "cmake", "ninja", "nvcc", "compiler cache", "venv", "torch"):
        assert name in names
    for name in ("torch CUDA", "jobs", "disk", "build dir", "preset vs cache"):
        assert name in names
    assert "3.31.6" in one(findings, "cmake").detail
    assert "12.8.93" in one(findings, "nvcc").detail, "nvcc's full version (its V12.8.93)"
    assert "ccache-dir" in one(findings, "compiler cache").detail
    assert "2 jobs" in one(findings, "jobs").detail
    assert doctor.exit_code(findings) == 0
    data = json.loads(json.dumps(doctor.as_json_data(findings, Console())))
    assert data["verdict"] == "ok" and len(data["findings"]) == len(findings)


def test_not_a_checkout_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    for source in (tmp_path / "missing", tmp_path):
        findings = doctor.diagnose(Settings(source=source), machine)
        checkout = one(findings, "checkout")
        assert checkout.verdict is Verdict.ERROR and checkout.fix
        assert "--source" in checkout.fix or "checkout" in checkout.fix
        assert one(findings, "cmake").verdict is Verdict.OK  # the machine is still checked
        assert doctor.exit_code(findings) == 1


def test_a_missing_venv_is_an_error_naming_it(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    findings = doctor.diagnose(Settings(source=example_copy), machine)
    venv = one(findings, "venv")
    assert venv.verdict is Verdict.ERROR
    assert str(example_copy / ".venv") in venv.detail
    assert "invoke bootstrap" in venv.fix and "invoke venv" in venv.fix
    assert doctor.exit_code(findings) == 1


def test_a_half_deleted_build_dir_and_leftovers(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    build = configured_tree(example_copy, machine)
    (build / "build.ninja").unlink()
    (build.parent / f"{build.name}.removing-1-2").mkdir()
    findings = by_name(doctor.diagnose(Settings(source=example_copy), machine))["build dir"]
    details = " ".join(f.detail for f in findings)
    assert all(f.verdict is Verdict.WARN for f in findings) and len(findings) == 2
    assert "half deleted" in details and ".removing-1-2" in details
    files_without_cache = example_copy / "cmake-build-release"
    (files_without_cache / "CMakeCache.txt").unlink()
    findings = by_name(doctor.diagnose(Settings(source=example_copy), machine))["build dir"]
    assert any("no CMakeCache.txt" in f.detail for f in findings), findings


def test_a_drifted_cmake_cache_names_each_key(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    build = configured_tree(example_copy, machine, arch="80")
    cache = build / "CMakeCache.txt"
    text = cache.read_text().replace("INTERNAL=Ninja", "INTERNAL=Unix Makefiles")
    cache.write_text(text.replace(str(machine.which("ccache")), "/usr/bin/sccache"))
    settings = Settings(source=example_copy)
    found = one(doctor.diagnose(settings, machine), "preset vs cache")
    assert found.verdict is Verdict.WARN, found
    assert "generator: preset Ninja, cache Unix Makefiles" in found.detail, found.detail
    assert "CMAKE_CXX_COMPILER_LAUNCHER" in found.detail and "/usr/bin/sccache" in found.detail
    assert "TORCH_CUDA_ARCH_LIST" not in found.detail, "no stamp: the archs are not judged"
    assert "VLLM_PYTHON_EXECUTABLE" not in found.detail, found.detail
    # Configured from this very preset: only applying the preset again helps, and never by
    # deleting the build dir.
    resolved = presets_resolve.resolve_configure(
        presets_file.load(example_copy), "release", machine.environ
    )
    (build / STAMP).write_text(json.dumps({"preset": preset_digest(resolved)}))
    fix = one(doctor.diagnose(settings, machine), "preset vs cache").fix
    assert "invoke configure --force" in fix and "clean-build" not in fix, fix
    (build / STAMP).write_text(json.dumps({"preset": "an older preset"}))
    assert "reconfigures" in one(doctor.diagnose(settings, machine), "preset vs cache").fix


@pytest.mark.parametrize(
    ("asked", "stamp", "drift"),
    [
        # vLLM derives per-kernel subsets: 9.0a asked, 8.0 8.9 9.0 compiled is healthy.
        ("9.0a", {"archs": "9.0a", "compiled_archs": [80, 89, 90]}, None),
        ("9.0a", {"archs": "8.0", "compiled_archs": [80, 89, 90]}, "configured for '8.0'"),
        ("9.0a", {"archs": "9.0a", "compiled_archs": [90]}, "configured again outside"),
    ],
)
def test_archs_are_judged_against_what_the_last_configure_derived(
    example_copy: Path, tmp_path: Path, asked: str, stamp: dict[str, Any], drift: str | None
) -> None:
    """issue 17: a healthy real vLLM 0.20.0 build dir (9.0a asked) was reported as drifted
    because its kernels compile for 8.0 8.9 9.0 too."""
    machine = fake_machine(tmp_path)
    build = configured_tree(example_copy, machine)
    data = json.loads((example_copy / "CMakeUserPresets.json").read_text())
    data["configurePresets"][0]["environment"]["TORCH_CUDA_ARCH_LIST"] = asked
    (example_copy / "CMakeUserPresets.json").write_text(json.dumps(data))
    entries = [
        {"directory": str(build), "command": f"nvcc -gencode arch=compute_{n},code=sm_{n} "
         "-c k.cu", "file": str(example_copy / f"csrc/k{n}.cu")}
        for n in (80, 89, 90)
    ]  # fmt: skip
    (build / "compile_commands.json").write_text(json.dumps(entries))
    resolved = presets_resolve.resolve_configure(
        presets_file.load(example_copy), "release", machine.environ
    )
    (build / STAMP).write_text(json.dumps({"preset": preset_digest(resolved), **stamp}))
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "preset vs cache")
    if drift is None:
        assert found.verdict is Verdict.OK, found
    else:
        assert found.verdict is Verdict.WARN and drift in found.detail, found


def test_torch_built_for_another_cuda_major_is_an_error(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path, nvcc=NVCC_13)
    configured_tree(example_copy, machine)
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "torch CUDA")
    assert found.verdict is Verdict.ERROR
    assert "CUDA 13.0" in found.detail and "CUDA 12.8" in found.detail


def test_a_dependency_source_that_does_not_exist(example_copy: Path, tmp_path: Path) -> None:
    (example_copy / "cmake" / "deps.cmake").write_text(
        "if(DEFINED ENV{FLASH_SRC_DIR})\n  set(src $ENV{FLASH_SRC_DIR})\nendif()\n"
    )
    machine = fake_machine(tmp_path, FLASH_SRC_DIR=str(tmp_path / "nowhere"))
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "dependency sources")
    assert found.verdict is Verdict.ERROR and "FLASH_SRC_DIR" in found.detail
    (tmp_path / "nowhere").mkdir()
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "dependency sources")
    assert found.verdict is Verdict.OK


def test_an_installed_so_older_than_the_built_one(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    build = configured_tree(example_copy, machine)
    installed = example_copy / "minivllm" / "_C.abi3.so"
    installed.write_bytes(b"old")
    (build / "_C.abi3.so").write_bytes(b"new")
    os.utime(installed, (1_000_000, 1_000_000))
    (build / "install_manifest.txt").write_text(f"{installed}\n")
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "installed kernels")
    assert found.verdict is Verdict.WARN and "_C.abi3.so" in found.detail
    assert "invoke build" in found.fix
    installed.write_bytes(b"new")
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "installed kernels")
    assert found.verdict is Verdict.OK


def test_an_install_in_the_second_it_was_built_is_installed_whatever_its_rpath(
    example_copy: Path, tmp_path: Path
) -> None:
    """CMake's install keeps the mtime to the second and rewrites the RPATH (vLLM 0.34.0's
    cumem_allocator); its manifest is install_local_manifest.txt under LOCAL_ONLY."""
    machine = fake_machine(tmp_path)
    build = configured_tree(example_copy, machine)
    installed = example_copy / "minivllm" / "_C.abi3.so"
    installed.write_bytes(b"rpath rewritten")
    (build / "_C.abi3.so").write_bytes(b"as linked")
    os.utime(build / "_C.abi3.so", ns=(1_000_000_500_000_000, 1_000_000_500_000_000))
    os.utime(installed, ns=(1_000_000_000_000_000, 1_000_000_000_000_000))
    (build / "install_local_manifest.txt").write_text(f"{installed}")
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "installed kernels")
    assert found.verdict is Verdict.OK and "1 .so file(s) match" in found.detail, found


def test_a_preset_launcher_that_is_gone_is_an_error(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    configured_tree(example_copy, machine)
    (tmp_path / "fakebin" / "ccache").unlink()
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "compiler cache")
    assert found.verdict is Verdict.ERROR and "does not exist" in found.detail


def test_the_memory_gate_a_preset_names_must_exist(example_copy: Path, tmp_path: Path) -> None:
    machine = fake_machine(tmp_path)
    configured_tree(example_copy, machine)
    presets = example_copy / "CMakeUserPresets.json"
    data = json.loads(presets.read_text())
    script = example_copy / ".vllm-build-tools" / "memory-gate.py"
    cache = data["configurePresets"][0]["cacheVariables"]
    cache["CMAKE_CXX_COMPILER_LAUNCHER"] = f"/p;-S;-E;{script};--store;/m.json;--;/usr/bin/ccache"
    presets.write_text(json.dumps(data))
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "memory gate")
    assert found.verdict is Verdict.ERROR and "does not exist" in found.detail, found
    script.parent.mkdir(exist_ok=True)
    script.write_text("# the gate\n")
    found = one(doctor.diagnose(Settings(source=example_copy), machine), "memory gate")
    assert found.verdict is Verdict.OK and "no measured peaks yet" in found.detail, found


def test_a_check_that_breaks_is_a_finding(example_copy: Path, tmp_path: Path) -> None:
    def broken_check(c: object) -> list[Finding]:
        raise OSError(13, "Permission denied", "/somewhere")

    findings = doctor.diagnose(
        Settings(source=example_copy), fake_machine(tmp_path), [broken_check]
    )
    found = one(findings, "broken check")
    assert found.verdict is Verdict.WARN and "Permission denied" in found.detail


def test_json_output_is_json_only(
    example_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = doctor.main({"source": str(example_copy)}, as_json=True, machine=fake_machine(tmp_path))
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["verdict"] == "error"  # no venv
    assert {f["name"] for f in data["findings"] if f["verdict"] == "error"} == {"venv"}
    code = doctor.main({"source": str(example_copy), "jobs": "many"}, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["findings"][0]["name"] == "settings"
