// RMSNorm over rows of a flat (num_tokens * hidden_size) input, as in vLLM's
// csrc/layernorm_kernels.cu.

#include <cmath>

#include "ops.h"

namespace minivllm {
namespace {

// Normalizes each row of `x` in place: x * weight / sqrt(mean(x^2) + eps).
void rms_norm_rows(std::vector<double>& x, const std::vector<double>& weight,
                   double eps) {
  const size_t hidden = weight.size();
  for (size_t row = 0; row < x.size(); row += hidden) {
    double sum_sq = 0.0;
    for (size_t i = 0; i < hidden; ++i) sum_sq += x[row + i] * x[row + i];
    const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(hidden) + eps);
    for (size_t i = 0; i < hidden; ++i) x[row + i] = x[row + i] * inv_rms * weight[i];
  }
}

bool check_shapes(const char* op, size_t x_size, size_t weight_size) {
  if (weight_size == 0 || x_size % weight_size != 0) {
    PyErr_Format(PyExc_ValueError,
                 "%s: len(x)=%zu is not a multiple of len(weight)=%zu", op, x_size,
                 weight_size);
    return false;
  }
  return true;
}

}  // namespace

// rms_norm(x, weight, epsilon=1e-6) -> list[float]
PyObject* rms_norm(PyObject*, PyObject* args) {
  PyObject *x_obj, *weight_obj;
  double eps = 1e-6;
  if (!PyArg_ParseTuple(args, "OO|d:rms_norm", &x_obj, &weight_obj, &eps)) return nullptr;
  std::vector<double> x, weight;
  if (!from_sequence(x_obj, "rms_norm(): x", x) ||
      !from_sequence(weight_obj, "rms_norm(): weight", weight) ||
      !check_shapes("rms_norm()", x.size(), weight.size())) {
    return nullptr;
  }
  rms_norm_rows(x, weight, eps);
  return to_list(x);
}

// fused_add_rms_norm(x, residual, weight, epsilon=1e-6)
//   -> (rms_norm(x + residual), x + residual)
PyObject* fused_add_rms_norm(PyObject*, PyObject* args) {
  PyObject *x_obj, *residual_obj, *weight_obj;
  double eps = 1e-6;
  if (!PyArg_ParseTuple(args, "OOO|d:fused_add_rms_norm", &x_obj, &residual_obj,
                        &weight_obj, &eps)) {
    return nullptr;
  }
  std::vector<double> x, residual, weight;
  if (!from_sequence(x_obj, "fused_add_rms_norm(): x", x) ||
      !from_sequence(residual_obj, "fused_add_rms_norm(): residual", residual) ||
      !from_sequence(weight_obj, "fused_add_rms_norm(): weight", weight) ||
      !check_shapes("fused_add_rms_norm()", x.size(), weight.size())) {
    return nullptr;
  }
  if (residual.size() != x.size()) {
    PyErr_Format(PyExc_ValueError, "fused_add_rms_norm(): len(residual)=%zu != len(x)=%zu",
                 residual.size(), x.size());
    return nullptr;
  }
  for (size_t i = 0; i < x.size(); ++i) residual[i] += x[i];
  std::vector<double> out = residual;
  rms_norm_rows(out, weight, eps);

  PyObject* out_list = to_list(out);
  PyObject* residual_list = out_list ? to_list(residual) : nullptr;
  if (residual_list == nullptr) {
    Py_XDECREF(out_list);
    return nullptr;
  }
  PyObject* result = PyTuple_Pack(2, out_list, residual_list);
  Py_DECREF(out_list);
  Py_DECREF(residual_list);
  return result;
}

}  // namespace minivllm
