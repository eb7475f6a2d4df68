#pragma once

// Host entry points of the CUDA kernels, in plain C++ so that .cpp files built by
// the host compiler can call into .cu files. Each returns "" on success and an
// error message otherwise. Only defined when MINIVLLM_WITH_CUDA is set.

#include <string>
#include <vector>

namespace minivllm::cuda {

// activation_kernels.cu: out[i] = silu(x[i]) * x[d + i], d = x.size() / 2.
std::string silu_and_mul(const std::vector<float>& x, std::vector<float>& out);

// moe/topk_softmax_kernels.cu: per token, softmax over the experts, then the
// `topk` largest probabilities (ties: lower expert id first).
std::string topk_softmax(const std::vector<float>& logits, int num_tokens,
                         int num_experts, int topk, bool renormalize,
                         std::vector<int>& topk_ids, std::vector<float>& topk_weights);

}  // namespace minivllm::cuda
