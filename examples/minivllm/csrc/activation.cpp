// Gated activations (vLLM's csrc/activation_kernels.cu): the input row is
// [gate | up] and the result is act(gate) * up.

#include <cmath>

#include "ops.h"

namespace minivllm {
namespace {

template <typename Act>
PyObject* act_and_mul(PyObject* args, const char* format, const char* what, Act act) {
  PyObject* x_obj;
  if (!PyArg_ParseTuple(args, format, &x_obj)) return nullptr;
  std::vector<double> x;
  if (!from_sequence(x_obj, what, x)) return nullptr;
  if (x.size() % 2 != 0) {
    PyErr_Format(PyExc_ValueError, "%s must have an even length, got %zu", what, x.size());
    return nullptr;
  }
  const size_t d = x.size() / 2;
  std::vector<double> out(d);
  for (size_t i = 0; i < d; ++i) out[i] = act(x[i]) * x[d + i];
  return to_list(out);
}

}  // namespace

// silu_and_mul(x) -> list[float]; silu(v) = v / (1 + exp(-v))
PyObject* silu_and_mul(PyObject*, PyObject* args) {
  return act_and_mul(args, "O:silu_and_mul", "silu_and_mul(): x",
                     [](double v) { return v / (1.0 + std::exp(-v)); });
}

// gelu_and_mul(x) -> list[float]; exact (erf) GELU
PyObject* gelu_and_mul(PyObject*, PyObject* args) {
  return act_and_mul(args, "O:gelu_and_mul", "gelu_and_mul(): x", [](double v) {
    return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  });
}

}  // namespace minivllm
