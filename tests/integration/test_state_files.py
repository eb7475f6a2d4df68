"""issue 24, item 5: damaged state files are named and repaired, or refused with the fix that
works; never a silent full rebuild. A damaged precompiled base is rebuilt from what can be known
(the wheel, provenance.json, git) or the build refuses; a damaged CMakeCache.txt is named and
regenerated keeping every object."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import zipfile
from pathlib import Path

from tests.helpers import copy_example
from tests.integration.tools import compiled_since, fix_commands, invoke, object_times, ok

LIBS = ("minivllm/_C.abi3.so", "minivllm/_moe_C.abi3.so")
BASE = Path(".vllm-build-tools") / "precompiled-base.json"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel_sha(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return hashlib.sha256(archive.read(member)).hexdigest()


def git(root: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(root), *identity, *args], check=True, capture_output=True)


def precompiled_copy(tmp_path: Path, wheel: Path, env: dict[str, str], *, repo: bool) -> Path:
    src = copy_example(tmp_path / "my src" / "minivllm")
    if repo:  # the wheel's version names the tag of the commit its kernels were built from
        git(src, "init", "-q")
        git(src, "add", "-A")
        git(src, "commit", "-qm", "release")
        git(src, "tag", "v0.1.0")
    ok("bootstrap", "--source", str(src), env=env)
    return src


def test_a_damaged_base_without_git_is_refused_and_the_fix_works(
    tmp_path: Path, example_wheel: Path, env: dict[str, str]
) -> None:
    env = {**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(example_wheel)}
    src = precompiled_copy(tmp_path, example_wheel, env, repo=False)
    (src / BASE).write_text('{"source": "the wheel", "kernels": [1, 2')  # cut short
    before = object_times(src / "cmake-build-release")
    refused = invoke("build", "--source", str(src), env=env)
    assert refused.returncode != 0, refused.output
    assert "precompiled-base.json is damaged" in refused.output, refused.output
    assert "cannot be known" in refused.output, refused.output
    fixes = fix_commands(refused.output)
    assert [f.split()[:2] for f in fixes] == [["invoke", "install"], ["invoke", "build"]], fixes
    assert compiled_since(src / "cmake-build-release", before) == []
    doctor = invoke("doctor", "--source", str(src), env=env)
    assert "precompiled-base.json is damaged" in doctor.output, doctor.output
    ok(*shlex.split(fixes[0])[1:], env=env)  # the fix, as printed
    out = ok("build", "--source", str(src), env=env)
    assert "nothing differs from the precompiled kernels" in out, out
    for lib in LIBS:
        assert sha(src / lib) == wheel_sha(example_wheel, lib), f"{lib} is not the wheel's"


def test_a_damaged_base_is_rebuilt_from_the_wheel_and_git(
    tmp_path: Path, example_wheel: Path, env: dict[str, str]
) -> None:
    env = {**env, "VLLM_PRECOMPILED_WHEEL_LOCATION": str(example_wheel)}
    src = precompiled_copy(tmp_path, example_wheel, env, repo=True)
    (src / BASE).write_text("\0garbage\n")
    moe = src / "csrc" / "moe" / "topk_softmax.cpp"
    moe.write_text(moe.read_text() + "\n// an edit\n")
    plan = ok("build", "--source", str(src), "--plan", env=env)
    assert "is damaged" in plan and "rebuilt from the libraries byte-equal" in plan, plan
    assert (src / BASE).read_text() == "\0garbage\n", "--plan wrote the rebuilt base"
    before = object_times(src / "cmake-build-release")
    out = ok("build", "--source", str(src), env=env)
    compiled = compiled_since(src / "cmake-build-release", before)
    assert compiled and all("_moe_C.dir" in o for o in compiled), out
    assert "kept as the wheel has them: _C" in out, out
    assert sha(src / LIBS[0]) == wheel_sha(example_wheel, LIBS[0]), "_C is no longer the wheel's"
    assert (src / BASE.with_name(BASE.name + ".damaged")).read_bytes() == b"\0garbage\n"
    again = ok("build", "--source", str(src), env=env)
    assert "is damaged" not in again, again


def test_a_damaged_cmake_cache_is_named_and_regenerated_keeping_objects(
    tmp_path: Path, env: dict[str, str]
) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    ok("bootstrap", "--source", str(src), env=env)
    cache = src / "cmake-build-release" / "CMakeCache.txt"
    cache.write_text(cache.read_text() + "garbage appended by an editor\n\x00\x01\n")
    before = object_times(src / "cmake-build-release")
    out = ok("build", "--source", str(src), env=env)
    assert "CMakeCache.txt is damaged: line" in out and "objects are kept" in out, out
    assert "garbage appended by an editor" in out, out
    assert compiled_since(src / "cmake-build-release", before) == [], out
    assert list(cache.parent.glob("CMakeCache.txt.*.bak")), "the damaged cache was not kept"
