"""Real vLLM source trees from PyPI sdists, fetched at test time and cached between runs.

No vLLM code is committed here. `pip download --no-binary :all:` unpacks the sdist and then fails
at metadata (setup.py imports torch); with `--no-clean` the unpacked tree stays in TMPDIR, which
is all we need. When PyPI cannot be reached the tests that need a tree are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# A release with requirements/build.txt and the newest one (requirements/build/cuda.txt) when
# this was written; VLLM_BUILD_TEST_VLLM_VERSIONS="0.10.2 0.19.1 0.33.0" tests others.
DEFAULT_VERSIONS = ("0.10.2", "0.33.0")
BIG_DIRS = {"csrc", "vllm", "tests", "docs", "benchmarks", "examples", ".buildkite", ".github"}


def versions() -> list[str]:
    return os.environ.get("VLLM_BUILD_TEST_VLLM_VERSIONS", " ".join(DEFAULT_VERSIONS)).split()


def cache_dir() -> Path:
    base = os.environ.get("VLLM_BUILD_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "vllm-build-tools"
    )
    return Path(base) / "vllm-sdists"


def _find_root(where: Path) -> Path | None:
    hits = sorted(where.glob("*/vllm*/CMakeLists.txt")) + sorted(where.glob("vllm*/CMakeLists.txt"))
    return hits[0].parent if hits else None


def fetch(version: str) -> Path:
    """The unpacked sdist of vllm==version (cached), or pytest.skip with the reason."""
    final = cache_dir() / f"vllm-{version}"
    if (final / "CMakeLists.txt").is_file():
        return final
    work = cache_dir() / f"work-{version}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"vllm=={version}",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "--no-clean",
            "-d",
            str(work / "dl"),
        ],
        env={**os.environ, "TMPDIR": str(work / "tmp"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    root = _find_root(work / "tmp")
    if root is None:  # metadata worked here (torch installed?), so pip kept the archive instead
        for archive in (work / "dl").glob("vllm-*.tar.gz"):
            with tarfile.open(archive) as tar:
                tar.extractall(work / "unpacked", filter="data")
            root = _find_root(work / "unpacked")
    if root is None:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        pytest.skip(f"vllm=={version} sdist could not be fetched from PyPI: {' / '.join(tail)}")
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(root), final)
    shutil.rmtree(work, ignore_errors=True)
    return final


def light_copy(tree: Path, dest: Path) -> Path:
    """The parts of a vLLM tree the suite reads (build files, requirements), not its sources."""
    shutil.copytree(
        tree, dest, ignore=lambda d, names: BIG_DIRS & set(names) if d == str(tree) else set()
    )
    (dest / "vllm").mkdir()
    (dest / "vllm" / "__init__.py").write_text("")
    return dest
