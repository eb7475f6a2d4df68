"""What running a checkout's kernel tests needs in its environment: pytest and its plugins as
the checkout's own test requirements pin them (vLLM: requirements/test/<device>.txt), and the
packages the conftest.py files on the way to the chosen tests import, where those
requirements name them. Read from files; `missing` says what the environment lacks."""

from __future__ import annotations

import ast
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from build_tools.checkout.source_tree import SourceTree
from build_tools.machine import requirements

TEST_FILES = (
    "requirements/test/{device}.txt",
    "requirements/test/{device}.in",
    "requirements/test.txt",
    "requirements/test.in",
    "requirements-test.txt",
)
# Distributions whose import name is not their own name.
IMPORTED_AS = {"pillow": "PIL", "pyyaml": "yaml", "scikit-learn": "sklearn", "opencv-python": "cv2"}


@dataclass(frozen=True)
class Needed:
    source: Optional[Path]  # the test requirements file read (None: the checkout has none)
    lines: tuple[str, ...]  # what to install, e.g. "pytest==9.1.0"


def test_requirements(tree: SourceTree) -> Optional[Path]:
    for pattern in TEST_FILES:
        path = tree.root / pattern.format(device=tree.device)
        if path.is_file():
            return path
    return None


def conftest_imports(root: Path, tests: Sequence[str]) -> set[str]:
    """Top-level modules imported by the conftest.py files pytest loads for `tests`."""
    found: set[str] = set()
    folders: set[Path] = set()
    for test in tests:
        path = root / test.split("::", 1)[0]
        folder = path if path.is_dir() else path.parent
        while root in folder.parents or folder == root:
            folders.add(folder)
            folder = folder.parent
    for folder in folders:
        conftest = folder / "conftest.py"
        try:
            tree = ast.parse(conftest.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def missing(tree: SourceTree, tests: Sequence[str], installed: Collection[str]) -> Needed:
    """What the environment (its distributions, canonical names) lacks to run `tests`."""
    source = test_requirements(tree)
    have = {canonicalize_name(n) for n in installed}
    if source is None:
        return Needed(None, () if "pytest" in have else ("pytest",))
    imports = conftest_imports(tree.root, tests)
    lines: dict[str, str] = {}
    for req in requirements.requirements(source):
        name = canonicalize_name(req.name)
        imported = IMPORTED_AS.get(name, name.replace("-", "_"))
        if name in have or name in lines:
            continue
        if name.startswith("pytest") or imported in imports:
            lines[name] = _line(req)
    if "pytest" not in have and "pytest" not in lines:
        lines["pytest"] = "pytest"
    return Needed(source, tuple(lines.values()))


def _line(req: Requirement) -> str:
    return f"{req.name}{req.specifier}"
