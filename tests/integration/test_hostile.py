"""The hostile suite: bad inputs and faults, as a new user and then an adversary would try them,
each through the real `invoke` front door on one bootstrapped copy of the example.

Every case says what it expects: `refused` (exit non-zero with one clear sentence and a fix
line, no traceback), `accepted` (exit 0) or `warned` (exit 0 with a warning). After each, the
suite checks that nothing the user built or wrote was lost (sources, the presets file unless a
backup of it exists, every object of the build dir), that no process is left running over the
copy, and, for a dry run, that nothing was written. Every command a fix line names is then
run as printed (for a remedy, the refused command must succeed after it). The tally is
the table of docs/reliability.md:

    inputs, clear errors, silently accepted (goal 0), data lost (goal 0), processes left (goal 0)

`HOSTILE_REPORT=path` writes the tally and each case's verdict as JSON.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from build_tools.process.lock import identity, lock_path
from build_tools.settings import EXAMPLE_SOURCE
from tests.integration.tools import HAS_NVCC, bootstrap_copy, digest, fix_commands, invoke

Undo = Callable[[], object]
Setup = Callable[[Path, Path], Optional[Undo]]  # (the copy, a scratch dir) -> how to undo it


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]  # invoke's arguments; "{src}" / "{tmp}" are filled in
    expect: str  # "refused", "accepted" or "warned"
    needle: str = ""  # the output must say this
    setup: Optional[Setup] = None
    env: dict[str, Optional[str]] = field(default_factory=dict)  # None: unset
    deletes_build: bool = False  # a clean-build that is allowed to delete the build dir
    needs_nvcc: bool = False
    # Its fix line is a remedy: after the command it names, the refused command succeeds.
    remedy: bool = False
    # The fix asks the person to act first ("fix the compile error above and run ..."): its
    # command is run once the fault is undone.
    fix_after_undo: bool = False


# ------------------------------------------------------------------ setups (each can undo)


def presets_text(text: str) -> Setup:
    """CMakeUserPresets.json replaced by `text` (the original restored after)."""

    def setup(src: Path, tmp: Path) -> Undo:
        path = src / "CMakeUserPresets.json"
        old = path.read_bytes()
        path.write_text(text)
        return lambda: path.write_bytes(old)

    return setup


def presets_edit(change: Callable[[dict[str, Any]], None]) -> Setup:
    def setup(src: Path, tmp: Path) -> Undo:
        path = src / "CMakeUserPresets.json"
        old = path.read_bytes()
        data = json.loads(old)
        change(data)
        path.write_text(json.dumps(data, indent=2))
        return lambda: path.write_bytes(old)

    return setup


def add_preset(name: str, binary_dir: str, **extra: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        preset = {"name": name, "inherits": "release", "binaryDir": binary_dir, **extra}
        data["configurePresets"].append(preset)
        data["buildPresets"].append({"name": name, "configurePreset": name})

    return change


def files(written: dict[str, str]) -> Setup:
    """Files written under the copy ({"csrc/CMakeCache.txt": ""}), removed after."""

    def setup(src: Path, tmp: Path) -> Undo:
        made = [src / rel for rel in written if not (src / rel).exists()]
        for rel, text in written.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(text)

        def undo() -> None:
            for path in made:
                path.unlink(missing_ok=True)

        return undo

    return setup


def both(*setups: Setup) -> Setup:
    def setup(src: Path, tmp: Path) -> Undo:
        undos = [s(src, tmp) for s in setups]

        def undo() -> None:
            for one in reversed(undos):
                if one:
                    one()

        return undo

    return setup


def settings_file(text: str) -> Setup:
    def setup(src: Path, tmp: Path) -> None:
        (tmp / "settings.toml").write_text(text)

    return setup


def in_build_dir(change: Callable[[Path], object]) -> Setup:
    """A change to the release build dir, undone by putting the saved files back."""

    def setup(src: Path, tmp: Path) -> Undo:
        build = src / "cmake-build-release"
        saved = tmp / "saved-build"
        shutil.rmtree(saved, ignore_errors=True)
        keep = ["CMakeCache.txt", "build.ninja", ".ninja_log", "CMakeFiles/rules.ninja"]
        for rel in keep:
            if (build / rel).exists():
                (saved / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(build / rel, saved / rel)
        change(build)

        def undo() -> None:
            for rel in keep:
                if (saved / rel).exists():
                    shutil.copy2(saved / rel, build / rel)

        return undo

    return setup


def edit_source(text: str) -> Setup:
    def setup(src: Path, tmp: Path) -> Undo:
        path = src / "csrc" / "layernorm.cpp"
        old = path.read_text()
        path.write_text(old + text)
        return lambda: path.write_text(old)

    return setup


def odd_checkout(name: str) -> Setup:
    """A directory named `name` holding a CMakeLists.txt (paths nvcc or CMake would run)."""

    def setup(src: Path, tmp: Path) -> None:
        (tmp / name).mkdir(exist_ok=True)
        (tmp / name / "CMakeLists.txt").write_text("project(x)\n")

    return setup


def holder_record(src: Path) -> Path:
    path = lock_path(src / ".vllm-build-tools", src / "cmake-build-release")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_suffix(".holder.json")


def garbage_lock_record(src: Path, tmp: Path) -> Undo:
    holder_record(src).write_text("{")
    return lambda: holder_record(src).unlink(missing_ok=True)


def users_compile_commands(src: Path, tmp: Path) -> Undo:
    link = src / "compile_commands.json"
    target = os.readlink(link) if link.is_symlink() else None
    link.unlink(missing_ok=True)
    link.write_text("[]\n")

    def undo() -> None:
        assert link.read_text() == "[]\n", "the user's compile_commands.json was replaced"
        link.unlink()
        if target:
            link.symlink_to(target)

    return undo


def stranger_in_lock(src: Path, tmp: Path) -> Undo:
    """What a SIGKILLed build leaves, but naming an unrelated process (pid reuse)."""
    stranger = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    found = identity(stranger.pid) or {}
    record = {"pid": 1, "command": "invoke build", "since": 0, "group": stranger.pid}
    holder_record(src).write_text(json.dumps(record))
    STRANGERS.append(stranger)

    def undo() -> None:
        assert stranger.poll() is None, f"the unrelated process {found} was killed"
        stranger.kill()
        stranger.wait()
        STRANGERS.remove(stranger)

    return undo


STRANGERS: list[subprocess.Popen[bytes]] = []


def read_only_build_dir(src: Path, tmp: Path) -> Undo:
    (src / "csrc" / "layernorm.cpp").touch()  # work to do, in a dir that cannot take it
    build = str(src / "cmake-build-release")
    done = subprocess.run(["mount", "--bind", "-o", "ro", build, build], check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount here: needs root and mount rights")
    return lambda: subprocess.run(["umount", "-l", build], check=False) and None


def venv_aside(src: Path, tmp: Path) -> Undo:
    (src / ".venv").rename(tmp / "venv-aside")

    def undo() -> None:
        shutil.rmtree(src / ".venv", ignore_errors=True)  # one the fix made
        (tmp / "venv-aside").rename(src / ".venv")

    return undo


def state_dir_aside(src: Path, tmp: Path) -> Undo:
    (src / ".vllm-build-tools").rename(tmp / "state-aside")
    (src / ".vllm-build-tools").write_text("a file where the state dir was\n")

    def undo() -> None:
        (src / ".vllm-build-tools").unlink()
        (tmp / "state-aside").rename(src / ".vllm-build-tools")

    return undo


def ninja_log_garbage(build: Path) -> None:
    (build / ".ninja_log").write_text("not a ninja log\n")


def link_build_dir_elsewhere(src: Path, tmp: Path) -> Undo:
    elsewhere = tmp / "precious"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "CMakeCache.txt").write_text("keep me\n")
    (src / "linked-build").symlink_to(elsewhere)
    return lambda: (src / "linked-build").unlink()


def replaced(rel: str, content: bytes | str, mtime: Optional[str] = None) -> Setup:
    """A file of the copy replaced (made when missing), its bytes and mtime put back after;
    `mtime`: "older" (a day before), "same" (what it had), "future" (a day ahead)."""

    def setup(src: Path, tmp: Path) -> Undo:
        path = src / rel
        old = path.read_bytes() if path.is_file() else None
        stat = path.stat() if old is not None else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        day = 86400 * 10**9
        when = {
            "older": time.time_ns() - day,
            "same": stat.st_mtime_ns if stat else None,
            "future": time.time_ns() + day,
        }.get(mtime or "")
        if when is not None:
            os.utime(path, ns=(when, when))

        def undo() -> None:
            if old is None:
                path.unlink(missing_ok=True)
                return
            path.write_bytes(old)
            assert stat is not None
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

        return undo

    return setup


def edited(rel: str, change: Callable[[str], str], mtime: Optional[str] = None) -> Setup:
    """An edit of a file of the copy (from the example's text), with an `mtime` as above."""
    text = (EXAMPLE_SOURCE / rel).read_text()
    return replaced(rel, change(text), mtime)


def removed(rel: str) -> Setup:
    def setup(src: Path, tmp: Path) -> Undo:
        path = src / rel
        (tmp / "removed").write_bytes(path.read_bytes())
        path.unlink()
        return lambda: path.write_bytes((tmp / "removed").read_bytes())

    return setup


def hook_dir_a_file(src: Path, tmp: Path) -> Undo:
    """The configure hook's folder in the state dir replaced by a file."""
    hook = src / STATE / "configure-hook"
    if hook.is_dir():
        hook.rename(tmp / "hook-aside")
    hook.write_text("a file\n")

    def undo() -> None:
        hook.unlink()
        if (tmp / "hook-aside").is_dir():
            (tmp / "hook-aside").rename(hook)

    return undo


def same_size(text: str) -> str:
    """One character changed, the size kept: a `cp -p`-like edit size and mtime cannot see."""
    return text.replace("// ", "//-", 1)


STATE = ".vllm-build-tools/"
BASE_FILE = STATE + "precompiled-base.json"

# ------------------------------------------------------------------ the cases

B = ("build", "--source", "{src}")
P = ("presets", "--source", "{src}")
CLEAN = ("clean-build", "--source", "{src}")
CONFIG: dict[str, Optional[str]] = {"VLLM_BUILD_CONFIG": "{tmp}/settings.toml"}
GOOD_PRESET = add_preset("d", "${sourceDir}/csrc")

CASES: tuple[Case, ...] = (
    # --- settings and flags
    Case("arch banana", (*P, "--arch", "banana"), "refused", "not a CUDA arch list", needs_nvcc=True),
    Case("arch nvcc cannot build", (*P, "--arch", "5.0"), "refused", "5.0 is not an arch", needs_nvcc=True),
    Case("arch +PTX alone", (*P, "--arch", "9.0 +PTX"), "refused", "'+PTX'", needs_nvcc=True),
    Case("arch list with an empty item", (*P, "--arch", "9.0;;"), "accepted", needs_nvcc=True),
    Case("arch exported garbage", P, "refused", "env TORCH_CUDA_ARCH_LIST", env={"TORCH_CUDA_ARCH_LIST": "x;y", "VLLM_BUILD_ARCH": None}, needs_nvcc=True),
    Case("jobs negative", (*P, "--jobs", "-1"), "refused", "is negative"),
    Case("jobs not a number", (*P, "--jobs", "abc"), "refused", "not a valid int"),
    Case("jobs a fraction", (*P, "--jobs", "1.5"), "refused", "not a valid int"),
    Case("nvcc threads negative", P, "refused", "is negative", env={"VLLM_BUILD_NVCC_THREADS": "-3"}),
    Case("memory budget nan", P, "refused", "not a positive number", env={"VLLM_BUILD_MEM_PER_JOB_GB": "nan"}),
    Case("memory budget inf", P, "refused", "not a positive number", env={"VLLM_BUILD_MEM_PER_JOB_GB": "inf"}),
    Case("memory budget negative", P, "refused", "not a positive number", env={"VLLM_BUILD_MEM_PER_JOB_GB": "-2"}),
    Case("memory budget zero", P, "refused", "not a positive number", env={"VLLM_BUILD_MEM_PER_JOB_GB": "0"}),
    Case("settings file missing", B, "refused", "is not a file", env={"VLLM_BUILD_CONFIG": "{tmp}/nope.toml"}),
    Case("settings file not TOML", B, "refused", "not valid TOML", settings_file("jobs = = 3\n"), CONFIG),
    Case("settings file unknown key", B, "refused", "Unknown setting 'job'", settings_file("job = 3\n"), CONFIG),
    Case("settings file jobs as text", B, "refused", "not a valid int", settings_file('jobs = "many"\n'), CONFIG),
    Case("launcher unknown", (*P, "--launcher", "distcc"), "refused", "is not one of"),
    Case("device unknown", ("deps", "--source", "{src}", "--device", "gpu"), "refused", "is not one of"),
    Case("preset empty", (*B, "--preset", ""), "refused", "not a preset name"),
    Case("preset with a slash", (*B, "--preset", "a/b"), "refused", "not a preset name"),
    Case("preset in the wrong case", (*B, "--preset", "Release"), "refused", "case-sensitive"),
    Case("preset unknown", (*B, "--preset", "nosuch"), "refused", "is not in", remedy=True),
    Case("venv a plain directory", (*B, "--venv", "{tmp}"), "refused", "is not a Python environment"),
    Case("venv a file", (*B, "--venv", "{src}/CMakeLists.txt"), "refused", "is not a Python environment"),
    Case("deps dir missing", (*P, "--deps-dir", "{tmp}/no-deps"), "refused", "is not a directory"),
    Case("deps dir with an empty folder", (*P, "--deps-dir", "{tmp}"), "accepted", setup=files({})),
    Case("python 2.7", ("venv", "--source", "{tmp}/py", "--python", "2.7"), "refused", "Python 2.7", odd_checkout("py")),
    Case("python path missing", ("venv", "--source", "{tmp}/py", "--python", "/no/python3"), "refused", "does not exist", odd_checkout("py")),
    Case("python banana", ("venv", "--source", "{tmp}/py", "--python", "banana"), "refused", "not a version", odd_checkout("py")),
    Case("source missing", ("build", "--source", "{tmp}/nowhere"), "refused", "is not a directory"),
    Case("source a file", ("build", "--source", "{src}/CMakeLists.txt"), "refused", "is not a directory"),
    Case("source not a CMake tree", ("build", "--source", "{tmp}"), "refused", "no CMakeLists.txt"),
    Case("source with $(...)", ("build", "--source", "{tmp}/a$(touch PWNED)b"), "refused", "would execute", odd_checkout("a$(touch PWNED)b")),
    Case("source with a backtick", ("build", "--source", "{tmp}/a`touch PWNED`b"), "refused", "would execute", odd_checkout("a`touch PWNED`b")),
    Case("source with a semicolon", ("build", "--source", "{tmp}/a;b"), "refused", "would execute", odd_checkout("a;b")),
    Case("source with a quote", ("build", "--source", "{tmp}/a'b"), "refused", "would execute", odd_checkout("a'b")),
    Case("target clean", (*B, "--target", "clean"), "refused", "invoke clean-build"),
    Case("target help", (*B, "--target", "help"), "refused", "invoke targets"),
    Case("target all", (*B, "--target", "all"), "refused", "one of CMake's own"),
    Case("target rebuild_cache", (*B, "--target", "rebuild_cache"), "refused", "invoke configure"),
    Case("target edit_cache", (*B, "--target", "edit_cache"), "refused", "invoke configure"),
    Case("target install", (*B, "--target", "install"), "refused", "one of CMake's own"),
    Case("target unknown", (*B, "--target", "_CC"), "refused", "did you mean _C"),
    Case("target list", (*B, "--target", "_C;_moe_C"), "refused", "is not a target"),
    Case("clean-build unknown target", (*CLEAN, "--target", "nosuch"), "refused", "is not a target"),
    Case("remote cache not a URL", (*P, "--remote-cache", "notaurl"), "refused", "not a URL ccache can use"),
    Case("remote cache down", B, "warned", "cannot be used", presets_edit(lambda d: d["configurePresets"][0].setdefault("environment", {}).update(CCACHE_REMOTE_STORAGE="redis://127.0.0.1:9"))),
    Case("remote cache with a password", (*P, "--remote-cache", "redis://:s3cret@127.0.0.1:9"), "accepted", "***"),
    Case("dist without scheduler", (*P, "--dist", "--launcher", "sccache"), "refused", "no dist_scheduler"),
    Case("dist with ccache", (*P, "--dist", "--launcher", "ccache"), "refused", "needs sccache"),
    Case("dist scheduler not http", (*P, "--dist", "--launcher", "sccache"), "refused", "not an http(s) URL", env={"VLLM_BUILD_DIST_SCHEDULER": "ftp://x"}),
    Case("watch --then unbalanced quote", ("watch", "--source", "{src}", "--then", "pytest 'x"), "refused", "is not a command line"),
    # --- presets files
    Case("presets not JSON", B, "refused", "is not valid JSON", presets_text("{ nope")),
    Case("presets a list", B, "refused", "not an object", presets_text("[]")),
    Case("configurePresets not a list", B, "refused", "not a list", presets_text('{"version": 6, "configurePresets": {}}')),
    Case("preset without a name", B, "refused", ".name", presets_text('{"version": 6, "configurePresets": [{}]}')),
    Case("version a string", B, "refused", "version", presets_text('{"version": "6"}')),
    Case("cyclic inherits", B, "refused", "inherits it back", presets_edit(lambda d: d["configurePresets"][0].update(inherits="release"))),
    Case("inherits unknown", B, "refused", "no file defines", presets_edit(lambda d: d["configurePresets"][0].update(inherits="ghost"))),
    Case("duplicate preset names", B, "refused", "defined twice", presets_edit(lambda d: d["configurePresets"].append(dict(d["configurePresets"][0])))),
    Case("build preset of no configure preset", B, "refused", "no presets file defines", presets_edit(lambda d: d["buildPresets"].append({"name": "x", "configurePreset": "ghost"}))),
    Case("build preset jobs as text", B, "refused", ".jobs", presets_edit(lambda d: d["buildPresets"][0].update(jobs="x"))),
    Case("include missing", B, "refused", "does not exist", presets_edit(lambda d: d.update(include=["nope.json"]))),
    Case("include cycle", B, "refused", "include cycle", presets_edit(lambda d: d.update(include=["CMakeUserPresets.json"]))),
    Case("hand-edited preset of ours", ("bootstrap", "--source", "{src}"), "accepted", "kept your configure preset 'release'", presets_edit(lambda d: d["configurePresets"][0]["cacheVariables"].update(NVCC_THREADS="3"))),
    Case("binaryDir a source folder", (*CLEAN, "--preset", "d"), "refused", "no CMakeCache.txt", presets_edit(GOOD_PRESET)),
    Case("binaryDir a source folder with a cache", (*CLEAN, "--preset", "d"), "refused", "not one cmake wrote", both(files({"csrc/CMakeCache.txt": ""}), presets_edit(GOOD_PRESET))),
    Case("binaryDir the source tree", (*CLEAN, "--preset", "d"), "refused", "source tree", presets_edit(add_preset("d", "${sourceDir}"))),
    Case("binaryDir outside the tree", (*CLEAN, "--preset", "d"), "refused", "outside the source tree", presets_edit(add_preset("d", "${sourceParentDir}"))),
    Case("binaryDir a symlink", (*CLEAN, "--preset", "d"), "refused", "is a symlink", both(link_build_dir_elsewhere, presets_edit(add_preset("d", "${sourceDir}/linked-build")))),
    Case("user's compile_commands.json", ("configure", "--source", "{src}", "--force"), "warned", "left as it is", users_compile_commands),
    # --- build dir faults
    Case("cache garbage", B, "accepted", "CMakeCache.txt is damaged", in_build_dir(lambda b: (b / "CMakeCache.txt").write_text("x\0"))),
    Case("cache of another tree", CLEAN, "refused", "another source tree", in_build_dir(lambda b: (b / "CMakeCache.txt").write_text((b / "CMakeCache.txt").read_text().replace("CMAKE_HOME_DIRECTORY:INTERNAL=", "CMAKE_HOME_DIRECTORY:INTERNAL=/elsewhere")))),
    Case("copied build dir", CLEAN, "refused", "was written for", in_build_dir(lambda b: (b / "CMakeCache.txt").write_text((b / "CMakeCache.txt").read_text().replace("CMAKE_CACHEFILE_DIR:INTERNAL=", "CMAKE_CACHEFILE_DIR:INTERNAL=/moved")))),
    Case("rules.ninja deleted", B, "accepted", "configure ran", in_build_dir(lambda b: (b / "CMakeFiles" / "rules.ninja").unlink())),
    Case("build.ninja garbage", B, "accepted", "regenerating them", in_build_dir(lambda b: (b / "build.ninja").write_text("= = =\n"))),
    Case("ninja log garbage", ("report", "--source", "{src}"), "refused", "not a ninja log", in_build_dir(ninja_log_garbage), remedy=True),
    Case("stale lock record names a stranger", B, "accepted", "left it alone", stranger_in_lock),
    Case("lock record garbage", B, "accepted", setup=garbage_lock_record),
    Case("state dir is a file", B, "refused", "is a file where a directory must be", state_dir_aside, remedy=True),
    Case("venv gone", B, "refused", "VLLM_PYTHON_EXECUTABLE", venv_aside, remedy=True),
    Case("compile error", B, "refused", "fix the compile error", edit_source("\nthis is not C++;\n"), remedy=True, fix_after_undo=True),
    Case("read-only build dir", B, "refused", "not writable", read_only_build_dir),
    Case("bogus CUDA_HOME", ("presets", "--source", "{src}", "--dry-run"), "accepted", env={"CUDA_HOME": "/nonexistent"}),
    Case("doctor outside a checkout", ("doctor", "--source", "{tmp}"), "refused", "no CMakeLists.txt"),
    Case("configure unknown preset", ("configure", "--source", "{src}", "--preset", "ghost"), "refused", "is not in", remedy=True),
    Case("sources of a tree that fetches nothing", ("sources", "--source", "{src}"), "accepted", "fetches nothing"),
    Case("source build with a wheel exported", ("install", "--source", "{src}", "--no-precompiled", "--dry-run"), "accepted", "VLLM_PRECOMPILED_WHEEL_LOCATION=''", env={"VLLM_PRECOMPILED_WHEEL_LOCATION": "/x.whl"}),
    # --- issue 24: content, not clocks
    Case("edit given an older mtime", B, "accepted", "compile again", edited("csrc/layernorm.cpp", lambda t: t + "\n// older\n", "older")),
    Case("edit keeping size and mtime", B, "accepted", "compile again", edited("csrc/layernorm.cpp", same_size, "same")),
    Case("source with an mtime in the future", B, "accepted", "in the future", edited("csrc/layernorm.cpp", lambda t: t, "future")),
    Case("header with an mtime in the future", B, "accepted", "in the future", edited("csrc/ops.h", lambda t: t, "future")),
    Case("header edit given an older mtime, --plan", (*B, "--plan"), "accepted", "would compile again", edited("csrc/ops.h", lambda t: t + "\n// older\n", "older")),
    Case("built-from record garbage", B, "warned", "could not be read", files({STATE + "built-from/cmake-build-release.json": "{garbage"})),
    Case("built-from record of the wrong shape", B, "warned", "is damaged", files({STATE + "built-from/cmake-build-release.json": '{"version": 1, "files": [], "objects": 3}'})),
    # --- issue 24: state files
    Case("precompiled base garbage", B, "refused", "precompiled-base.json is damaged", files({BASE_FILE: "{not json"}), remedy=True),
    Case("precompiled base a list", B, "refused", "cannot be known", files({BASE_FILE: "[]"}), remedy=True),
    Case("precompiled base not UTF-8", B, "refused", "cannot be read", replaced(BASE_FILE, b"\xff\xfe\x00"), remedy=True),
    Case("doctor over a damaged base", ("doctor", "--source", "{src}"), "refused", "precompiled-base.json is damaged", files({BASE_FILE: "{"})),
    Case("cache with garbage lines appended", B, "accepted", "CMakeCache.txt is damaged: line", in_build_dir(lambda b: (b / "CMakeCache.txt").write_text((b / "CMakeCache.txt").read_text() + "garbage\nmore garbage\n"))),
    Case("cache without CMAKE_HOME_DIRECTORY", B, "accepted", "lacks CMAKE_HOME_DIRECTORY", in_build_dir(lambda b: (b / "CMakeCache.txt").write_text((b / "CMakeCache.txt").read_text().replace("CMAKE_HOME_DIRECTORY:INTERNAL", "X_HOME:INTERNAL")))),
    Case("configure stamp garbage", B, "accepted", "configure ran", in_build_dir(lambda b: (b / ".vllm-build-tools-configure.json").write_text("{"))),
    Case("configure hook dir a file", ("configure", "--source", "{src}", "--force"), "warned", "runs without it", hook_dir_a_file),
    # --- issue 24: archs, jobs, NVCC_THREADS asked
    Case("arch list exported anew", (*B, "--dry-run"), "accepted", "asked by env TORCH_CUDA_ARCH_LIST", env={"TORCH_CUDA_ARCH_LIST": "8.0", "VLLM_BUILD_ARCH": None}, needs_nvcc=True),
    Case("arch list exported as configured", B, "accepted", env={"TORCH_CUDA_ARCH_LIST": "9.0", "VLLM_BUILD_ARCH": None}, needs_nvcc=True),
    Case("MAX_JOBS not a number", P, "refused", "MAX_JOBS = 'many'", env={"MAX_JOBS": "many"}),
    Case("MAX_JOBS zero", P, "refused", "not a positive whole number", env={"MAX_JOBS": "0"}),
    Case("NVCC_THREADS negative", P, "refused", "NVCC_THREADS = '-1'", env={"NVCC_THREADS": "-1"}),
    Case("MAX_JOBS and NVCC_THREADS in config", ("config",), "accepted", "env MAX_JOBS=8 // NVCC_THREADS=2", env={"MAX_JOBS": "8", "NVCC_THREADS": "2"}),
    Case("MAX_JOBS at build time", (*B, "--dry-run"), "accepted", "jobs=1", env={"MAX_JOBS": "1"}),
    Case("settings file jobs a fraction", B, "refused", "is a number, not a whole number", settings_file("jobs = 2.7\n"), CONFIG),
    Case("settings file preset a list", B, "refused", "is a list, not a string", settings_file('preset = ["release"]\n'), CONFIG),
    Case("settings file memory_gate a number", B, "refused", "is a whole number, not a boolean", settings_file("memory_gate = 1\n"), CONFIG),
    Case("settings file budget a boolean", B, "refused", "is a boolean, not a number", settings_file("mem_per_job_gb = true\n"), CONFIG),
    Case("remote cache port not a number", (*P, "--remote-cache", "redis://:s3cret@host:notaport"), "refused", "its port is no number"),
    Case("remote cache port out of range", (*P, "--remote-cache", "redis://host:99999"), "refused", "its port is no number"),
    Case("remote cache given at build time", B, "warned", "is used by this build", env={"VLLM_BUILD_REMOTE_CACHE": "redis://127.0.0.1:9"}),
    Case("dist scheduler port not a number", (*P, "--dist", "--launcher", "sccache"), "refused", "its port is no number", env={"VLLM_BUILD_DIST_SCHEDULER": "http://10.0.0.5:port"}),
    # --- issue 24: the whole input graph
    Case("generator script edited", B, "accepted", "changed since the last configure", edited("csrc/generated/generate_kernels.py", lambda t: t + "\n# edited\n")),
    Case("generator list edited with an older mtime", B, "accepted", "which reads it", edited("csrc/generated/kernels.json", lambda t: t.replace("4]", "5]"), "older")),
    Case("generator list garbage", B, "refused", "kernel generation failed", edited("csrc/generated/kernels.json", lambda t: "{not json"), fix_after_undo=True),
    Case("CMakeLists restored with an older mtime", B, "accepted", "changed since the last configure", edited("CMakeLists.txt", lambda t: t + "\n# restored from a backup\n", "older")),
    Case("custom command script edited", B, "accepted", "Building _extra_C", edited("tools/build_extra_C.py", lambda t: t + "\n# edited\n")),
    Case("custom command input deleted", B, "refused", "a file the build reads is gone", removed("csrc/extra/extra.h"), fix_after_undo=True),
    Case("install local manifest garbage", ("doctor", "--source", "{src}"), "accepted", "installed kernels", in_build_dir(lambda b: (b / "install_local_manifest.txt").write_text("\0garbage\n"))),
    Case("dry-run bootstrap", ("bootstrap", "--source", "{src}", "--dry-run", "--force"), "accepted", "would run"),
    Case("dry-run clean-build", ("clean-build", "--source", "{src}", "--dry-run"), "accepted", "would run"),
)  # fmt: skip


# ------------------------------------------------------------------ what is checked after each


def unset_of(case: Case) -> tuple[str, ...]:
    return tuple(k for k, v in case.env.items() if v is None)


def user_state(src: Path) -> dict[str, str]:
    """What must never be lost: sources, the presets file, every object of the build dir."""
    found = {}
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        # The venv, our state and installed extensions are products: rebuilt, never lost.
        product = rel.parts[0] in (".venv", ".vllm-build-tools") or path.suffix == ".so"
        product = product or rel.match("csrc/generated/generated_*.cpp")  # configure writes it
        if path.is_symlink() or not path.is_file() or product:
            continue
        if rel.parts[0].startswith("cmake-build-"):
            if path.suffix == ".o" and ".dir" in str(rel):
                found[str(rel)] = "object"  # present is enough: a rebuild is not a loss
            continue
        found[str(rel)] = digest(path)
    return found


def every_file(src: Path) -> dict[str, tuple[int, int]]:
    """Every file and its size and mtime: a dry run must change none."""
    return {
        str(p.relative_to(src)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in src.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def running_over(src: Path) -> list[str]:
    needle, found = str(src).encode(), []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes()
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in argv and state != "Z" and int(cmdline.parent.name) != os.getpid():
            found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
    return found


def lost(before: dict[str, str], after: dict[str, str], src: Path, case: Case) -> list[str]:
    gone = []
    for rel, value in before.items():
        if rel.startswith("cmake-build-") and case.deletes_build:
            continue
        if after.get(rel) != value:
            backups = list((src / rel).parent.glob(Path(rel).name + ".*.bak"))
            if not backups or (after.get(rel) is None and value != "object"):
                gone.append(rel)
    return gone


@dataclass
class Verdict:
    case: str
    expect: str
    code: int
    clear: bool
    silently_accepted: bool
    lost: list[str]
    left: list[str]
    wrote_in_dry_run: list[str]
    ok: bool
    output: str = ""
    fixes: list[str] = field(default_factory=list)  # the commands its fix lines name


@contextmanager
def applied(case: Case, src: Path, tmp: Path) -> Iterator[None]:
    undo = case.setup(src, tmp) if case.setup else None
    try:
        yield
    finally:
        if undo:
            undo()


def run_case(case: Case, src: Path, tmp: Path, env: dict[str, str]) -> Verdict:
    fill = {"{src}": str(src), "{tmp}": str(tmp)}

    def filled(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    case_env = {**env, **{k: filled(v) for k, v in case.env.items() if v is not None}}
    for key in [k for k, v in case.env.items() if v is None]:
        case_env.pop(key, None)
    args = [filled(a) for a in case.args]
    with applied(case, src, tmp):
        before, files_before = user_state(src), every_file(src)
        run = invoke(*args, env=case_env, timeout=600, unset=unset_of(case))
        time.sleep(0.2)
        left = running_over(src)
        for stranger in STRANGERS:  # the unrelated process of the lock case is not ours
            left = [p for p in left if str(stranger.pid) not in p]
        after = user_state(src)
        dry = "--dry-run" in case.args
        wrote = sorted(set(every_file(src).items()) ^ set(files_before.items())) if dry else []
        fixes = fix_commands(run.output)
        if not case.fix_after_undo:
            unfixed = follow(case, fixes, args, src, case_env)
    if case.fix_after_undo:
        unfixed = follow(case, fixes, args, src, case_env)
    out = run.output
    clear = "Traceback" not in out and (
        run.returncode == 0 or ("error: " in out and "\n  fix: " in out)
    )
    said = case.needle.lower() in out.lower() if case.needle else True
    if case.expect == "refused":
        silently = run.returncode == 0
        ok = run.returncode != 0 and clear and said
    elif case.expect == "warned":
        silently = run.returncode == 0 and "warning: " not in out
        ok = run.returncode == 0 and not silently and said
    else:
        silently = False
        ok = run.returncode == 0 and said
    gone = lost(before, after, src, case)
    wrote_names = sorted({name for name, _ in wrote})
    leaked = [
        p.name
        for p in (src / "CMakeUserPresets.json", src / ".vllm-build-tools" / "last-run.log")
        if p.is_file() and "s3cret" in p.read_text(errors="replace")
    ]
    good = ok and not gone and not left and not wrote_names and "s3cret" not in out and not leaked
    good = good and not unfixed
    if unfixed:
        out += "\n--- its fix lines, run as printed:\n" + "\n".join(unfixed)
    return Verdict(
        case.name,
        case.expect,
        run.returncode,
        clear,
        silently,
        gone,
        left,
        wrote_names,
        good,
        out,
        fixes,
    )


def follow(
    case: Case, fixes: list[str], args: list[str], src: Path, env: dict[str, str]
) -> list[str]:
    """Run each fix command as printed; for a remedy, the refused command must then succeed.
    What the fixes wrote (presets, build dirs) is put back for the cases that follow.
    Returns what went wrong."""
    presets = src / "CMakeUserPresets.json"
    saved = presets.read_bytes() if presets.is_file() else None
    build_dirs = set(src.glob("cmake-build-*"))
    backups = set(src.glob("CMakeUserPresets.json*.bak"))
    wrong = []
    try:
        for command in fixes:
            argv = shlex.split(command)
            done = invoke(*argv[1:], env=env, timeout=600, unset=unset_of(case))
            if done.returncode != 0:
                wrong.append(f"`{command}` exited {done.returncode}:\n{done.output[-1500:]}")
        if case.remedy and not wrong:
            again = invoke(*args, env=env, timeout=600, unset=unset_of(case))
            if not fixes:
                wrong.append("a remedy case whose fix line names no command")
            elif again.returncode != 0:
                wrong.append(f"after {fixes} it still fails:\n{again.output[-1500:]}")
    finally:
        if saved is not None:
            presets.write_bytes(saved)
        for made in set(src.glob("cmake-build-*")) - build_dirs:
            shutil.rmtree(made)
        for made in set(src.glob("CMakeUserPresets.json*.bak")) - backups:
            made.unlink()
    return wrong


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "hostile", env)


def test_the_hostile_suite(
    src: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    cases = [c for c in CASES if HAS_NVCC or not c.needs_nvcc]
    assert len(CASES) >= 120, f"the hostile suite has {len(CASES)} cases, fewer than 120"
    verdicts = []
    for case in cases:
        scratch = tmp_path_factory.mktemp("case")
        verdicts.append(run_case(case, src, scratch, env))
    tally = {
        "inputs": len(verdicts),
        "clear errors": sum(v.clear and v.code != 0 for v in verdicts),
        "silently accepted": sum(v.silently_accepted for v in verdicts),
        "data lost": sum(bool(v.lost) for v in verdicts),
        "processes left": sum(bool(v.left) for v in verdicts),
        "wrote in a dry run": sum(bool(v.wrote_in_dry_run) for v in verdicts),
    }
    report = os.environ.get("HOSTILE_REPORT")
    if report:
        rows = [{k: v for k, v in vars(v).items() if k != "output"} for v in verdicts]
        Path(report).write_text(json.dumps({"tally": tally, "cases": rows}, indent=1))
    failed = [v for v in verdicts if not v.ok]
    shown = "\n\n".join(
        f"{v.case} (expected {v.expect}, exit {v.code}, lost {v.lost}, left {v.left}, "
        f"wrote {v.wrote_in_dry_run}):\n{v.output[-1500:]}"
        for v in failed
    )
    assert not failed, f"{len(failed)} of {len(verdicts)} cases went wrong; tally {tally}\n{shown}"
    assert tally["silently accepted"] == tally["data lost"] == tally["processes left"] == 0, tally
    followed = sum(len(v.fixes) for v in verdicts)
    assert followed >= 10, f"only {followed} fix lines named a command to run"
    assert not (src / "PWNED").exists() and not Path("PWNED").exists(), "a path was executed"
    for stranger in STRANGERS:
        os.kill(stranger.pid, signal.SIGKILL)
