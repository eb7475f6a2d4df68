"""What a compile will need, for the memory gate (gate.py): the unit and source a compile
command names, and the peak expected of it (learned, its folder's family, or a prior).
Installed beside gate.py and run with it: the standard library only."""

from __future__ import annotations

import os

# Only the standard library's cheapest modules at run time: see gate.py.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

GiB = 1024**3
# Priors, used for a unit no build has measured yet: conservative on purpose (the first build is
# the one without a plan), from the README's measured figures. CUDA: vLLM 0.20's machete units
# of `_C` peak at 11.2 GiB each (H200 machine); 12 GiB covers them (the FA3 units, reported at
# 17-18 GB, exceed it: they are learned after their first build). C/C++: the suite's fixed
# budget per compile job (`mem_per_job_gb`, 2 GiB): vLLM's `_moe_C` units peaked at 1.19-2.94
# GiB on a 2-core machine, the heaviest a .cu one; the example's C++ units at 57-101 MiB.
PRIOR_CUDA = 12 * GiB
PRIOR_CXX = 2 * GiB
# A unit not measured yet whose folder holds FAMILY_MIN measured units of its language expects
# FAMILY_MARGIN times their largest peak instead of the prior: on the 2-core, 24 GiB machine a
# first build of vLLM's `_moe_C` ran its CUDA units one at a time under the 12 GiB prior (48 min
# against 37 without the gate), while they peaked at 1.2-3.0 GiB.
FAMILY_MIN = 3
FAMILY_MARGIN = 1.5
CUDA_SUFFIXES = (".cu", ".hip")
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".cu", ".hip", ".C")


def unit_of(argv: Sequence[str]) -> str:
    """The object a compile command makes (`-c ... -o X.o`), "" for anything else."""
    if "-c" not in argv or "-o" not in argv:
        return ""
    index = argv.index("-o") + 1
    return argv[index] if index < len(argv) and argv[index].endswith((".o", ".obj")) else ""


def source_of(argv: Sequence[str]) -> str:
    """The source a compile command reads ("" when none is recognisable)."""
    for item in argv[1:]:
        if item.endswith(SOURCE_SUFFIXES) and not item.startswith("-"):
            return item
    return ""


def _cuda_unit(unit: str) -> bool:
    return unit.endswith(tuple(s + o for s in CUDA_SUFFIXES for o in (".o", ".obj")))


def family_peak(unit: str, store: Mapping[str, int]) -> int:
    """What the unit's family has shown: FAMILY_MARGIN times the largest learned peak of the
    units in its folder in the same language, once FAMILY_MIN of them are learned (0 before).
    Units of one folder are alike (vLLM's machete, marlin or FA3 instantiations), and the
    build records each unit as it ends, so a first build learns as it goes."""
    folder, cuda = os.path.dirname(unit), _cuda_unit(unit)
    peaks = [
        peak
        for name, peak in store.items()
        if peak > 0 and os.path.dirname(name) == folder and _cuda_unit(name) == cuda
    ]
    return int(max(peaks) * FAMILY_MARGIN) if len(peaks) >= FAMILY_MIN else 0


def expected_peak(command: Sequence[str], store: Mapping[str, int]) -> tuple[int, str]:
    """The unit's learned peak, else its family's, else the prior of its language; with where
    it came from."""
    unit = unit_of(command)
    learned = store.get(unit, 0) if unit else 0
    if learned > 0:
        return learned, "learned"
    family = family_peak(unit, store) if unit else 0
    if family > 0:
        return family, "its folder's units"
    cuda = source_of(command).endswith(CUDA_SUFFIXES) or any(
        os.path.basename(item) == "nvcc" for item in command[:3]
    )
    return (PRIOR_CUDA, "CUDA prior") if cuda else (PRIOR_CXX, "C/C++ prior")


def read_store(path: str) -> dict[str, int]:
    """The learned peaks ({} when the store is missing, unreadable or not what memory.py
    writes: a JSON object of unit -> bytes)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_peaks(handle.read())
    except (OSError, ValueError):
        return {}


ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def parse_peaks(text: str) -> dict[str, int]:
    """A JSON object of strings to integers, read without the json module (its import alone
    costs more than the rest of the gate); ValueError for anything else."""
    at, end, peaks = 0, len(text), {}

    def skip(i: int) -> int:
        while i < end and text[i] in " \t\r\n":
            i += 1
        return i

    def expect(i: int, char: str) -> int:
        i = skip(i)
        if i >= end or text[i] != char:
            raise ValueError(f"expected {char!r} at {i}")
        return i + 1

    def string(i: int) -> tuple[str, int]:
        i, out = expect(i, '"'), []
        while i < end and text[i] != '"':
            if text[i] == "\\":
                code = text[i + 1 : i + 2]
                if code == "u":
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(ESCAPES[code])  # KeyError: not JSON
                i += 2
                continue
            out.append(text[i])
            i += 1
        return "".join(out), expect(i, '"')

    try:
        at = expect(at, "{")
        if skip(at) < end and text[skip(at)] == "}":
            return {}
        while True:
            key, at = string(at)
            at = skip(expect(at, ":"))
            digits = at
            while at < end and text[at].isdigit():
                at += 1
            peaks[key] = int(text[digits:at])
            at = skip(at)
            if at < end and text[at] == ",":
                at += 1
                continue
            expect(at, "}")
            return peaks
    except (IndexError, KeyError) as exc:
        raise ValueError(f"not a JSON object of integers: {exc}") from None
