"""The load check on a bootstrapped copy of the example, with real tools: a build whose
extension references a symbol nothing defines fails naming it (and the build after undoing
the edit passes); a library replaced behind our back by one that cannot load makes doctor
exit 1 naming the symbol; where the GPU driver's libcuda.so.1 is missing the check is
static, and says so."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from build_tools.loading.search import Search
from tests.integration.tools import bootstrap_copy, invoke

EDITED = "csrc/moe/topk_softmax.cpp"
MISSING_DECL = "int minivllm_missing_kernel(int);\nnamespace minivllm::moe {"
MISSING_CALL = "  if (minivllm_missing_kernel(3) < 0) return false;\n  PyObject* logits_obj;"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "load", env)


def _cc(source: str, out: Path, *extra: str) -> Path:
    """A shared library compiled with the system's C compiler."""
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(src), *extra], check=True)
    return out


@contextmanager
def kept(installed: Path, aside: Path) -> Iterator[Path]:
    """The installed library put back as it was, whatever the test put in its place."""
    shutil.copy2(installed, aside)
    try:
        yield installed
    finally:
        shutil.copy2(aside, installed)


def installed_extensions(root: Path) -> list[Path]:
    """The extensions the example installs into its package (whatever their number)."""
    return sorted((root / "minivllm").glob("*.abi3.so"))


def doctor(root: Path, env: dict[str, str]) -> tuple[int, str]:
    run = invoke("doctor", "--source", str(root), env={**env, "NO_COLOR": "1"})
    return run.returncode, run.output


def test_bootstrap_loads_every_extension(root: Path, env: dict[str, str]) -> None:
    summary = (root / ".vllm-build-tools" / "load-check.json").read_text()
    assert "_C.abi3.so" in summary and "_moe_C.abi3.so" in summary


def test_an_undefined_symbol_fails_the_build_and_undoing_it_passes(
    root: Path, env: dict[str, str]
) -> None:
    path = root / EDITED
    original = path.read_text()
    edited = original.replace("namespace minivllm::moe {", MISSING_DECL, 1).replace(
        "  PyObject* logits_obj;", MISSING_CALL, 1
    )
    assert edited != original
    path.write_text(edited)
    failed = invoke("build", "--source", str(root), env=env)
    assert failed.returncode == 1, failed.output
    assert "_moe_C.abi3.so: undefined symbol minivllm_missing_kernel(int)" in failed.output
    assert "nothing in the environment defines it" in failed.output
    again = invoke("build", "--source", str(root), env=env)  # nothing rebuilt: still refused
    assert again.returncode == 1 and "minivllm_missing_kernel(int)" in again.output
    path.write_text(original)
    fixed = invoke("build", "--source", str(root), env=env)
    assert fixed.returncode == 0, fixed.output
    installed = len(installed_extensions(root))
    assert f"{installed} installed extension(s), all load: 1 loaded" in fixed.output


def test_doctor_names_the_symbol_of_a_library_replaced_behind_our_back(
    root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    code = (
        "extern int vllm_gone_symbol(void);\nint PyInit__C(void) { return vllm_gone_symbol(); }\n"
    )
    with kept(root / "minivllm" / "_C.abi3.so", tmp_path / "kept.so") as installed:
        shutil.copy2(_cc(code, tmp_path / "bad.so"), installed)
        returncode, output = doctor(root, env)
        assert returncode == 1, output
        assert "_C.abi3.so: undefined symbol vllm_gone_symbol" in output
        assert "replaced since it was installed" in output
        assert "--target _C" in output
    returncode, output = doctor(root, env)
    assert returncode == 0 and f"all load: {len(installed_extensions(root))} loaded" in output


def _driver_here() -> bool:
    return any((Path(d) / "libcuda.so.1").exists() for d in Search.of({}).system)


@pytest.mark.skipif(_driver_here(), reason="this machine has libcuda.so.1: loading is possible")
def test_without_a_gpu_driver_the_check_is_static_and_finds_what_is_missing(
    root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    driver = tmp_path / "driver"
    driver.mkdir()
    _cc(
        "int cuInit(unsigned f) { return (int)f; }\n",
        driver / "libcuda.so.1",
        "-Wl,-soname,libcuda.so.1",
    )
    code = (
        "extern int cuInit(unsigned);\nextern int {gone}(void);\n"
        "int PyInit__moe_C(void) {{ return cuInit(0) + {gone}(); }}\n"
    )
    record = root / ".vllm-build-tools" / "provenance.json"
    record.rename(tmp_path / "provenance.json")  # a library replaced by hand is caught apart
    try:
        with kept(root / "minivllm" / "_moe_C.abi3.so", tmp_path / "kept.so") as installed:
            for gone, verdict in (("getpid", 0), ("minivllm_static_gone", 1)):
                out = tmp_path / f"{gone}.so"
                _cc(code.format(gone=gone), out, str(driver / "libcuda.so.1"))
                shutil.copy2(out, installed)
                returncode, output = doctor(root, env)
                assert returncode == verdict, output
                if verdict:
                    line = (
                        "_moe_C.abi3.so: undefined symbol minivllm_static_gone (checked statically)"
                    )
                    assert line in output
                else:
                    assert "1 checked statically (libcuda.so.1, the GPU driver's library" in output
    finally:
        (tmp_path / "provenance.json").rename(record)


def test_a_library_that_kills_its_loader_fails_alone(
    root: Path, env: dict[str, str], tmp_path: Path
) -> None:
    code = "#include <stdlib.h>\n__attribute__((constructor)) static void die(void) { abort(); }\n"
    with kept(root / "minivllm" / "_C.abi3.so", tmp_path / "kept.so") as installed:
        shutil.copy2(_cc(code, tmp_path / "dies.so"), installed)
        returncode, output = doctor(root, env)
        assert returncode == 1, output
        assert "_C.abi3.so: the process loading it died" in output
        assert "_moe_C.abi3.so" not in output.split("error: load check", 1)[-1]
