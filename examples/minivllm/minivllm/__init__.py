"""minivllm: a miniature of vLLM's C++/CUDA build contract.

The compiled kernels live in ``minivllm._C`` and ``minivllm._moe_C`` and are wrapped
by ``minivllm.ops``. Importing this package does not load them, so it works
before the kernels are built (e.g. after ``VLLM_USE_PRECOMPILED=1 pip install -e .``).
"""

__version__ = "0.1.0"
