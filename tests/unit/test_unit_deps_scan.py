"""cmake/dep_scan.py and cmake/scan_cache.py: dependency files, the scan's command line, and
the cache of scans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_tools.cmake.dep_scan import parse_depfile, scan_argv, search_dirs
from build_tools.cmake.scan_cache import ScanCache, memo_stat

# ------------------------------------------------------------------ dependency files


def test_parse_depfile_gcc_and_nvcc() -> None:
    gcc = (
        "CMakeFiles/_C.dir/csrc/a.cpp.o: \\\n /tmp/my\\ src/csrc/a.cpp /usr/include/x.h \\\n"
        " /tmp/my\\ src/csrc/ops.h\n"
    )
    assert parse_depfile(gcc) == [
        "/tmp/my src/csrc/a.cpp",
        "/usr/include/x.h",
        "/tmp/my src/csrc/ops.h",
    ]
    nvcc = "CMakeFiles/_C.dir/csrc/k.cu.o : /src/csrc/k.cu \\\r\n    /src/csrc/cuda_utils.h \\\r\n"
    assert parse_depfile(nvcc) == ["/src/csrc/k.cu", "/src/csrc/cuda_utils.h"]


def test_parse_depfile_escapes_and_phony_rules() -> None:
    text = "a.o b.o: x$$y.h c\\#1.h\n\nx$$y.h:\nc\\#1.h:\n"
    assert parse_depfile(text) == ["x$y.h", "c#1.h"], "expected -MP's empty rules to add nothing"


def test_parse_depfile_keeps_a_colon_after_the_targets_and_a_last_backslash() -> None:
    assert parse_depfile("a.o: x.h : y.h\\") == ["x.h", ":", "y.h\\"]
    assert parse_depfile("C\\:/x.h: a.h\nno rule here\n") == ["a.h"]


# ------------------------------------------------------------------ the scan's command line

GCC = (
    "/usr/bin/ccache /usr/bin/c++ -DX=1 -I/tmp/my\\ src/csrc -O3 -MD -MT CMakeFiles/_C.dir/a.cpp.o "
    "-MF CMakeFiles/_C.dir/a.cpp.o.d -o CMakeFiles/_C.dir/a.cpp.o -c '/tmp/my src/csrc/a.cpp'"
)
NVCC = (
    "/opt/sccache /usr/local/bin/nvcc -forward-unknown-to-host-compiler -I/src/csrc -O3 "
    '"--generate-code=arch=compute_90,code=[sm_90]" -Xcompiler=-fPIC -MD -MT '
    "CMakeFiles/_C.dir/k.cu.o -MF CMakeFiles/_C.dir/k.cu.o.d -x cu -c /src/csrc/k.cu "
    "-o CMakeFiles/_C.dir/k.cu.o"
)


def test_scan_argv_gcc_reuses_cmakes_flags() -> None:
    assert scan_argv(GCC, "/tmp/s.d") == [
        "/usr/bin/c++",
        "-DX=1",
        "-I/tmp/my src/csrc",
        "-O3",
        "-MT",
        "CMakeFiles/_C.dir/a.cpp.o",
        "-c",
        "/tmp/my src/csrc/a.cpp",
        "-M",
        "-MF",
        "/tmp/s.d",
    ]


def test_scan_argv_nvcc_drops_the_output_it_would_overwrite() -> None:
    argv = scan_argv(NVCC, "/tmp/s.d", ["/opt/sccache"])
    assert argv[0] == "/usr/local/bin/nvcc" and "-o" not in argv
    assert "--generate-code=arch=compute_90,code=[sm_90]" in argv
    assert argv[-3:] == ["-M", "-MF", "/tmp/s.d"]
    assert "CMakeFiles/_C.dir/k.cu.o.d" not in argv, "expected CMake's depfile replaced"


def test_scan_argv_long_forms_and_missing_flags() -> None:
    long = "nvcc --generate-nonsystem-dependencies-with-compile --output-file=x.o -c k.cu"
    assert scan_argv(long, "d") == ["nvcc", "-c", "k.cu", "-MM", "-MF", "d"]
    assert scan_argv("g++ -oa.o -c a.cpp", "d") == ["g++", "-c", "a.cpp", "-M", "-MF", "d"]
    tidy = "cmake -E __run_co_compile --tidy=clang-tidy --source=a.cpp -- g++ -c a.cpp -o a.o"
    assert scan_argv(tidy, "d") == ["g++", "-c", "a.cpp", "-M", "-MF", "d"]


def test_scan_argv_refuses_shell_commands() -> None:
    with pytest.raises(ValueError, match="shell command"):
        scan_argv("g++ -c a.cpp -o a.o && touch stamp", "d")


def test_scan_argv_keeps_nonsystem_whatever_the_order() -> None:
    assert scan_argv("g++ -MMD -MD -c a.cpp", "d")[-3] == "-MM"
    assert scan_argv("g++ -M -c a.cpp", "d")[-3] == "-M"


# ------------------------------------------------------------------ the scan cache


def test_the_cache_drops_scans_of_changed_files(tmp_path: Path) -> None:
    header, source = tmp_path / "a.h", tmp_path / "a.cpp"
    header.write_text("// a\n")
    source.write_text("// a\n")
    path = tmp_path / "state" / "b.json"
    cache = ScanCache.load(path, memo_stat())
    cache.put("one", [str(source), str(header)], memo_stat())
    cache.put("two", [str(source)], memo_stat())
    cache.save()
    assert not cache.dirty and path.is_file()
    assert ScanCache.load(path, memo_stat()).get("one") == [str(source), str(header)]
    header.write_text("// longer now\n")
    later = ScanCache.load(path, memo_stat())
    assert later.get("one") is None and later.get("two") == [str(source)]
    assert later.dirty, "expected the dropped scan to be written away"
    path.write_text("{not json")
    assert ScanCache.load(path, memo_stat()).entries == {}


def test_memo_stat_asks_once(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_text("1")
    stat = memo_stat()
    first = stat(str(path))
    assert first == (os.stat(path).st_mtime_ns, 1)
    path.unlink()
    assert stat(str(path)) == first and memo_stat()(str(path)) is None


def test_a_command_the_scan_cannot_run() -> None:
    with pytest.raises(ValueError, match="no compiler"):
        scan_argv("ccache A=1", "d")


# ------------------------------------------------------------------ search dirs


def test_search_dirs_of_gcc_and_nvcc_commands() -> None:
    gcc = (
        "/usr/bin/ccache /usr/bin/c++ -DX=1 -I/src/csrc -I '/src/my dir' -isystem /usr/inc "
        "-iquote rel/q -idirafter=/late -include /src/pch/force.h -O3 -c /deps/fa/a.cpp"
    )
    assert search_dirs(gcc) == [
        "/src/csrc", "/src/my dir", "/usr/inc", "rel/q", "/late", "/src/pch"
    ]  # fmt: skip
    nvcc = "nvcc --include-path=/deps/fa/csrc -I/deps/cutlass -isysroot /sys -x cu -c f.cu"
    assert search_dirs(nvcc) == ["/deps/fa/csrc", "/deps/cutlass"]
    assert search_dirs("c++ -I'unbalanced") == [], "an unsplittable command has none"


def test_a_failed_scan_is_kept_until_its_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "a.cu"
    source.write_text("#include <gone.h>\n")
    path = tmp_path / "state" / "b.json"
    cache = ScanCache.load(path, memo_stat())
    cache.put_failure("one", "fatal error: gone.h: No such file", [str(source)], memo_stat())
    cache.save()
    assert ScanCache.load(path, memo_stat()).failure("one") == "fatal error: gone.h: No such file"
    source.write_text("#include <here.h>\n// longer\n")
    later = ScanCache.load(path, memo_stat())
    assert later.failure("one") is None and later.dirty
