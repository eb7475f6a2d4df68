"""Shared fixtures (helpers live in tests/helpers.py and tests/integration/tools.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import copy_example


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/minivllm in a directory whose path has a space."""
    return copy_example(tmp_path / "my src" / "minivllm")


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    return tmp_path / "fakebin"


@pytest.fixture(autouse=True)
def _no_user_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never read the developer's own vllm-build.local.toml or VLLM_BUILD_* variables."""
    for key in list(os.environ):
        if key.startswith("VLLM_BUILD_") or key == "TORCH_CUDA_ARCH_LIST":
            monkeypatch.delenv(key)
    empty = tmp_path_factory.getbasetemp() / "no-user-settings.toml"
    empty.touch()
    monkeypatch.setenv("VLLM_BUILD_CONFIG", str(empty))


INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ drives real tools: marked `integration` by its
    directory (`pytest -m "not integration"` or `nox -s unit` runs the fast rest)."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)
