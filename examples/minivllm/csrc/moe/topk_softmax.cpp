// MoE routing (vLLM's csrc/moe/topk_softmax_kernels.cu): per token, a softmax
// over the expert logits, then the top-k experts and their probabilities.

#include <algorithm>
#include <cmath>
#include <string>

#include "moe/moe_ops.h"

#ifdef MINIVLLM_WITH_CUDA
#include "cuda_kernels.h"
#include "cuda_utils.h"
#endif

namespace minivllm::moe {
namespace {

struct Args {
  std::vector<double> logits;  // num_tokens x num_experts, row-major
  Py_ssize_t num_tokens = 0;
  Py_ssize_t num_experts = 0;
  int topk = 0;
  bool renormalize = false;
};

bool parse_args(PyObject* args, const char* format, const char* what, Args& out) {
  PyObject* logits_obj;
  int renormalize = 0;
  if (!PyArg_ParseTuple(args, format, &logits_obj, &out.topk, &renormalize)) return false;
  out.renormalize = renormalize != 0;
  if (!from_rows(logits_obj, what, out.logits, out.num_tokens, out.num_experts)) return false;
  if (out.topk < 1 || out.topk > out.num_experts) {
    PyErr_Format(PyExc_ValueError, "%s: topk=%d must be in [1, num_experts=%zd]", what,
                 out.topk, out.num_experts);
    return false;
  }
  return true;
}

PyObject* make_result(const std::vector<long long>& ids, const std::vector<double>& weights,
                      size_t num_tokens, size_t topk) {
  PyObject* ids_list = to_nested_list(ids, num_tokens, topk);
  if (ids_list == nullptr) return nullptr;
  PyObject* weights_list = to_nested_list(weights, num_tokens, topk);
  if (weights_list == nullptr) {
    Py_DECREF(ids_list);
    return nullptr;
  }
  return Py_BuildValue("(NN)", ids_list, weights_list);
}

}  // namespace

// topk_softmax(gating_logits, topk, renormalize=False)
//   -> (topk_ids: list[list[int]], topk_weights: list[list[float]])
// gating_logits is a sequence of num_tokens rows of num_experts logits.
PyObject* topk_softmax(PyObject*, PyObject* args) {
  Args a;
  if (!parse_args(args, "Oi|p:topk_softmax", "topk_softmax(): gating_logits", a)) {
    return nullptr;
  }
  const size_t experts = static_cast<size_t>(a.num_experts), k = static_cast<size_t>(a.topk);
  std::vector<long long> ids;
  std::vector<double> weights;
  std::vector<double> probs(experts);
  std::vector<bool> taken(experts);
  for (size_t t = 0; t < static_cast<size_t>(a.num_tokens); ++t) {
    const double* row = &a.logits[t * experts];
    const double max_logit = *std::max_element(row, row + experts);
    double sum = 0.0;
    for (size_t e = 0; e < experts; ++e) sum += (probs[e] = std::exp(row[e] - max_logit));
    for (double& p : probs) p /= sum;

    // k rounds of "largest remaining probability, lowest id on ties".
    std::fill(taken.begin(), taken.end(), false);
    const size_t first = ids.size();
    double selected = 0.0;
    for (size_t j = 0; j < k; ++j) {
      size_t best = experts;
      for (size_t e = 0; e < experts; ++e) {
        if (!taken[e] && (best == experts || probs[e] > probs[best])) best = e;
      }
      taken[best] = true;
      selected += probs[best];
      ids.push_back(static_cast<long long>(best));
      weights.push_back(probs[best]);
    }
    if (a.renormalize) {
      for (size_t j = first; j < weights.size(); ++j) weights[j] /= selected;
    }
  }
  return make_result(ids, weights, static_cast<size_t>(a.num_tokens), k);
}

// topk_softmax_cuda(gating_logits, topk, renormalize=False): topk_softmax() on the GPU in fp32
PyObject* topk_softmax_cuda(PyObject*, PyObject* args) {
  Args a;
  if (!parse_args(args, "Oi|p:topk_softmax_cuda", "topk_softmax_cuda(): gating_logits", a)) {
    return nullptr;
  }
#ifdef MINIVLLM_WITH_CUDA
  std::string why;
  if (cuda::device_count(&why) == 0) {
    PyErr_Format(PyExc_RuntimeError, "topk_softmax_cuda(): no CUDA device available (%s)",
                 why.c_str());
    return nullptr;
  }
  const std::vector<float> logits(a.logits.begin(), a.logits.end());
  std::vector<int> ids;
  std::vector<float> weights;
  std::string error;
  Py_BEGIN_ALLOW_THREADS
  error = cuda::topk_softmax(logits, static_cast<int>(a.num_tokens),
                             static_cast<int>(a.num_experts), a.topk, a.renormalize, ids,
                             weights);
  Py_END_ALLOW_THREADS
  if (!error.empty()) {
    PyErr_Format(PyExc_RuntimeError, "topk_softmax_cuda(): %s", error.c_str());
    return nullptr;
  }
  return make_result(std::vector<long long>(ids.begin(), ids.end()),
                     std::vector<double>(weights.begin(), weights.end()),
                     static_cast<size_t>(a.num_tokens), static_cast<size_t>(a.topk));
#else
  PyErr_SetString(PyExc_RuntimeError,
                  "topk_softmax_cuda(): minivllm._moe_C was built without CUDA "
                  "(no CUDA compiler was found at configure time)");
  return nullptr;
#endif
}

}  // namespace minivllm::moe
