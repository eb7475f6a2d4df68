#pragma once

// Python-facing ops of minivllm._C (the counterpart of vLLM's csrc/ops.h).
// Every op is a METH_VARARGS function; torch_bindings.cpp holds the method table.

#include "py_utils.h"

namespace minivllm {

// layernorm.cpp
PyObject* rms_norm(PyObject* self, PyObject* args);
PyObject* fused_add_rms_norm(PyObject* self, PyObject* args);

// activation.cpp
PyObject* silu_and_mul(PyObject* self, PyObject* args);
PyObject* gelu_and_mul(PyObject* self, PyObject* args);

// pos_encoding.cpp
PyObject* rotary_embedding(PyObject* self, PyObject* args);

// cache.cpp
PyObject* reshape_and_cache(PyObject* self, PyObject* args);

// quantization.cpp
PyObject* quantize_int8(PyObject* self, PyObject* args);
PyObject* dequantize_int8(PyObject* self, PyObject* args);

// sampler.cpp
PyObject* softmax(PyObject* self, PyObject* args);
PyObject* greedy_sample(PyObject* self, PyObject* args);

// cuda_ops.cpp
PyObject* silu_and_mul_cuda(PyObject* self, PyObject* args);

}  // namespace minivllm
