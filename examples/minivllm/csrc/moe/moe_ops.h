#pragma once

// Python-facing ops of minivllm._moe_C (the counterpart of vLLM's csrc/moe/moe_ops.h).

#include "py_utils.h"

namespace minivllm::moe {

// topk_softmax.cpp
PyObject* topk_softmax(PyObject* self, PyObject* args);
PyObject* topk_softmax_cuda(PyObject* self, PyObject* args);

// moe_align.cpp
PyObject* moe_align_block_size(PyObject* self, PyObject* args);

}  // namespace minivllm::moe
