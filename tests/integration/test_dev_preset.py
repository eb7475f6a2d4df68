"""The `dev` preset: the host half of each .cu unit at -O1 (nvcc's -O is the host compiler's);
its device code must be the release preset's, section for section."""

from __future__ import annotations

import json
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import build_env, ok

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc (CUDA units)")
TOOL_INFO = ".note.nv.tkinfo"  # the nvcc options the cubin was made with: differs by design


def elf_sections(path: Path) -> dict[str, bytes]:
    """Section name -> contents of an ELF64 file (a cubin)."""
    data = path.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    names = data[headers[names_index][4] : headers[names_index][4] + headers[names_index][5]]
    found = {}
    for h in headers:
        name = names[h[0] : names.index(b"\0", h[0])].decode()
        found[name] = b"" if h[1] == 8 else data[h[4] : h[4] + h[5]]  # SHT_NOBITS: no bytes
    return found


def cubin_of(build_dir: Path, unit: str, out: Path) -> Path:
    """Run the exact compile command of `unit` from compile_commands.json, as -cubin."""
    entries = json.loads((build_dir / "compile_commands.json").read_text())
    entry = next(e for e in entries if e["file"].endswith(unit))
    argv = shlex.split(entry["command"])
    argv = ["-cubin" if a == "-c" else a for a in argv]
    argv[argv.index("-o") + 1] = str(out)
    subprocess.run(argv, cwd=entry["directory"], check=True, capture_output=True)
    return out


def test_dev_preset_lowers_host_optimisation_and_keeps_the_device_code(tmp_path: Path) -> None:
    src = copy_example(tmp_path / "my src" / "minivllm")
    env = build_env(tmp_path / "ccache")
    ok("bootstrap", "--source", str(src), env=env)
    out = ok("build", "--source", str(src), "--preset", "dev", "--target", "_moe_C", env=env)
    assert "cmake-build-dev" in out
    presets = json.loads((src / "CMakeUserPresets.json").read_text())
    dev = next(p for p in presets["configurePresets"] if p["name"] == "dev")
    assert dev["cacheVariables"]["CMAKE_CUDA_FLAGS_RELEASE"] == "-O1 -DNDEBUG"
    unit = "topk_softmax_kernels.cu"

    def command(preset: str) -> list[str]:
        entries = json.loads((src / f"cmake-build-{preset}" / "compile_commands.json").read_text())
        return shlex.split(next(e["command"] for e in entries if e["file"].endswith(unit)))

    assert "-O1" in command("dev") and "-O3" not in command("dev")
    assert "-O3" in command("release") and "--split-compile=0" not in command("dev")
    release = elf_sections(cubin_of(src / "cmake-build-release", unit, tmp_path / "r.cubin"))
    dev_code = elf_sections(cubin_of(src / "cmake-build-dev", unit, tmp_path / "d.cubin"))
    code = [name for name in release if name.startswith(".text.")]
    assert code, "no kernel code in the cubin"
    assert {k: v for k, v in release.items() if k != TOOL_INFO} == {
        k: v for k, v in dev_code.items() if k != TOOL_INFO
    }
