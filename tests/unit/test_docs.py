"""The docs stay true: the README short, every relative link and anchor in README.md and docs/
leading somewhere, docs/settings.md as `Settings` would write it, the README's test command the
one CI runs, and docs/ARCHITECTURE.md naming only modules that exist and describing every one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.cli import settings_reference
from build_tools.settings import SUITE_ROOT

README = SUITE_ROOT / "README.md"
DOCS = SUITE_ROOT / "docs"
ARCHITECTURE = DOCS / "ARCHITECTURE.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
PACKAGE = SUITE_ROOT / "build_tools"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")


def prose(text: str) -> Iterator[str]:
    """The lines of a Markdown page that are not code (fenced blocks, indented blocks)."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("    "):
            yield line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as '-'."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(page.read_text(encoding="utf-8")):
        if match := re.match(r"#{1,6} (.+)", line):
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> Iterator[str]:
    for line in prose(page.read_text(encoding="utf-8")):
        yield from LINK.findall(CODE_SPAN.sub("", line))


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file, or anchor in it, does not exist."""
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target} (no {path})")
        elif anchor and (where.suffix != ".md" or anchor not in anchors(where)):
            broken.append(f"{target} (no heading #{anchor} in {where.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(SUITE_ROOT).as_posix())
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A `heading`: here\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-heading-here) [gone](missing.md) [bad](there.md#elsewhere)\n"
        "`[code](missing.md)`\n\n    [indented code](missing.md)\n[web](https://example.org)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md (no missing.md)",
        "there.md#elsewhere (no heading #elsewhere in there.md)",
    ]


def test_the_readme_is_read_in_two_minutes() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines: move detail into docs/"
    for page in ("vllm-guide", "real-vllm", "team-caches", "reliability", "benchmarks", "settings"):
        assert f"(docs/{page}.md)" in README.read_text(encoding="utf-8"), page


def test_the_readme_commands_are_the_ones_ci_runs() -> None:
    readme = README.read_text(encoding="utf-8").splitlines()
    main_job = "    python3 -m pip install -e . && python3 -m invoke bootstrap"
    tests = "    python3 -m pip install -c constraints.txt -e '.[test]' && python3 -m pytest"
    assert main_job in readme and tests in readme
    ci = (SUITE_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    last = [line for line in ci if line.strip() and not line.startswith("#")][-1]
    # CI adds only -q (quiet pip) and -ra (every skip with its reason).
    assert "    " + last.replace(" -q ", " ", 1).removesuffix(" -ra") == tests


def test_the_settings_reference_is_up_to_date() -> None:
    page = DOCS / "settings.md"
    assert page.read_text(encoding="utf-8") == settings_reference.render(), (
        f"docs/settings.md is out of date with Settings: run {settings_reference.COMMAND}"
    )


# --- docs/ARCHITECTURE.md -------------------------------------------------------------------

# `x.py`, `pkg/x.py`, `steps/*.py`, `pkg/` (a Python module's or package's name: no `-`, no `.`)
NAMED = re.compile(r"`([\w/*]*\w\.py|[\w/]*\w/)`")
ROOTS = (SUITE_ROOT, PACKAGE)
TREES = (PACKAGE, SUITE_ROOT / "benchmarks", SUITE_ROOT / "tests")


def resolves(name: str) -> bool:
    """Whether a module or folder ARCHITECTURE names exists: from the suite's root or from
    build_tools/, or a bare file name anywhere in build_tools/, benchmarks/ or tests/."""
    if any(list(root.glob(name)) for root in ROOTS):
        return True
    return "/" not in name and any(any(tree.rglob(name)) for tree in TREES)


def named_modules(text: str) -> set[str]:
    return {name for line in prose(text) for name in NAMED.findall(line)}


def architecture_text() -> str:
    return ARCHITECTURE.read_text(encoding="utf-8")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))


def described(module: Path, text: str) -> bool:
    """A module is described where ARCHITECTURE names its path (from build_tools/ or the root),
    or a line names its package (`pkg/`, `pkg/other.py`) and the module (`x.py` or `x`)."""
    inner = module.relative_to(PACKAGE).as_posix()
    if f"`{inner}`" in text or f"`build_tools/{inner}`" in text:
        return True
    if module.parent == PACKAGE:
        return False
    package = module.parent.name
    names = (f"`{module.name}`", f"`{module.stem}`")
    return any(
        (f"`{package}/" in line or f"`build_tools/{package}/" in line)
        and any(n in line for n in names)
        for line in text.splitlines()
    )


def defines(files: list[Path], name: str) -> bool:
    pattern = rf"^\s*(?:def|class)\s+{name}\b|^\s*{name}\s*[:=]|^from .* import .*\b{name}\b"
    return any(re.search(pattern, f.read_text(encoding="utf-8"), re.MULTILINE) for f in files)


def symbol_problems(text: str) -> list[str]:
    """`module.name` references whose module exists but defines no such name, and bare private
    names (`_help`) defined nowhere in the suite: a renamed function or constant the text still
    names."""
    everywhere = [*PACKAGE.rglob("*.py"), *SUITE_ROOT.glob("*.py")]
    problems = [
        name
        for name in sorted(set(re.findall(r"`(_[a-z][a-z0-9_]*)`", text)))
        if not defines(everywhere, name)
    ]
    for module, name in re.findall(r"`((?:[\w]+/)*[a-z_]+)\.([A-Za-z_]\w*)`", text):
        if name == "py":
            continue
        files = [root / f"{module}.py" for root in ROOTS if (root / f"{module}.py").is_file()]
        if "/" not in module:
            files += list(PACKAGE.rglob(f"{module}.py"))
        if not files:
            continue  # `ctx.step`, `session.run_install`: not a module
        if not defines(files, name):
            problems.append(f"{module}.{name}")
    return problems


def test_every_module_architecture_names_exists() -> None:
    missing = sorted(n for n in named_modules(architecture_text()) if not resolves(n))
    assert missing == [], f"docs/ARCHITECTURE.md names what does not exist: {missing}"


def test_every_name_architecture_gives_a_module_is_defined_there() -> None:
    assert symbol_problems(architecture_text()) == []


def test_every_package_and_module_is_described() -> None:
    text = architecture_text()
    packages_left = [
        p.name
        for p in packages()
        if f"`{p.name}/`" not in text and f"`build_tools/{p.name}/`" not in text
    ]
    modules_left = [m.relative_to(PACKAGE).as_posix() for m in modules() if not described(m, text)]
    assert (packages_left, modules_left) == ([], []), "describe them in docs/ARCHITECTURE.md"


def test_a_wrong_architecture_is_caught(tmp_path: Path) -> None:
    text = (
        "`build_tools/nowhere/`, `cli/gone.py`, `cli/front.py`, `steps/*.py`, `tasks.py`\n"
        "`cli/front.NEGATIVE`, `cli/front.help_of`, `cli/front._help`, `tasks.NEGATIVE`\n"
    )
    assert sorted(n for n in named_modules(text) if not resolves(n)) == [
        "build_tools/nowhere/",
        "cli/gone.py",
    ]
    assert symbol_problems(text) == ["cli/front._help", "tasks.NEGATIVE"]
    assert symbol_problems("a flag (help from `_help`), `_deep_gemm_C`") == ["_help"]
    assert not described(PACKAGE / "loop" / "tests.py", "`loop/watch.py` | watch |")
    assert described(PACKAGE / "loop" / "tests.py", "`loop/tests.py` | the tests |")
    assert described(PACKAGE / "doctor" / "tools.py", "| `doctor/` | checks (`tools.py`) |")
