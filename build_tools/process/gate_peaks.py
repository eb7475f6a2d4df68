"""What a compile will need, for the memory gate (gate.py): the unit and source a compile
command names, and the peak expected of it (measured, its folder's family, this build's units
of its language, or a prior). Installed beside gate.py and run with it: the standard library
only.

The store (insight/memory.py writes it) holds only peaks of real compiles — a unit a compiler
cache served teaches nothing about its memory — each with when it was measured:

    {"format": 2, "units": {"CMakeFiles/_C.dir/csrc/x.cu.o":
                            {"peak": 2147483648, "measured": "2026-12-07T03:00:00Z",
                             "by": "cicc"}}}

A store of the first format (a bare `{unit: bytes}`) may hold peaks of cache hits: it is read
as empty."""

from __future__ import annotations

import os

# Only the standard library's cheapest modules at run time: see gate.py.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

GiB = 1024**3
MiB = 1024**2
FORMAT = 2
# Priors, used for a unit nothing has been measured of yet, not even its language in this build
# dir: what a typical unit needs, not the heaviest one known. A unit heavier than expected is
# caught as it grows (gate_pause.py pauses the youngest compiles when memory runs short) and
# teaches its folder once two of them ended. CUDA, per nvcc thread (`--threads N` runs N archs at
# once): vLLM's `_moe_C` units peaked at 1.2-3.0 GiB at one arch (2026-12-02, 2-core machine);
# the heaviest known, vLLM 0.20's machete units of `_C`, 11.2 GiB (H200 machine). Reserving
# that for every first unit held a cold `_moe_C` build on a 16-CPU, 125 GiB machine 1.6x
# longer than no gate (427 vs 266 s) with over 100 GiB free. C/C++: vLLM's host units of
# `_moe_C`, 1.2-2.9 GiB; the example's 57-101 MiB.
PRIOR_CUDA = 4 * GiB
PRIOR_CXX = 2 * GiB
# A unit not measured yet whose folder holds FAMILY_MIN measured units of its language expects
# FAMILY_MARGIN times their largest peak: units of one folder are alike (vLLM's machete, marlin
# or FA3 instantiations), and a build records each unit as it ends, so a first build learns as
# it goes. Family evidence may exceed the prior (vLLM's FA3 units do).
FAMILY_MIN = 2
FAMILY_MARGIN = 1.5
# Once SCALE_MIN units of a language are measured anywhere in the store, a unit of an unmeasured
# folder expects SCALE_MARGIN times the largest of them, never more than the prior: the prior is
# scaled to what this tree shows on this machine instead of reserved whole for every unit.
SCALE_MIN = 3
SCALE_MARGIN = 2.0
CUDA_SUFFIXES = (".cu", ".hip")
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".cu", ".hip", ".C")
OBJECT_SUFFIXES = (".o", ".obj")


def unit_of(argv: Sequence[str]) -> str:
    """The object a compile command makes (`-c ... -o X.o`), "" for anything else."""
    if "-c" not in argv or "-o" not in argv:
        return ""
    index = argv.index("-o") + 1
    return argv[index] if index < len(argv) and argv[index].endswith(OBJECT_SUFFIXES) else ""


def source_of(argv: Sequence[str]) -> str:
    """The source a compile command reads ("" when none is recognisable)."""
    for item in argv[1:]:
        if item.endswith(SOURCE_SUFFIXES) and not item.startswith("-"):
            return item
    return ""


def cuda_unit(unit: str) -> bool:
    return unit.endswith(tuple(s + o for s in CUDA_SUFFIXES for o in OBJECT_SUFFIXES))


def is_cuda(command: Sequence[str]) -> bool:
    """A CUDA/HIP compile: its source or object says so, or nvcc runs it."""
    return (
        source_of(command).endswith(CUDA_SUFFIXES)
        or cuda_unit(unit_of(command))
        or any(os.path.basename(item) == "nvcc" for item in command[:3])
    )


def prior(cuda: bool, threads: int = 1) -> int:
    return PRIOR_CUDA * max(1, threads) if cuda else PRIOR_CXX


def nvcc_threads(command: Sequence[str]) -> int:
    """The archs nvcc compiles at once (`--threads N`, `-t N`, `--threads=N`); 1 when unsaid
    (0, "as many as archs", counts as 4)."""
    for index, item in enumerate(command):
        value = ""
        if item in ("--threads", "-t") and index + 1 < len(command):
            value = command[index + 1]
        elif item.startswith(("--threads=", "-t=")):
            value = item.split("=", 1)[1]
        if value.isdigit():
            return int(value) or 4
    return 1


def _language(cuda: bool) -> str:
    return "CUDA" if cuda else "C/C++"


