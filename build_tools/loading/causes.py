"""Why an extension does not load, and the fix for that cause (pure).

From what failed (a symbol nothing defines, or a library the loader does not find) and where
the extension came from (checkout/provenance.py: the wheel, or a build here against which
torch), the likely cause, first match wins: a CUDA runtime the environment lacks; a library
replaced behind our back (another release's?); built here against another torch than the
installed one; the wheel's library beside ones built here, or against another torch; a
symbol declared but defined nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from build_tools.checkout.provenance import BUILT, PRECOMPILED, Origin

CUDA_LIBRARY = re.compile(
    r"^lib(cudart|cublas|cublasLt|cusparse|cusparseLt|cufft|curand|cusolver|nvrtc|nvJitLink|"
    r"cudnn|nccl|cupti|nvshmem_host|cufile)\.so\.(\d+)"
)
TORCH_LIBRARY = re.compile(r"^lib(c10|c10_cuda|torch|torch_cpu|torch_cuda|torch_python|shm)\.so$")
TORCH_NAMESPACES = ("c10::", "at::", "torch::", "caffe2::", "aoti_torch", "torch_")
TORCH_MANGLED = re.compile(r"^_ZN(K?)(3c10|2at|5torch|6caffe2)|^_ZNK?St.*3c10")


@dataclass(frozen=True)
class Failure:
    """One extension that does not load, and why the loader (or the static check) says so."""

    name: str  # file name, e.g. _moe_C.abi3.so
    target: str  # the extension target / install component that builds it
    symbol: str = ""  # mangled
    demangled: str = ""
    missing: str = ""  # a library not found
    needed_by: str = ""
    other: str = ""  # what the loader said, when it is neither


@dataclass(frozen=True)
class Known:
    """What the checkout knows of the failing library."""

    origin: Optional[Origin]  # its provenance (None: none recorded)
    replaced: bool  # the file is not the one recorded (changed behind our back)
    torch: str  # the torch installed ("" when none)
    built_beside: bool  # extensions built here are installed beside it


def is_torch_symbol(symbol: str, demangled: str) -> bool:
    return demangled.startswith(TORCH_NAMESPACES) or bool(TORCH_MANGLED.match(symbol))


def what(failure: Failure) -> str:
    """What does not resolve, as a person reads it."""
    if failure.symbol:
        shown = failure.demangled or failure.symbol
        mangled = f" ({failure.symbol})" if shown != failure.symbol else ""
        return f"undefined symbol {shown}{mangled}"
    if failure.missing:
        by = f" (needed by {failure.needed_by})" if failure.needed_by else ""
        return f"{failure.missing} not found{by}"
    return failure.other


def cause(failure: Failure, known: Known) -> tuple[str, str]:
    """(the likely cause, its fix) for one failed library."""
    rebuild = f"`invoke build --target {failure.target}`"
    installed = f"torch {known.torch}" if known.torch else "the torch installed"
    if failure.missing:
        if TORCH_LIBRARY.match(failure.missing):
            return (
                f"{failure.missing} is torch's, and the environment has no torch to load it from",
                "run `invoke deps` (installs the torch the checkout pins), then `invoke doctor`",
            )
        cuda = CUDA_LIBRARY.match(failure.missing)
        if cuda:
            major = cuda.group(2)
            return (
                f"{failure.name} was built for a CUDA {major} runtime ({failure.missing}) "
                f"that this environment lacks ({installed} brings another)",
                f"{rebuild} builds it against this environment's CUDA; or install the torch "
                f"built for CUDA {major} (`invoke deps --torch-backend cu{major}0`)",
            )
        return (
            f"{failure.missing} is on none of the loader's paths (RUNPATH, LD_LIBRARY_PATH, "
            "ldconfig's directories)",
            "install what provides it, or add its directory to LD_LIBRARY_PATH; then "
            "`invoke doctor`",
        )
    origin = known.origin
    torch_symbol = is_torch_symbol(failure.symbol, failure.demangled)
    wheel_fix = (
        f"{rebuild} builds it here; `invoke build --all` rebuilds every extension; "
        "`invoke install --force` installs the matching wheel's again"
    )
    if known.replaced and origin is not None:
        return (
            f"it was replaced since it was installed ({origin.text()}): another release's "
            "wheel, or a copy from another build?",
            wheel_fix,
        )
    if origin is not None and origin.origin == BUILT:
        then = str(origin.detail.get("torch") or "")
        if then and known.torch and then != known.torch:
            return (
                f"{failure.name} was built here against torch {then}; {installed} is installed",
                f"{rebuild} rebuilds it against torch {known.torch}, or install torch {then} "
                "again (`invoke deps` installs the pinned one)",
            )
    if torch_symbol and (origin is None or origin.origin == PRECOMPILED):
        if origin is not None and origin.origin == PRECOMPILED and known.built_beside:
            return (
                f"the wheel's {failure.name} beside extensions built here: it was built "
                f"against another torch than {installed}",
                wheel_fix,
            )
        if origin is not None and origin.origin == PRECOMPILED:
            return (
                f"the wheel's {failure.name} was built against another torch than {installed}",
                "install the torch the wheel pins (`invoke deps`), or "
                f"{rebuild} to build it against {installed}",
            )
        return (f"{failure.name} was built against another torch than {installed}", wheel_fix)
    if failure.symbol:
        return (
            "nothing in the environment defines it: a function declared but never defined, "
            f"or its source is not compiled into {failure.target}",
            "define it (or add its source to the target's sources), then `invoke build`",
        )
    return (
        f"the loader refused {failure.name}",
        f"{rebuild} builds it again in this environment",
    )
