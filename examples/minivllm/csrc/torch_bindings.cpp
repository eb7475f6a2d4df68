// Module definition of minivllm._C. vLLM registers its ops with torch here; this
// miniature exposes them as plain CPython functions.

#include "cuda_info.h"
#include "ops.h"

namespace {

PyMethodDef methods[] = {
    {"rms_norm", minivllm::rms_norm, METH_VARARGS,
     "rms_norm(x, weight, epsilon=1e-6) -> list[float]"},
    {"fused_add_rms_norm", minivllm::fused_add_rms_norm, METH_VARARGS,
     "fused_add_rms_norm(x, residual, weight, epsilon=1e-6) -> (out, residual)"},
    {"silu_and_mul", minivllm::silu_and_mul, METH_VARARGS, "silu_and_mul(x) -> list[float]"},
    {"gelu_and_mul", minivllm::gelu_and_mul, METH_VARARGS, "gelu_and_mul(x) -> list[float]"},
    {"rotary_embedding", minivllm::rotary_embedding, METH_VARARGS,
     "rotary_embedding(positions, query, head_size, base=10000.0) -> list[float]"},
    {"reshape_and_cache", minivllm::reshape_and_cache, METH_VARARGS,
     "reshape_and_cache(key, slot_mapping, cache) -> None (cache is updated in place)"},
    {"quantize_int8", minivllm::quantize_int8, METH_VARARGS,
     "quantize_int8(x) -> (list[int], scale)"},
    {"dequantize_int8", minivllm::dequantize_int8, METH_VARARGS,
     "dequantize_int8(q, scale) -> list[float]"},
    {"softmax", minivllm::softmax, METH_VARARGS,
     "softmax(logits, temperature=1.0) -> list[float]"},
    {"greedy_sample", minivllm::greedy_sample, METH_VARARGS, "greedy_sample(logits) -> int"},
    MINIVLLM_CUDA_INFO_METHODS,
    {"silu_and_mul_cuda", minivllm::silu_and_mul_cuda, METH_VARARGS,
     "silu_and_mul_cuda(x) -> list[float] (raises RuntimeError without CUDA or a GPU)"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_C",
    "minivllm's C++/CUDA ops (a miniature of vllm._C).",
    -1,
    methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&module); }
