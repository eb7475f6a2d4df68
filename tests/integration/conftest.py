"""Fixtures of the integration tests (their helpers live in tests/integration/tools.py)."""

from __future__ import annotations

import pytest

from tests.integration.tools import build_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private compiler cache and no user settings, shared by one module's tests."""
    return build_env(tmp_path_factory.mktemp("ccache"))