def expected(unit: str, cuda: bool, store: Mapping[str, int], threads: int = 1) -> tuple[int, str]:
    """The peak a unit is expected to reach, and where that comes from: its own measured peak,
    else its folder's (FAMILY_MARGIN x the largest, FAMILY_MIN of them measured), else this
    store's units of its language (SCALE_MARGIN x the largest, at most the prior), else the
    prior of its language."""
    learned = store.get(unit, 0) if unit else 0
    if learned > 0:
        return learned, "measured"
    folder = os.path.dirname(unit)
    family, language = [], []
    for name, peak in store.items():
        if peak > 0 and cuda_unit(name) == cuda:
            language.append(peak)
            if unit and os.path.dirname(name) == folder:
                family.append(peak)
    if len(family) >= FAMILY_MIN:
        return int(max(family) * FAMILY_MARGIN), "its folder's units"
    if len(language) >= SCALE_MIN:
        scaled = int(max(language) * SCALE_MARGIN)
        if scaled < prior(cuda, threads):
            return scaled, f"this build dir's {_language(cuda)} units"
    return prior(cuda, threads), f"{_language(cuda)} prior"


def expected_peak(command: Sequence[str], store: Mapping[str, int]) -> tuple[int, str]:
    """What the compile `command` is expected to reach (see `expected`)."""
    cuda = is_cuda(command)
    return expected(unit_of(command), cuda, store, nvcc_threads(command) if cuda else 1)


def read_store(path: str) -> dict[str, int]:
    """The measured peaks, unit -> bytes ({} when the store is missing, unreadable, of the
    first format, or not what memory.py writes)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return peaks_of(loads(handle.read()))
    except (OSError, ValueError):
        return {}


def peaks_of(data: object) -> dict[str, int]:
    """unit -> measured bytes of a parsed store (ValueError when it is not one)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a store of measured peaks")
    units = data.get("units")
    if not isinstance(units, dict):
        raise ValueError("no units")
    found = {}
    for unit, entry in units.items():
        peak = entry.get("peak") if isinstance(entry, dict) else None
        if isinstance(peak, int) and not isinstance(peak, bool) and peak > 0:
            found[unit] = peak
    return found


ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
WORDS = {"true": True, "false": False, "null": None}


def loads(text: str) -> object:
    """JSON, read without the json module (its import alone costs more than the rest of the
    gate); ValueError for anything that is not JSON."""
    end = len(text)

    def skip(i: int) -> int:
        while i < end and text[i] in " \t\r\n":
            i += 1
        return i

    def string(i: int) -> tuple[str, int]:
        out: list[str] = []
        while True:
            if i >= end:
                raise ValueError("unterminated string")
            char = text[i]
            if char == '"':
                return "".join(out), i + 1
            if char == "\\":
                code = text[i + 1 : i + 2]
                if code == "u":
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                if code not in ESCAPES:
                    raise ValueError(f"bad escape at {i}")
                out.append(ESCAPES[code])
                i += 2
                continue
            out.append(char)
            i += 1

    def value(i: int) -> tuple[object, int]:
        i = skip(i)
        if i >= end:
            raise ValueError("unexpected end")
        char = text[i]
        if char == "{":
            found: dict[str, object] = {}
            i = skip(i + 1)
            if i < end and text[i] == "}":
                return found, i + 1
            while True:
                i = skip(i)
                if i >= end or text[i] != '"':
                    raise ValueError(f"expected a key at {i}")
                key, i = string(i + 1)
                i = skip(i)
                if i >= end or text[i] != ":":
                    raise ValueError(f"expected ':' at {i}")
                found[key], i = value(i + 1)
                i = skip(i)
                if i < end and text[i] == ",":
                    i += 1
                    continue
                if i < end and text[i] == "}":
                    return found, i + 1
                raise ValueError(f"expected ',' or '}}' at {i}")
        if char == "[":
            items: list[object] = []
            i = skip(i + 1)
            if i < end and text[i] == "]":
                return items, i + 1
            while True:
                item, i = value(i)
                items.append(item)
                i = skip(i)
                if i < end and text[i] == ",":
                    i += 1
                    continue
                if i < end and text[i] == "]":
                    return items, i + 1
                raise ValueError(f"expected ',' or ']' at {i}")
        if char == '"':
            return string(i + 1)
        for word, meaning in WORDS.items():
            if text.startswith(word, i):
                return meaning, i + len(word)
        start = i
        while i < end and text[i] in "+-0123456789.eE":
            i += 1
        number = text[start:i]
        if not number:
            raise ValueError(f"unexpected {char!r} at {start}")
        if any(c in number for c in ".eE"):
            return float(number), i
        return int(number), i

    try:
        parsed, at = value(0)
    except (IndexError, KeyError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if skip(at) != end:
        raise ValueError(f"trailing text at {at}")
    return parsed
