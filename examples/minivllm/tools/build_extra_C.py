"""Builds minivllm/_extra_C.abi3.so outside CMake's compile rules, as vLLM's
tools/build_deepgemm_C.py builds DeepGEMM's extension: CMake runs it as a custom command
(its only inputs are what the command names: this script, the source and its headers).

usage: build_extra_C.py <c++ compiler> <source> <output dir>
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

# A comment-only edit of this script still rebuilds the target: CMake lists it as an input.
FLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden"]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    compiler, source, out_dir = argv[0], Path(argv[1]), Path(argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "_extra_C.abi3.so"
    include = sysconfig.get_paths()["include"]
    command = [
        compiler,
        *FLAGS,
        "-DPy_LIMITED_API=0x03090000",
        f"-I{include}",
        f"-I{source.parent}",
        str(source),
        "-o",
        str(output),
    ]
    print(" ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
