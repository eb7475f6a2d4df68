"""The load check's pure parts: the causes of a failure and their fixes, what the loading
child prints, where the loader finds a library, and the ELF reader against readelf."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from build_tools.checkout.provenance import BUILT, PRECOMPILED, Origin
from build_tools.loading import causes, elf, probe
from build_tools.loading.search import Search

if TYPE_CHECKING:
    from build_tools.checkout.source_tree import SourceTree

SYMBOL = "_ZN3c106detail14torchCheckFailEPKcS2_jRKSs"


def _origin(kind: str, **detail: object) -> Origin:
    return Origin(kind, "_C", (1, 1, "sha", 1), dict(detail))


def _failure(**kw: str) -> causes.Failure:
    return causes.Failure("_C.abi3.so", "_C", **kw)


def test_built_here_against_another_torch_says_both_versions() -> None:
    known = causes.Known(_origin(BUILT, torch="2.13.0"), False, "2.14.0", True)
    why, fix = causes.cause(_failure(symbol=SYMBOL, demangled="c10::detail::x()"), known)
    assert "built here against torch 2.13.0; torch 2.14.0 is installed" in why
    assert "`invoke build --target _C` rebuilds it against torch 2.14.0" in fix


def test_the_wheels_library_beside_ones_built_here() -> None:
    known = causes.Known(_origin(PRECOMPILED), False, "2.14.0", True)
    why, fix = causes.cause(_failure(symbol=SYMBOL, demangled="c10::detail::x()"), known)
    assert "the wheel's _C.abi3.so beside extensions built here" in why
    assert "--all" in fix and "invoke install --force" in fix


def test_a_replaced_library_names_what_was_installed() -> None:
    known = causes.Known(_origin(PRECOMPILED, source="the wheel w.whl"), True, "2.14.0", False)
    why, fix = causes.cause(_failure(other="it loads, but it is not the library installed"), known)
    assert "replaced since it was installed (precompiled: the wheel w.whl)" in why
    assert "`invoke build --target _C`" in fix


def test_a_cuda_runtime_the_environment_lacks() -> None:
    known = causes.Known(None, False, "2.14.0", False)
    why, fix = causes.cause(_failure(missing="libcudart.so.12"), known)
    assert "CUDA 12 runtime (libcudart.so.12)" in why and "--torch-backend cu120" in fix


def test_a_symbol_nothing_defines_in_a_library_built_here() -> None:
    known = causes.Known(_origin(BUILT, torch="2.14.0"), False, "2.14.0", True)
    failure = _failure(symbol="_Z3fooi", demangled="foo(int)")
    why, fix = causes.cause(failure, known)
    assert "declared but never defined" in why and "then `invoke build`" in fix
    assert causes.what(failure) == "undefined symbol foo(int) (_Z3fooi)"


def test_what_the_child_prints_is_read_back() -> None:
    output = "\n".join(
        [
            '{"torch_version": "2.14.0"}',
            '{"loading": "/t/a.so"}',
            "noise a library printed",
            '{"path": "/t/a.so", "error": ""}',
            '{"loading": "/t/b.so"}',
            '{"path": "/t/b.so", "error": "ImportError: /t/b.so: undefined symbol: _Z1fv"}',
            '{"loading": "/t/c.so"}',
        ]
    )
    found = probe.parse(output, -11)
    assert found.torch == "2.14.0" and found.died_in == Path("/t/c.so")
    assert [x.symbol for x in found.loaded] == ["", "_Z1fv"]
    lost = probe.Loaded(Path("/t/d.so"), "OSError: libcuda.so.1: cannot open shared object file")
    assert lost.missing == "libcuda.so.1"


def test_the_loader_order_runpath_origin_and_loaded(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "lib").mkdir(parents=True)
    (tmp_path / "sys").mkdir()
    for where in ("pkg/lib", "sys"):
        (tmp_path / where / "libx.so.1").write_bytes(b"")
    ext = tmp_path / "pkg" / "ext.so"
    library = elf.Library(ext, "", ("libx.so.1",), (), ("$ORIGIN/lib",), frozenset(), (), ())
    search = Search(system=(str(tmp_path / "sys"),))
    assert search.find("libx.so.1", library) == tmp_path / "pkg" / "lib" / "libx.so.1"
    assert Search(system=(str(tmp_path / "sys"),)).find("liby.so", library) is None
    search.loaded["libx.so.1"] = tmp_path / "sys" / "libx.so.1"
    assert search.find("libx.so.1", library) == tmp_path / "sys" / "libx.so.1"


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils' readelf")
def test_the_elf_reader_agrees_with_readelf() -> None:
    path = Path("/lib/x86_64-linux-gnu/libstdc++.so.6")
    if not path.exists():
        pytest.skip("no libstdc++.so.6 at the Debian path")
    library = elf.read(path)
    assert library is not None and library.soname == "libstdc++.so.6"
    dynamic = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True).stdout
    needed = [
        line.split("[", 1)[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line
    ]
    assert list(library.needed) == needed
    table = subprocess.run(
        ["readelf", "--dyn-syms", "-W", str(path)], capture_output=True, text=True
    )
    undefined = set()
    for line in table.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[6] == "UND" and cols[4] == "GLOBAL":
            undefined.add(cols[7].split("@", 1)[0])
    assert set(library.undefined) == undefined and undefined
    assert library.exports("_ZNSt6thread4joinEv")
    assert elf.read(Path(__file__)) is None


def test_a_torch_library_missing_means_no_torch_in_the_environment() -> None:
    known = causes.Known(None, False, "", False)
    why, fix = causes.cause(_failure(missing="libc10.so"), known)
    assert "the environment has no torch" in why and "`invoke deps`" in fix


def _tree_with_library(tmp_path: Path) -> tuple[SourceTree, Path]:
    """A source tree at tmp_path with one installed library, pkg/_C.abi3.so."""
    from packaging.specifiers import SpecifierSet

    from build_tools.checkout.source_tree import SourceTree

    tree = SourceTree(
        tmp_path, "cmake-python", "pkg", (3, 26, 0), tmp_path / ".venv", "cuda", SpecifierSet()
    )
    library = tmp_path / "pkg" / "_C.abi3.so"
    library.parent.mkdir()
    library.write_bytes(b"\x7fELF first")
    return tree, library


def test_a_library_that_loaded_is_known_by_its_content(tmp_path: Path) -> None:
    """A clean-build installs the same bytes anew (another inode, another mtime): still the
    library that loaded; the same size with other bytes is not."""
    from build_tools.loading import installed

    tree, library = _tree_with_library(tmp_path)
    installed.remember(tree, [library], "env A")
    assert installed.unchanged(tree, [library], "env A") == [library]
    assert installed.unchanged(tree, [library], "env B") == [], "another environment"
    library.unlink()
    library.write_bytes(b"\x7fELF first")  # reinstalled: a new file, the same bytes
    assert installed.unchanged(tree, [library], "env A") == [library]
    library.unlink()
    library.write_bytes(b"\x7fELF other")  # the same size, other bytes
    assert installed.unchanged(tree, [library], "env A") == []


def test_a_recorded_library_with_its_stat_unchanged_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After every build the record is written again: a library it has, untouched, is not
    hashed again (vLLM's are 255 MB together)."""
    from build_tools.loading import installed

    tree, library = _tree_with_library(tmp_path)
    installed.remember(tree, [library], "env A")

    def unread(path: object) -> str:
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(installed, "file_sha256", unread)
    assert installed.unchanged(tree, [library], "env A") == [library]
    installed.remember(tree, [library], "env A")
    assert installed.unchanged(tree, [library], "env A") == [library]
