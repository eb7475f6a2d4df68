"""vllm-build-tools: the typed core behind the `invoke` tasks and `nox` sessions.

docs/ARCHITECTURE.md maps the modules. Nothing here imports rich, torch or invoke at import time.
"""

from build_tools.errors import BuildToolsError

__all__ = ["BuildToolsError"]
