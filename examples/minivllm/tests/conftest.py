"""Shared setup of minivllm's tests (the counterpart of vLLM's tests/conftest.py).

The CMake workflow installs the extensions into the source tree (CMAKE_INSTALL_PREFIX=.),
so the checkout's root goes first on sys.path: `pytest tests` then imports the package
being developed, built or not. A test module whose extensions are not built skips itself
(see `needs_extensions` in each one).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


@pytest.fixture
def rng() -> random.Random:
    return random.Random(0)
