// CUDA kernel behind minivllm._moe_C.topk_softmax_cuda. One thread per token:
// far simpler than vLLM's warp-level kernel and plenty for a smoke test.

#include "cuda_kernels.h"
#include "cuda_utils.h"

namespace minivllm::cuda {
namespace {

__global__ void topk_softmax_kernel(const float* __restrict__ logits, int num_tokens,
                                    int num_experts, int topk, bool renormalize,
                                    int* __restrict__ topk_ids, float* __restrict__ topk_weights) {
  const int token = blockIdx.x * blockDim.x + threadIdx.x;
  if (token >= num_tokens) return;
  const float* row = logits + static_cast<size_t>(token) * num_experts;
  int* ids = topk_ids + static_cast<size_t>(token) * topk;
  float* weights = topk_weights + static_cast<size_t>(token) * topk;

  float max_logit = row[0];
  for (int e = 1; e < num_experts; ++e) max_logit = fmaxf(max_logit, row[e]);
  float sum = 0.0f;
  for (int e = 0; e < num_experts; ++e) sum += expf(row[e] - max_logit);

  // Experts are ranked by (probability desc, id asc); pick k times the best one
  // ranked after the previous pick, so no per-thread scratch array is needed.
  float prev_p = INFINITY;
  int prev_e = -1;
  float selected = 0.0f;
  for (int j = 0; j < topk; ++j) {
    float best_p = -1.0f;
    int best_e = -1;
    for (int e = 0; e < num_experts; ++e) {
      const float p = expf(row[e] - max_logit) / sum;
      const bool after_prev = p < prev_p || (p == prev_p && e > prev_e);
      if (after_prev && p > best_p) {
        best_p = p;
        best_e = e;
      }
    }
    ids[j] = best_e;
    weights[j] = best_p;
    selected += best_p;
    prev_p = best_p;
    prev_e = best_e;
  }
  if (renormalize) {
    for (int j = 0; j < topk; ++j) weights[j] /= selected;
  }
}

}  // namespace

std::string topk_softmax(const std::vector<float>& logits, int num_tokens, int num_experts,
                         int topk, bool renormalize, std::vector<int>& topk_ids,
                         std::vector<float>& topk_weights) {
  const size_t out_size = static_cast<size_t>(num_tokens) * topk;
  topk_ids.assign(out_size, -1);
  topk_weights.assign(out_size, 0.0f);
  if (num_tokens == 0) return {};

  DeviceBuffer<float> logits_dev, weights_dev;
  DeviceBuffer<int> ids_dev;
  MINIVLLM_CUDA_CHECK(logits_dev.allocate(logits.size()));
  MINIVLLM_CUDA_CHECK(ids_dev.allocate(out_size));
  MINIVLLM_CUDA_CHECK(weights_dev.allocate(out_size));
  MINIVLLM_CUDA_CHECK(
      cudaMemcpy(logits_dev.get(), logits.data(), logits_dev.bytes(), cudaMemcpyHostToDevice));

  const int threads = 128;
  const int blocks = (num_tokens + threads - 1) / threads;
  topk_softmax_kernel<<<blocks, threads>>>(logits_dev.get(), num_tokens, num_experts, topk,
                                           renormalize, ids_dev.get(), weights_dev.get());
  MINIVLLM_CUDA_CHECK(cudaGetLastError());

  MINIVLLM_CUDA_CHECK(
      cudaMemcpy(topk_ids.data(), ids_dev.get(), ids_dev.bytes(), cudaMemcpyDeviceToHost));
  MINIVLLM_CUDA_CHECK(cudaMemcpy(topk_weights.data(), weights_dev.get(), weights_dev.bytes(),
                                 cudaMemcpyDeviceToHost));
  return {};
}

}  // namespace minivllm::cuda
