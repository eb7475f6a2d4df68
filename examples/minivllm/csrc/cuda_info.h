#pragma once

// built_with_cuda() and cuda_device_count(), shared by both extension modules.

#include "py_utils.h"

#ifdef MINIVLLM_WITH_CUDA
#include "cuda_utils.h"
#endif

namespace minivllm {

// built_with_cuda() -> bool
inline PyObject* built_with_cuda(PyObject*, PyObject*) {
#ifdef MINIVLLM_WITH_CUDA
  return PyBool_FromLong(1);  // not Py_RETURN_TRUE, see py_utils.h
#else
  return PyBool_FromLong(0);
#endif
}

// cuda_device_count() -> int; 0 without a CUDA build, driver or device
inline PyObject* cuda_device_count(PyObject*, PyObject*) {
#ifdef MINIVLLM_WITH_CUDA
  return PyLong_FromLong(cuda::device_count());
#else
  return PyLong_FromLong(0);
#endif
}

}  // namespace minivllm

// Their entries in a module's PyMethodDef table.
#define MINIVLLM_CUDA_INFO_METHODS                                                    \
  {"built_with_cuda", minivllm::built_with_cuda, METH_NOARGS, "built_with_cuda() -> bool"}, \
  {                                                                                   \
    "cuda_device_count", minivllm::cuda_device_count, METH_NOARGS,                    \
        "cuda_device_count() -> int"                                                  \
  }
