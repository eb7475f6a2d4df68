from __future__ import annotations

from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.safety.safe_paths import UNSAFE, check


@pytest.mark.parametrize("char", sorted(UNSAFE))
def test_characters_a_shell_or_cmake_would_act_on_are_refused(char: str) -> None:
    with pytest.raises(BuildToolsError, match=f"contains {UNSAFE[char]}"):
        check(Path(f"/tmp/a{char}b/src"), "source")


@pytest.mark.parametrize("name", ["my src", "vllm-0.20.0", "a+b@c", "ünïcode", "x_y.z"])
def test_ordinary_paths_pass(name: str) -> None:
    assert check(Path("/tmp") / name, "source") == Path("/tmp") / name
