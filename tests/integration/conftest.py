"""Fixtures of the integration tests (their helpers live in tests/integration/tools.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.example_wheel import build_example_wheel
from tests.integration.tools import build_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private compiler cache and no user settings, shared by one module's tests."""
    return build_env(tmp_path_factory.mktemp("ccache"))


@pytest.fixture(scope="session")
def example_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One release wheel of the example for every test that installs from one."""
    cache = tmp_path_factory.mktemp("wheel-ccache")
    return build_example_wheel(tmp_path_factory.mktemp("wheel"), env=build_env(cache))
