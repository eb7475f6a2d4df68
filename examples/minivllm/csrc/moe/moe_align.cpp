// moe_align_block_size (vLLM's csrc/moe/moe_align_sum_kernels.cu): groups the
// (token, k) slots by expert and pads every expert's group to a multiple of
// block_size, so that each block of the fused MoE GEMM serves a single expert.

#include "moe/moe_ops.h"

namespace minivllm::moe {

// moe_align_block_size(topk_ids, num_experts, block_size)
//   -> (sorted_token_ids: list[int], expert_ids: list[int], num_tokens_post_pad: int)
// sorted_token_ids holds indices into the flattened topk_ids, grouped by expert
// in ascending order; padding entries hold len(flattened topk_ids).
// expert_ids[b] is the expert of block b.
PyObject* moe_align_block_size(PyObject*, PyObject* args) {
  PyObject* ids_obj;
  Py_ssize_t num_experts, block_size;
  if (!PyArg_ParseTuple(args, "Onn:moe_align_block_size", &ids_obj, &num_experts,
                        &block_size)) {
    return nullptr;
  }
  if (num_experts <= 0 || block_size <= 0) {
    PyErr_SetString(PyExc_ValueError,
                    "moe_align_block_size(): num_experts and block_size must be positive");
    return nullptr;
  }
  std::vector<long long> ids;
  Py_ssize_t num_tokens, topk;
  if (!from_rows(ids_obj, "moe_align_block_size(): topk_ids", ids, num_tokens, topk)) {
    return nullptr;
  }
  const size_t experts = static_cast<size_t>(num_experts), block = static_cast<size_t>(block_size);

  std::vector<size_t> counts(experts, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= num_experts) {
      PyErr_Format(PyExc_ValueError,
                   "moe_align_block_size(): expert id %lld is outside [0, %zd)", ids[i],
                   num_experts);
      return nullptr;
    }
    ++counts[ids[i]];
  }
  std::vector<size_t> offsets(experts + 1, 0);
  for (size_t e = 0; e < experts; ++e) {
    offsets[e + 1] = offsets[e] + (counts[e] + block - 1) / block * block;
  }
  const size_t total = offsets[experts];

  std::vector<long long> sorted(total, static_cast<long long>(ids.size()));
  std::vector<size_t> fill(offsets.begin(), offsets.end() - 1);
  for (size_t i = 0; i < ids.size(); ++i) sorted[fill[ids[i]]++] = static_cast<long long>(i);

  std::vector<long long> expert_ids;
  for (size_t e = 0; e < experts; ++e) {
    for (size_t b = offsets[e]; b < offsets[e + 1]; b += block) {
      expert_ids.push_back(static_cast<long long>(e));
    }
  }

  PyObject* sorted_list = to_list(sorted);
  if (sorted_list == nullptr) return nullptr;
  PyObject* expert_list = to_list(expert_ids);
  if (expert_list == nullptr) {
    Py_DECREF(sorted_list);
    return nullptr;
  }
  return Py_BuildValue("(NNn)", sorted_list, expert_list, static_cast<Py_ssize_t>(total));
}

}  // namespace minivllm::moe
