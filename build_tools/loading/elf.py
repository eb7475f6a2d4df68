"""What the dynamic loader reads of a shared library: its DT_NEEDED, DT_RPATH, DT_RUNPATH,
DT_SONAME and the symbols of its .dynsym (defined, and undefined strong or weak).

A reader of 64-bit little-endian ELF (x86-64, aarch64) over mmap, standard library only: no
readelf process per library and no dependency. libtorch_cpu.so's ~100,000 dynamic symbols read
in well under a second. A file it cannot read (not ELF, 32-bit, big-endian, no section
headers) is None.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_DYNAMIC = struct.Struct("<qQ")
SHT_DYNAMIC, SHT_DYNSYM = 6, 11
DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 14, 15, 29
STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 1, 2, 10


@dataclass(frozen=True)
class Library:
    """A shared library as the dynamic loader sees it."""

    path: Path
    soname: str
    needed: tuple[str, ...]
    rpath: tuple[str, ...]  # DT_RPATH (used only where there is no DT_RUNPATH)
    runpath: tuple[str, ...]  # DT_RUNPATH
    defined: frozenset[str]  # global and weak symbols it exports
    undefined: tuple[str, ...]  # strong undefined symbols: each must be defined somewhere
    weak_undefined: tuple[str, ...]

    def exports(self, name: str) -> bool:
        return name in self.defined


def _cstring(table: bytes | mmap.mmap, offset: int) -> str:
    end = table.find(b"\0", offset)
    return bytes(table[offset:end]).decode("utf-8", "replace")


def read(path: Path) -> Optional[Library]:
    """The library's dynamic section and symbols (None: not a 64-bit little-endian ELF)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return _parse(path, m)
    except (OSError, ValueError, struct.error):
        return None


def _parse(path: Path, m: mmap.mmap) -> Optional[Library]:
    if len(m) < _HEADER.size or m[:4] != b"\x7fELF" or m[4] != 2 or m[5] != 1:
        return None
    header = _HEADER.unpack_from(m, 0)
    shoff, shentsize, shnum = header[6], header[11], header[12]
    if not shoff or shentsize != _SECTION.size:
        return None
    sections = [_SECTION.unpack_from(m, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    soname = ""
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    defined: set[str] = set()
    undefined: list[str] = []
    weak: list[str] = []
    for _, kind, _, _, offset, size, link, _, _, _ in sections:
        if kind == SHT_DYNAMIC:
            strings = _table(m, sections[link])
            for tag, value in _DYNAMIC.iter_unpack(m[offset : offset + size]):
                if tag == DT_NEEDED:
                    needed.append(_cstring(strings, value))
                elif tag == DT_SONAME:
                    soname = _cstring(strings, value)
                elif tag == DT_RPATH:
                    rpath = tuple(p for p in _cstring(strings, value).split(":") if p)
                elif tag == DT_RUNPATH:
                    runpath = tuple(p for p in _cstring(strings, value).split(":") if p)
                elif tag == 0:
                    break
        elif kind == SHT_DYNSYM:
            strings = _table(m, sections[link])
            for name_at, info, _, shndx, _, _ in _SYMBOL.iter_unpack(m[offset : offset + size]):
                if not name_at:
                    continue
                bind = info >> 4
                if shndx:
                    if bind in (STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE):
                        defined.add(_cstring(strings, name_at))
                elif bind == STB_GLOBAL:
                    undefined.append(_cstring(strings, name_at))
                elif bind == STB_WEAK:
                    weak.append(_cstring(strings, name_at))
    return Library(
        path,
        soname,
        tuple(needed),
        rpath,
        runpath,
        frozenset(defined),
        tuple(undefined),
        tuple(weak),
    )


def _table(m: mmap.mmap, section: tuple[int, ...]) -> bytes:
    offset, size = section[4], section[5]
    return bytes(m[offset : offset + size])
