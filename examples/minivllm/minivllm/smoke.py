"""Smoke test of the compiled extensions: ``python -m minivllm.smoke``.

Imports every extension, checks every CPU op against pure-Python reference math
and, when a GPU is visible, the CUDA ops against the CPU ones. Prints one line
per extension, e.g. ``ok _C (cuda: not built)``, and exits non-zero on any
failure.
"""

from __future__ import annotations

import importlib
import math
import random
import sys

from minivllm.reference import (
    gelu,
    ref_act_and_mul,
    ref_moe_align,
    ref_quantize_int8,
    ref_rms_norm,
    ref_rotary,
    ref_softmax,
    ref_topk_softmax,
    silu,
)

EXTENSIONS = ("_C", "_moe_C", "_extra_C")


class Mismatch(Exception):
    pass


def expect_close(what, got, want, rel=1e-9, abs_tol=1e-12):
    """Compares numbers or (nested) lists of numbers."""
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            raise Mismatch(f"{what}: got {got!r}, want {want!r}")
        for i, (g, w) in enumerate(zip(got, want)):
            expect_close(f"{what}[{i}]", g, w, rel, abs_tol)
    elif not math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol):
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def expect_equal(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def expect_raises(what, exc_type, fn, *args):
    try:
        fn(*args)
    except exc_type:
        return
    except Exception as e:  # a wrong exception type is a mismatch too
        raise Mismatch(f"{what}: raised {type(e).__name__}: {e}, want {exc_type.__name__}") from e
    raise Mismatch(f"{what}: did not raise {exc_type.__name__}")


def expect_balanced_refcounts(what, fn, *args, calls=100):
    """Catches a C function returning None/True/False without a new reference.

    Harmless on 3.12+ (the singletons are immortal) but fatal for the same abi3
    module on <= 3.11, where this shows up as a changed refcount.
    """
    singletons = {"None": None, "True": True, "False": False}
    before = {name: sys.getrefcount(obj) for name, obj in singletons.items()}
    for _ in range(calls):
        fn(*args)
    after = {name: sys.getrefcount(obj) for name, obj in singletons.items()}
    for name in singletons:
        if after[name] != before[name]:
            raise Mismatch(
                f"{what}: refcount of {name} changed by {after[name] - before[name]} "
                f"over {calls} calls (reference counting bug in the extension)"
            )


def cuda_status(mod):
    expect_balanced_refcounts("built_with_cuda", mod.built_with_cuda)
    built = mod.built_with_cuda()
    count = mod.cuda_device_count()
    if not isinstance(built, bool) or not isinstance(count, int) or count < 0:
        raise Mismatch(f"built_with_cuda()={built!r}, cuda_device_count()={count!r}")
    if not built:
        if count != 0:
            raise Mismatch(f"cuda_device_count()={count} in a build without CUDA")
        return count, "not built"
    return count, "built, no device" if count == 0 else f"{count} device(s), kernels ok"


def check_C(mod, rng):
    hidden = 8
    x = [rng.uniform(-2, 2) for _ in range(3 * hidden)]
    residual = [rng.uniform(-2, 2) for _ in range(3 * hidden)]
    weight = [rng.uniform(0.5, 1.5) for _ in range(hidden)]

    expect_close("rms_norm", mod.rms_norm(x, weight, 1e-5), ref_rms_norm(x, weight, 1e-5))
    added = [a + b for a, b in zip(x, residual)]
    out, new_residual = mod.fused_add_rms_norm(x, residual, weight, 1e-5)
    expect_close("fused_add_rms_norm residual", new_residual, added)
    expect_close("fused_add_rms_norm out", out, ref_rms_norm(added, weight, 1e-5))
    expect_raises(
        "rms_norm with len(x) % len(weight) != 0", ValueError, mod.rms_norm, x[:-1], weight
    )
    expect_raises("rms_norm with a non-numeric x", TypeError, mod.rms_norm, ["a"] * hidden, weight)

    expect_close("silu_and_mul", mod.silu_and_mul(x), ref_act_and_mul(x, silu))
    expect_close("gelu_and_mul", mod.gelu_and_mul(x), ref_act_and_mul(x, gelu))
    expect_raises("silu_and_mul with an odd length", ValueError, mod.silu_and_mul, x[:-1])

    positions = [0, 3, 17]
    head_size = 4
    query = [rng.uniform(-1, 1) for _ in range(len(positions) * 2 * head_size)]
    expect_close(
        "rotary_embedding",
        mod.rotary_embedding(positions, query, head_size, 10000.0),
        ref_rotary(positions, query, head_size, 10000.0),
    )

    entry = 4
    key = [rng.uniform(-1, 1) for _ in range(3 * entry)]
    slots = [5, -1, 0]
    cache = [0.0] * (6 * entry)
    want = list(cache)
    for t, slot in enumerate(slots):
        if slot >= 0:
            want[slot * entry : (slot + 1) * entry] = key[t * entry : (t + 1) * entry]
    expect_equal("reshape_and_cache return value", mod.reshape_and_cache(key, slots, cache), None)
    expect_close("reshape_and_cache cache", cache, want)
    expect_balanced_refcounts("reshape_and_cache", mod.reshape_and_cache, [1.0], [0], [0.0])
    expect_raises(
        "reshape_and_cache with slot out of range",
        IndexError,
        mod.reshape_and_cache,
        key,
        [6, 0, 0],
        [0.0] * (6 * entry),
    )

    q, scale = mod.quantize_int8(x)
    want_q, want_scale = ref_quantize_int8(x)
    expect_equal("quantize_int8 q", q, want_q)
    expect_close("quantize_int8 scale", scale, want_scale)
    expect_close("dequantize_int8", mod.dequantize_int8(q, scale), [v * scale for v in want_q])

    logits = [rng.uniform(-4, 4) for _ in range(16)]
    expect_close("softmax", mod.softmax(logits, 0.7), ref_softmax(logits, 0.7))
    expect_equal("greedy_sample", mod.greedy_sample(logits), logits.index(max(logits)))

    count, status = cuda_status(mod)
    if count > 0:
        expect_close(
            "silu_and_mul_cuda",
            mod.silu_and_mul_cuda(x),
            mod.silu_and_mul(x),
            rel=1e-5,
            abs_tol=1e-6,
        )
    else:
        expect_raises("silu_and_mul_cuda without a device", RuntimeError, mod.silu_and_mul_cuda, x)
    return status


def check_moe_C(mod, rng):
    num_experts, topk = 8, 2
    logits = [[rng.uniform(-3, 3) for _ in range(num_experts)] for _ in range(5)]
    for renormalize in (False, True):
        ids, weights = mod.topk_softmax(logits, topk, renormalize)
        want_ids, want_weights = ref_topk_softmax(logits, topk, renormalize)
        expect_equal(f"topk_softmax ids (renormalize={renormalize})", ids, want_ids)
        expect_close(f"topk_softmax weights (renormalize={renormalize})", weights, want_weights)
    expect_raises(
        "topk_softmax with topk > num_experts",
        ValueError,
        mod.topk_softmax,
        logits,
        num_experts + 1,
    )

    ids, _ = mod.topk_softmax(logits, topk)
    expect_equal(
        "moe_align_block_size",
        mod.moe_align_block_size(ids, num_experts, 4),
        ref_moe_align(ids, num_experts, 4),
    )

    count, status = cuda_status(mod)
    if count > 0:
        for renormalize in (False, True):
            ids, weights = mod.topk_softmax_cuda(logits, topk, renormalize)
            want_ids, want_weights = mod.topk_softmax(logits, topk, renormalize)
            expect_equal(f"topk_softmax_cuda ids (renormalize={renormalize})", ids, want_ids)
            expect_close(
                f"topk_softmax_cuda weights (renormalize={renormalize})",
                weights,
                want_weights,
                rel=1e-5,
                abs_tol=1e-6,
            )
    else:
        expect_raises(
            "topk_softmax_cuda without a device", RuntimeError, mod.topk_softmax_cuda, logits, topk
        )
    return status


def check_extra_C(mod, rng):
    expect_equal("_extra_C.answer()", mod.answer(), 42)
    return "none, a script builds it"


CHECKS = {"_C": check_C, "_moe_C": check_moe_C, "_extra_C": check_extra_C}


def check_ops_wrappers():
    from minivllm import ops

    missing = [name for name in ops.__all__ if not callable(getattr(ops, name, None))]
    if missing:
        raise Mismatch(f"minivllm.ops lacks {missing}")
    expect_close(
        "ops.silu_and_mul",
        ops.silu_and_mul([1.0, -2.0, 3.0, 0.5]),
        ref_act_and_mul([1.0, -2.0, 3.0, 0.5], silu),
    )


def main() -> int:
    failed = []
    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(f"minivllm.{name}")
        except ImportError as e:
            print(f"FAIL {name}: cannot import minivllm.{name}: {e}")
            failed.append(name)
            continue
        try:
            status = CHECKS[name](mod, random.Random(0))
        except Mismatch as e:
            print(f"FAIL {name}: mismatch in {e}")
            failed.append(name)
            continue
        except Exception as e:  # report it and go on with the other extensions
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            failed.append(name)
            continue
        print(f"ok {name} (cuda: {status})")

    if not failed:
        try:
            check_ops_wrappers()
        except (ImportError, Mismatch) as e:
            print(f"FAIL minivllm.ops: {e}")
            failed.append("minivllm.ops")

    if failed:
        print(f"minivllm.smoke: FAILED ({', '.join(failed)})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
