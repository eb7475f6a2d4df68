"""What running kernel tests needs: pytest and its plugins as the checkout's test requirements
pin them (pip-compile's hashed lines included), and what the conftest.py files on the way to
the tests import."""

from __future__ import annotations

from pathlib import Path

from packaging.specifiers import SpecifierSet

from build_tools.checkout.source_tree import SourceTree
from build_tools.loop import test_env

HASHED = """\
pytest==9.1.0 \\
    --hash=sha256:00
    # via -r requirements/test/cuda.in
pytest-forked==1.6.0 \\
    --hash=sha256:01
tblib==3.1.0 \\
    --hash=sha256:02
lm-eval==0.4.8 \\
    --hash=sha256:03
pillow==11.0.0
"""


def _tree(root: Path) -> SourceTree:
    return SourceTree(root, "vllm", "vllm", (3, 26, 0), root / ".venv", "cuda", SpecifierSet())


def test_pytest_plugins_and_conftest_imports_as_pinned(tmp_path: Path) -> None:
    (tmp_path / "requirements" / "test").mkdir(parents=True)
    (tmp_path / "requirements" / "test" / "cuda.txt").write_text(HASHED)
    (tmp_path / "tests" / "kernels" / "moe").mkdir(parents=True)
    (tmp_path / "tests" / "conftest.py").write_text("from tblib import x\nimport PIL\n")
    (tmp_path / "tests" / "kernels" / "moe" / "test_a.py").write_text("")
    tree = _tree(tmp_path)
    needed = test_env.missing(tree, ["tests/kernels/moe/test_a.py"], ["pillow", "torch"])
    assert needed.lines == ("pytest==9.1.0", "pytest-forked==1.6.0", "tblib==3.1.0")
    assert needed.source == tmp_path / "requirements" / "test" / "cuda.txt"
    have = ["pytest", "pytest-forked", "tblib", "pillow"]
    assert test_env.missing(tree, ["tests/kernels/moe/test_a.py"], have).lines == ()


def test_a_checkout_without_test_requirements_gets_pytest(tmp_path: Path) -> None:
    needed = test_env.missing(_tree(tmp_path), ["tests/test_x.py"], ["torch"])
    assert needed == test_env.Needed(None, ("pytest",))
