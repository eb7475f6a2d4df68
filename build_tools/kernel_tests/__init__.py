"""Which of a checkout's pytest tests exercise the kernels a developer changed.

The pure core of a future `vllm-build test`: it reads files and runs nothing. The chain:

1. **Changed source files -> ops** (C++, read as text): the ops a file registers
   (`registrations`), or whose registered function is defined in it or reaches a function
   defined in it through calls, kernel launches and macros (`changed_ops`,
   `cpp_definitions`).
2. **Ops -> tests** (Python, parsed with ``ast``): the test files that name an op, or a
   Python wrapper that leads to a call of it (`tests_of_ops`, `python_index`,
   `python_modules`).
3. **The result** is a `Selection` (`selection`, `results`): every test file chosen with its
   reasons (the op, the test's line that leads to it and the chain of wrappers), sorted by
   path; the ops each changed file maps to and why; the ops no test reaches; and, when
   nothing is chosen, `Selection.nothing_found` says whether no op was found or no test for
   the ops found.

Paths are relative to the checkout, with ``/``. The caller supplies which sources each CMake
target compiles, {source: target(s)} (in the product, from the CMake File API).
"""

from build_tools.kernel_tests.changed_ops import DEFAULT_MAX_CALL_DEPTH, ops_of_changed_file
from build_tools.kernel_tests.cpp_definitions import Definition, find_definitions
from build_tools.kernel_tests.registrations import (
    Registration,
    SourceTargets,
    collect_registrations,
    extension_name,
    namespace_of,
    parse_registrations,
)
from build_tools.kernel_tests.results import Op, OpSource, Reason, SelectedTest, Selection
from build_tools.kernel_tests.selection import select_tests
from build_tools.kernel_tests.tests_of_ops import DEFAULT_MAX_WRAPPER_DEPTH, find_tests

__all__ = [
    "DEFAULT_MAX_CALL_DEPTH",
    "DEFAULT_MAX_WRAPPER_DEPTH",
    "Definition",
    "Op",
    "OpSource",
    "Reason",
    "Registration",
    "SelectedTest",
    "Selection",
    "SourceTargets",
    "collect_registrations",
    "extension_name",
    "find_definitions",
    "find_tests",
    "namespace_of",
    "ops_of_changed_file",
    "parse_registrations",
    "select_tests",
]
