"""Reference math for minivllm's ops, in plain Python: what the smoke check and the tests
compare the extensions with (as vLLM's tests compare a kernel with a native implementation)."""

from __future__ import annotations

import math


def ref_rms_norm(x, weight, eps):
    h = len(weight)
    out = []
    for row in range(0, len(x), h):
        xs = x[row : row + h]
        inv_rms = 1.0 / math.sqrt(sum(v * v for v in xs) / h + eps)
        out += [v * inv_rms * w for v, w in zip(xs, weight)]
    return out


def ref_act_and_mul(x, act):
    d = len(x) // 2
    return [act(x[i]) * x[d + i] for i in range(d)]


def silu(v):
    return v / (1.0 + math.exp(-v))


def gelu(v):
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def ref_rotary(positions, query, head_size, base):
    out = list(query)
    half = head_size // 2
    stride = len(query) // len(positions)
    for t, pos in enumerate(positions):
        for h in range(t * stride, (t + 1) * stride, head_size):
            for i in range(half):
                theta = pos * base ** (-2.0 * i / head_size)
                x1, x2 = query[h + i], query[h + half + i]
                out[h + i] = x1 * math.cos(theta) - x2 * math.sin(theta)
                out[h + half + i] = x2 * math.cos(theta) + x1 * math.sin(theta)
    return out


def ref_quantize_int8(x):
    amax = max(abs(v) for v in x)
    scale = amax / 127.0 if amax > 0 else 1.0
    return [max(-128, min(127, round(v / scale))) for v in x], scale


def ref_softmax(logits, temperature=1.0):
    scaled = [v / temperature for v in logits]
    m = max(scaled)
    exps = [math.exp(v - m) for v in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def ref_topk_softmax(rows, k, renormalize):
    ids, weights = [], []
    for row in rows:
        probs = ref_softmax(row)
        top = sorted(range(len(row)), key=lambda e: (-probs[e], e))[:k]
        ws = [probs[e] for e in top]
        if renormalize:
            ws = [w / sum(ws) for w in ws]
        ids.append(top)
        weights.append(ws)
    return ids, weights


def ref_moe_align(topk_ids, num_experts, block_size):
    flat = [e for row in topk_ids for e in row]
    sorted_ids, expert_ids = [], []
    for e in range(num_experts):
        group = [i for i, x in enumerate(flat) if x == e]
        padded = -(-len(group) // block_size) * block_size
        sorted_ids += group + [len(flat)] * (padded - len(group))
        expert_ids += [e] * (padded // block_size)
    return sorted_ids, expert_ids, len(sorted_ids)


# Checks, one function per extension; each returns its "cuda: ..." status.
