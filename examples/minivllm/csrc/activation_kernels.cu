// CUDA kernel behind minivllm._C.silu_and_mul_cuda (vLLM's act_and_mul_kernel).

#include "cuda_kernels.h"
#include "cuda_utils.h"

namespace minivllm::cuda {
namespace {

__global__ void silu_and_mul_kernel(float* __restrict__ out, const float* __restrict__ x,
                                    int d) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += blockDim.x * gridDim.x) {
    const float gate = x[i];
    out[i] = gate / (1.0f + expf(-gate)) * x[d + i];
  }
}

}  // namespace

std::string silu_and_mul(const std::vector<float>& x, std::vector<float>& out) {
  const int d = static_cast<int>(x.size() / 2);
  out.assign(d, 0.0f);
  DeviceBuffer<float> x_dev, out_dev;
  MINIVLLM_CUDA_CHECK(x_dev.allocate(x.size()));
  MINIVLLM_CUDA_CHECK(out_dev.allocate(out.size()));
  MINIVLLM_CUDA_CHECK(cudaMemcpy(x_dev.get(), x.data(), x_dev.bytes(), cudaMemcpyHostToDevice));

  const int threads = 256;
  const int blocks = (d + threads - 1) / threads;
  silu_and_mul_kernel<<<blocks, threads>>>(out_dev.get(), x_dev.get(), d);
  MINIVLLM_CUDA_CHECK(cudaGetLastError());

  MINIVLLM_CUDA_CHECK(
      cudaMemcpy(out.data(), out_dev.get(), out_dev.bytes(), cudaMemcpyDeviceToHost));
  return {};
}

}  // namespace minivllm::cuda
