"""vLLM's precompiled install path on the example, offline: `VLLM_USE_PRECOMPILED=1
VLLM_PRECOMPILED_WHEEL_LOCATION=<wheel> uv pip install -e` copies the wheel's extensions into
the source tree, as vLLM's setup.py does with the wheel it downloads.

One release wheel of the example per test session (conftest's `example_wheel`); each test
installs a fresh copy of the example into a venv of its own."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from build_tools.machine.toolchain import Machine, find_uv
from build_tools.settings import SUITE_ROOT
from tests.helpers import copy_example
from tests.integration.example_wheel import NOT_FOR_A_RELEASE
from tests.integration.tools import HAS_NVCC, Run, shell, venv_python

EXTENSIONS = ("minivllm/_C.abi3.so", "minivllm/_extra_C.abi3.so", "minivllm/_moe_C.abi3.so")


@pytest.fixture
def wheel(example_wheel: Path) -> Path:
    return example_wheel


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "my src" / "minivllm")


def run(argv: list[object], env: dict[str, str], cwd: Path) -> Run:
    return shell(argv, env=env, cwd=cwd, timeout=600)


def install(copy: Path, env: dict[str, str], **precompiled: str) -> tuple[Path, Run]:
    """`uv pip install -e <copy>` into a new uv venv next to the copy, with the `precompiled`
    variables and none of the caller's own. Returns (the venv's python, the install's run)."""
    work = copy.parent.parent
    base = {k: v for k, v in {**os.environ, **env}.items() if k not in NOT_FOR_A_RELEASE}
    base.update(precompiled)
    uv = find_uv(Machine(environ=base))
    venv = work / "venv"
    made = run([uv, "venv", "--python", venv_python(), venv], base, work)
    assert made.returncode == 0, f"expected `uv venv` to succeed:\n{made.output}"
    python = venv / "bin" / "python"
    constraints = SUITE_ROOT / "constraints.txt"
    argv = [uv, "pip", "install", "--python", python, "--build-constraint", constraints]
    return python, run([*argv, "-e", copy], base, work)


def kernels_in(copy: Path) -> list[str]:
    return sorted(p.name for p in (copy / "minivllm").iterdir() if ".so" in p.name)


def assert_copied_from(wheel: Path, copy: Path, output: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for member in EXTENSIONS:
            copied = copy / member
            assert copied.is_file(), f"expected {member} copied into {copy}:\n{output}"
            assert copied.read_bytes() == zf.read(member), (
                f"expected {copied} byte-identical to {member} of {wheel.name}:\n{output}"
            )
    names = [Path(m).name for m in EXTENSIONS]
    assert kernels_in(copy) == sorted(names), (
        f"expected exactly {names} in minivllm/ (no temporary files left), got {kernels_in(copy)}"
    )
    assert not list(copy.glob("build/temp*/CMakeCache.txt")), (
        "expected no CMake configure in precompiled mode"
    )


def test_the_wheel_holds_both_extensions(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert set(EXTENSIONS) <= names, f"expected {EXTENSIONS} in {wheel.name}, got {sorted(names)}"
    assert "-abi3-" in wheel.name, f"expected an abi3 wheel, got {wheel.name}"


def test_precompiled_install_copies_the_wheels_extensions(
    wheel: Path, copy: Path, env: dict[str, str]
) -> None:
    for member in EXTENSIONS:  # what an earlier build left: replaced, not kept
        (copy / member).write_bytes(b"stale kernels")
    python, done = install(
        copy, env, VLLM_USE_PRECOMPILED="1", VLLM_PRECOMPILED_WHEEL_LOCATION=str(wheel)
    )
    assert done.returncode == 0, f"expected the precompiled install to succeed:\n{done.output}"
    assert_copied_from(wheel, copy, done.output)

    # From outside the copy: minivllm is imported through the editable install.
    smoke = run([python, "-m", "minivllm.smoke"], dict(os.environ), copy.parent.parent)
    assert smoke.returncode == 0, f"expected minivllm.smoke to pass from the venv:\n{smoke.output}"
    built = [f"ok {Path(m).name.split('.')[0]} (cuda: " for m in EXTENSIONS]
    assert all(line in smoke.output for line in built), f"expected {built}:\n{smoke.output}"
    if HAS_NVCC:
        assert "cuda: not built" not in smoke.output, (
            f"expected the wheel's kernels to carry CUDA code (nvcc is here):\n{smoke.output}"
        )
    else:
        assert "cuda: not built" in smoke.output, (
            f"expected C++-only kernels (no nvcc here):\n{smoke.output}"
        )


def test_a_file_url_by_itself_means_precompiled(
    wheel: Path, copy: Path, env: dict[str, str]
) -> None:
    """As vLLM's envs.py: VLLM_PRECOMPILED_WHEEL_LOCATION alone turns precompiled mode on."""
    _, done = install(copy, env, VLLM_PRECOMPILED_WHEEL_LOCATION=wheel.as_uri())
    assert done.returncode == 0, f"expected the file:// install to succeed:\n{done.output}"
    assert_copied_from(wheel, copy, done.output)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("{tmp}/missing.whl", "VLLM_PRECOMPILED_WHEEL_LOCATION={tmp}/missing.whl: no such wheel"),
        ("https://wheels.vllm.ai/x.whl", "minivllm cannot download wheels"),
    ],
    ids=["missing-file", "https-url"],
)
def test_a_location_that_is_no_local_wheel_fails_clearly(
    copy: Path, env: dict[str, str], tmp_path: Path, location: str, message: str
) -> None:
    where = location.format(tmp=tmp_path)
    _, done = install(copy, env, VLLM_USE_PRECOMPILED="1", VLLM_PRECOMPILED_WHEEL_LOCATION=where)
    assert done.returncode != 0, f"expected the install from {where} to fail:\n{done.output}"
    expected = message.format(tmp=tmp_path)
    assert expected in done.output, f"expected {expected!r} in the output:\n{done.output}"
    assert "Traceback" not in done.output, f"expected one error line, no traceback:\n{done.output}"
    assert kernels_in(copy) == [], f"expected no kernels in minivllm/, got {kernels_in(copy)}"


def test_precompiled_without_a_location_installs_no_kernels(
    copy: Path, env: dict[str, str]
) -> None:
    python, done = install(copy, env, VLLM_USE_PRECOMPILED="1")
    assert done.returncode == 0, f"expected the package-only install to succeed:\n{done.output}"
    assert kernels_in(copy) == [], f"expected no kernels in minivllm/, got {kernels_in(copy)}"
    venv = python.parent.parent
    installed = [str(p) for p in venv.rglob("*.so") if "minivllm" in str(p)]
    assert installed == [], f"expected no minivllm kernels in the venv, got {installed}"
    imported = run([python, "-c", "import minivllm"], dict(os.environ), copy.parent.parent)
    assert imported.returncode == 0, f"expected the Python package importable:\n{imported.output}"
