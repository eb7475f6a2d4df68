// Sampling helpers (vLLM's csrc/sampler.cu and the softmax in its samplers).

#include <algorithm>
#include <cmath>

#include "ops.h"

namespace minivllm {

// softmax(logits, temperature=1.0) -> list[float]
PyObject* softmax(PyObject*, PyObject* args) {
  PyObject* logits_obj;
  double temperature = 1.0;
  if (!PyArg_ParseTuple(args, "O|d:softmax", &logits_obj, &temperature)) return nullptr;
  if (!(temperature > 0.0)) {
    PyErr_Format(PyExc_ValueError, "softmax(): temperature must be > 0, got %R",
                 PyTuple_GetItem(args, 1));
    return nullptr;
  }
  std::vector<double> logits;
  if (!from_sequence(logits_obj, "softmax(): logits", logits)) return nullptr;
  if (logits.empty()) {
    PyErr_SetString(PyExc_ValueError, "softmax(): logits is empty");
    return nullptr;
  }
  for (double& v : logits) v /= temperature;
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (double& v : logits) sum += (v = std::exp(v - max_logit));
  for (double& v : logits) v /= sum;
  return to_list(logits);
}

// greedy_sample(logits) -> int: index of the first maximum
PyObject* greedy_sample(PyObject*, PyObject* args) {
  PyObject* logits_obj;
  if (!PyArg_ParseTuple(args, "O:greedy_sample", &logits_obj)) return nullptr;
  std::vector<double> logits;
  if (!from_sequence(logits_obj, "greedy_sample(): logits", logits)) return nullptr;
  if (logits.empty()) {
    PyErr_SetString(PyExc_ValueError, "greedy_sample(): logits is empty");
    return nullptr;
  }
  const auto best = std::max_element(logits.begin(), logits.end());
  return PyLong_FromSsize_t(best - logits.begin());
}

}  // namespace minivllm
