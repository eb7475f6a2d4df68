// Rotary position embedding, NeoX style (vLLM's csrc/pos_encoding_kernels.cu):
// each head vector is split into halves (x1, x2) that are rotated by
// theta = position * base^(-2i / head_size).

#include <cmath>

#include "ops.h"

namespace minivllm {

// rotary_embedding(positions, query, head_size, base=10000.0) -> list[float]
// `query` is flat (num_tokens * num_heads * head_size), num_tokens = len(positions).
PyObject* rotary_embedding(PyObject*, PyObject* args) {
  PyObject *positions_obj, *query_obj;
  Py_ssize_t head_size;
  double base = 10000.0;
  if (!PyArg_ParseTuple(args, "OOn|d:rotary_embedding", &positions_obj, &query_obj,
                        &head_size, &base)) {
    return nullptr;
  }
  std::vector<long long> positions;
  std::vector<double> query;
  if (!from_sequence(positions_obj, "rotary_embedding(): positions", positions) ||
      !from_sequence(query_obj, "rotary_embedding(): query", query)) {
    return nullptr;
  }
  if (head_size <= 0 || head_size % 2 != 0) {
    PyErr_Format(PyExc_ValueError,
                 "rotary_embedding(): head_size must be positive and even, got %zd",
                 head_size);
    return nullptr;
  }
  const size_t head = static_cast<size_t>(head_size);
  const size_t num_tokens = positions.size();
  if (num_tokens == 0 || query.size() % (num_tokens * head) != 0) {
    PyErr_Format(PyExc_ValueError,
                 "rotary_embedding(): len(query)=%zu is not a multiple of "
                 "len(positions) * head_size = %zu",
                 query.size(), num_tokens * head);
    return nullptr;
  }
  const size_t token_stride = query.size() / num_tokens;
  const size_t half = head / 2;
  const double dim = static_cast<double>(head);

  for (size_t t = 0; t < num_tokens; ++t) {
    for (size_t i = 0; i < half; ++i) {
      const double inv_freq = std::pow(base, -2.0 * static_cast<double>(i) / dim);
      const double theta = static_cast<double>(positions[t]) * inv_freq;
      const double c = std::cos(theta), s = std::sin(theta);
      for (size_t h = t * token_stride; h < (t + 1) * token_stride; h += head) {
        const double x1 = query[h + i], x2 = query[h + half + i];
        query[h + i] = x1 * c - x2 * s;
        query[h + half + i] = x2 * c + x1 * s;
      }
    }
  }
  return to_list(query);
}

}  // namespace minivllm
