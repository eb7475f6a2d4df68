"""issue 24, item 1: content, not clocks. Seeded random edits of sources and headers, each given
an mtime a clock-trusting build gets wrong (older than its objects, equal to the file's mtime
before the edit, in the future, or a `cp -p` restore of an earlier copy); after each, `invoke
build` must install exactly what a from-scratch build of the same tree links, and a second
build must compile nothing.

The from-scratch build is a second build dir of the same copy (so paths, and with them the
objects' bytes, are alike), configured once with ccache alone as launcher: before each
comparison `ninja -t clean` empties it and ninja builds every object from the tree as it is.
ccache keys on content, never on clocks, so its hits are from-scratch compiles of this very
content (nvcc's output differs between two real compiles; a hit gives the same bytes).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from build_tools.cmake.project import make_program
from tests.integration.tools import (
    bootstrap_copy,
    compiled_since,
    compiler_cache,
    digest,
    object_times,
    ok,
    shell,
    shell_env,
)

SEED = 20261207
CASES = 52
BUILD, REFERENCE = "cmake-build-release", "cmake-build-ref"
LIBS = ("_C.abi3.so", "_moe_C.abi3.so")
# path -> its variants (0: as shipped, "c": a comment only, 1, 2: code that reaches the library)
POOL = {
    "csrc/layernorm.cpp": (0, "c", 1, 2),
    "csrc/moe/topk_softmax.cpp": (0, "c", 1, 2),
    "csrc/activation_kernels.cu": (0, "c", 1),  # every CUDA variant costs nvcc once
    "csrc/ops.h": (0, "c", 1, 2),  # 8 units of _C
    "csrc/moe/moe_ops.h": (0, "c", 1, 2),  # 3 units of _moe_C
}
MTIMES = ("now", "older", "equal", "future", "restore")


def variant_text(original: str, path: str, variant: object) -> str:
    name = Path(path).name.replace(".", "_")
    if variant == 0:
        return original
    if variant == "c":
        return original + "\n// a comment only: the objects stay the same\n"
    if path.endswith(".h"):
        probe = f"static int probe_{name}() __attribute__((used));\n"
        return original + f"\n{probe}static int probe_{name}() {{ return {variant}; }}\n"
    return original + (
        f'\nextern "C" __attribute__((visibility("default"))) int probe_{name}() '
        f"{{ return {variant}; }}\n"
    )


@dataclass
class Tree:
    src: Path
    env: dict[str, str]
    stash: Path
    originals: dict[str, str] = field(default_factory=dict)
    now: dict[str, object] = field(default_factory=dict)  # path -> its variant now
    saved: dict[tuple[str, object], Path] = field(default_factory=dict)  # cp -p copies

    def write(self, path: str, variant: object, mtime: str, rng: random.Random) -> str:
        """Give `path` `variant` with the `mtime` mode; what was done, in words."""
        file = self.src / path
        before = file.stat()
        stashed = self.saved.get((path, variant))
        if mtime == "restore" and stashed is not None:
            shutil.copy2(stashed, file)  # cp -p: content and mtime of the saved copy
            self.now[path] = variant
            return f"{path}: cp -p restore of variant {variant!r}"
        file.write_text(variant_text(self.originals[path], path, variant))
        self.now[path] = variant
        now = time.time_ns()
        when = {
            "older": now - rng.randint(3600, 86400 * 400) * 10**9,
            "equal": before.st_mtime_ns,
            "future": now + rng.randint(600, 86400 * 30) * 10**9,
        }.get(mtime)
        if when is not None:
            os.utime(file, ns=(when, when))
        copy = self.stash / f"{path.replace('/', '_')}.{variant}"
        shutil.copy2(file, copy)
        self.saved[(path, variant)] = copy
        return f"{path}: variant {variant!r}, mtime {mtime}"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Tree:
    src = bootstrap_copy(tmp_path_factory, "content", env)
    ccache = str(compiler_cache())
    cmake = src / ".venv" / "bin" / "cmake"
    configured = shell(
        [
            cmake,
            "--preset",
            "release",
            "-B",
            src / REFERENCE,
            *(f"-DCMAKE_{lang}_COMPILER_LAUNCHER={ccache}" for lang in ("C", "CXX", "CUDA")),
        ],
        env=shell_env(env),
        cwd=src,
    )
    assert configured.returncode == 0, configured.output
    stash = tmp_path_factory.mktemp("stash")
    found = Tree(src, env, stash)
    for path in POOL:
        found.originals[path] = (src / path).read_text()
        found.now[path] = 0
    return found


def from_scratch(tree: Tree) -> dict[str, str]:
    """The libraries a from-scratch build of the tree as it is links (sha256 by name)."""
    ref = tree.src / REFERENCE
    ninja = make_program(ref) or "ninja"
    env = shell_env(
        {**tree.env, "CCACHE_BASEDIR": str(tree.src), "CCACHE_NOHASHDIR": "1"},
        unset=("TORCH_CUDA_ARCH_LIST",),
    )
    for argv in ([ninja, "-C", ref, "-t", "clean"], [ninja, "-C", ref, *LIBS]):
        done = shell(argv, env=env, cwd=tree.src)
        assert done.returncode == 0, done.output
    return {name: digest(ref / name) for name in LIBS}


@pytest.mark.parametrize("case", range(CASES))
def test_builds_follow_content_whatever_the_clocks_say(tree: Tree, case: int) -> None:
    rng = random.Random(SEED + case)
    done = []
    for path in rng.sample(sorted(POOL), rng.choice((1, 1, 2, 3))):
        mtime = rng.choice(MTIMES)
        choices = [v for v in POOL[path] if v != tree.now[path]]
        saved = [v for v in choices if (path, v) in tree.saved]
        variant = rng.choice(saved if mtime == "restore" and saved else choices)
        done.append(tree.write(path, variant, mtime, rng))
    what = f"case {case} (seed {SEED + case}): {'; '.join(done)}"
    out = ok("build", "--source", str(tree.src), env=tree.env)
    installed = {name: digest(tree.src / "minivllm" / name) for name in LIBS}
    assert installed == from_scratch(tree), f"{what}: installed != from scratch\n{out}"
    before = object_times(tree.src / BUILD)
    again = ok("build", "--source", str(tree.src), env=tree.env)
    compiled = compiled_since(tree.src / BUILD, before)
    assert compiled == [], f"{what}: a second build compiled {compiled}\n{again}"
    assert "all targets: up to date" in again, again
