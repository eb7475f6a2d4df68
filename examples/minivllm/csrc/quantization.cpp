// Symmetric per-tensor int8 quantization (vLLM's static/dynamic scaled int8
// quant in csrc/quantization/): scale = max|x| / 127, q = round(x / scale).

#include <algorithm>
#include <cmath>

#include "ops.h"

namespace minivllm {

// quantize_int8(x) -> (list[int], scale: float); scale is 1.0 for an all-zero x.
// Rounding is half-to-even, like Python's round().
PyObject* quantize_int8(PyObject*, PyObject* args) {
  PyObject* x_obj;
  if (!PyArg_ParseTuple(args, "O:quantize_int8", &x_obj)) return nullptr;
  std::vector<double> x;
  if (!from_sequence(x_obj, "quantize_int8(): x", x)) return nullptr;

  double amax = 0.0;
  for (double v : x) amax = std::max(amax, std::fabs(v));
  const double scale = amax > 0.0 ? amax / 127.0 : 1.0;

  std::vector<long long> q(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    q[i] = static_cast<long long>(std::clamp(std::nearbyint(x[i] / scale), -128.0, 127.0));
  }
  PyObject* q_list = to_list(q);
  if (q_list == nullptr) return nullptr;
  PyObject* result = Py_BuildValue("(Nd)", q_list, scale);  // N steals q_list
  return result;
}

// dequantize_int8(q, scale) -> list[float]
PyObject* dequantize_int8(PyObject*, PyObject* args) {
  PyObject* q_obj;
  double scale;
  if (!PyArg_ParseTuple(args, "Od:dequantize_int8", &q_obj, &scale)) return nullptr;
  std::vector<long long> q;
  if (!from_sequence(q_obj, "dequantize_int8(): q", q)) return nullptr;
  std::vector<double> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = static_cast<double>(q[i]) * scale;
  return to_list(out);
}

}  // namespace minivllm
