"""vllm-build-tools: the typed core behind `invoke` tasks and `nox` sessions.

Modules (one noun each): settings, checkout, toolchain, presets, runner, report, steps.
Nothing here imports rich, torch or invoke at import time.
"""

from build_tools.errors import BuildToolsError

__all__ = ["BuildToolsError"]
