"""A wheel of the example built the way a release is: what VLLM_PRECOMPILED_WHEEL_LOCATION
points at in the precompiled-install tests (vLLM's CI builds its wheels the same way)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from build_tools.machine.toolchain import Machine, find_uv
from build_tools.settings import SUITE_ROOT
from tests.helpers import copy_example
from tests.integration.tools import shell, venv_python

# Variables that would turn the build into something other than a release build.
NOT_FOR_A_RELEASE = ("VLLM_USE_PRECOMPILED", "VLLM_PRECOMPILED_WHEEL_LOCATION")


def build_example_wheel(dest_dir: Path, *, env: dict[str, str] | None = None) -> Path:
    """Builds `minivllm-*.whl` into `dest_dir` and returns its path.

    A fresh copy of the example in a temporary dir is built with `uv build --wheel` (build
    isolation, the suite's pinned cmake and ninja), CMAKE_BUILD_TYPE=Release and no
    precompiled variables, so the wheel holds minivllm/_C.abi3.so and minivllm/_moe_C.abi3.so
    (with CUDA code where nvcc exists). `env` goes over os.environ, as invoke() takes it; by
    default TORCH_CUDA_ARCH_LIST is one arch (9.0, nvcc stays quick) and the compiler cache
    is a temporary one. Nothing is written outside `dest_dir` and temporary dirs (except
    uv's own cache, as every uv install does).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="example-wheel-") as tmp:
        source = copy_example(Path(tmp) / "minivllm")
        defaults = {"TORCH_CUDA_ARCH_LIST": "9.0", "CCACHE_DIR": str(Path(tmp) / "ccache")}
        build_env = {**os.environ, **defaults, **(env or {}), "CMAKE_BUILD_TYPE": "Release"}
        for key in NOT_FOR_A_RELEASE:
            build_env.pop(key, None)
        out_dir = Path(tmp) / "dist"
        argv: list[str | Path] = [
            find_uv(Machine(environ=build_env)),
            "build",
            "--wheel",
            "--python",
            venv_python(),
            "--build-constraint",
            SUITE_ROOT / "constraints.txt",
            "--out-dir",
            out_dir,
            source,
        ]
        done = shell(argv, env=build_env)
        wheels = sorted(out_dir.glob("minivllm-*.whl"))
        assert done.returncode == 0 and len(wheels) == 1, (
            f"expected uv build to make one minivllm wheel, got {wheels} "
            f"(exit {done.returncode}):\n{done.output}"
        )
        return Path(shutil.move(wheels[0], dest_dir / wheels[0].name))
