// Host side of minivllm._C's CUDA ops. Without CUDA (no compiler at configure
// time) the ops exist but raise, so the Python API is the same in both builds.

#include "ops.h"

#ifdef MINIVLLM_WITH_CUDA
#include <string>

#include "cuda_kernels.h"
#include "cuda_utils.h"
#endif

namespace minivllm {

// silu_and_mul_cuda(x) -> list[float]; silu_and_mul() computed on the GPU in fp32
PyObject* silu_and_mul_cuda(PyObject*, PyObject* args) {
  PyObject* x_obj;
  if (!PyArg_ParseTuple(args, "O:silu_and_mul_cuda", &x_obj)) return nullptr;
#ifdef MINIVLLM_WITH_CUDA
  std::vector<float> x;
  if (!from_sequence(x_obj, "silu_and_mul_cuda(): x", x)) return nullptr;
  if (x.empty() || x.size() % 2 != 0) {
    PyErr_Format(PyExc_ValueError,
                 "silu_and_mul_cuda(): x must have a positive even length, got %zu",
                 x.size());
    return nullptr;
  }
  std::string why;
  if (cuda::device_count(&why) == 0) {
    PyErr_Format(PyExc_RuntimeError, "silu_and_mul_cuda(): no CUDA device available (%s)",
                 why.c_str());
    return nullptr;
  }
  std::vector<float> out;
  std::string error;
  Py_BEGIN_ALLOW_THREADS
  error = cuda::silu_and_mul(x, out);
  Py_END_ALLOW_THREADS
  if (!error.empty()) {
    PyErr_Format(PyExc_RuntimeError, "silu_and_mul_cuda(): %s", error.c_str());
    return nullptr;
  }
  return to_list(out);
#else
  PyErr_SetString(PyExc_RuntimeError,
                  "silu_and_mul_cuda(): minivllm._C was built without CUDA "
                  "(no CUDA compiler was found at configure time)");
  return nullptr;
#endif
}

}  // namespace minivllm
