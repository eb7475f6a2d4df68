"""C++/CUDA source as text: comments, literals and preprocessor lines blanked (every offset
kept), line numbers, matching brackets, argument lists and qualified names."""

from __future__ import annotations

import bisect
import re

_LEXEMES = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<raw>R"(?P<delim>[^()\\\s"]{0,16})\(.*?\)(?P=delim)")
      | (?P<string>"(?:\\.|[^"\\\n])*")
      | (?P<char>(?<![\w'])'(?:\\.|[^'\\\n])+')""",
    re.S | re.X,
)
_PREPROCESSOR = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)((?:[^\n]*\\\n)*[^\n]*)", re.M)
USING_NAMESPACE = re.compile(r"\busing\s+namespace\s+((?:::)?\w+(?:\s*::\s*\w+)*)\s*;")


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def _blank_literal(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("comment"):
        return _blank(match)
    if match.group("raw"):
        return 'R"' + re.sub(r"[^\n]", " ", text[2:-1]) + '"'
    quote = text[0]
    return quote + " " * (len(text) - 2) + quote


def split_cpp(text: str) -> tuple[str, str, dict[str, str]]:
    """(code, bare, macros): `code` has comments and preprocessor lines blanked; `bare` also
    has the contents of string and character literals blanked (both keep every offset and
    newline); `macros` is {name: replacement text, strings blanked} of the `#define`s."""
    no_comments = _LEXEMES.sub(lambda m: _blank(m) if m.group("comment") else m.group(0), text)
    no_literals = _LEXEMES.sub(_blank_literal, text)
    code = _PREPROCESSOR.sub(_blank, no_comments)
    bare = _PREPROCESSOR.sub(_blank, no_literals)
    macros = {m.group(1): m.group(2) for m in _DEFINE.finditer(no_literals)}
    return code, bare, macros


class Lines:
    """Line numbers (from 1) of offsets into a text."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset)


def match_bracket(text: str, at: int, pair: str = "()", backwards: bool = False) -> int:
    """Offset of the bracket matching the one at `at`, or -1: the closing one after an
    opening bracket, or with `backwards` the opening one before a closing bracket."""
    opening, closing = (pair[1], pair[0]) if backwards else (pair[0], pair[1])
    depth = 0
    for i in range(at, -1, -1) if backwards else range(at, len(text)):
        c = text[i]
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i
    return -1


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of an argument list's inside."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a.strip() for a in args]


def components(qualified: str) -> tuple[str, ...]:
    """`a :: b::c` as ("a", "b", "c")."""
    return tuple(part.strip() for part in qualified.split("::") if part.strip())


def qualified_parts(written: str) -> tuple[str, ...]:
    """`components`, with "" first for a name written from the global namespace (`::a::f`).
    `written` has no leading blanks."""
    parts = components(written)
    return ("", *parts) if written.startswith("::") else parts
