#pragma once

// CUDA runtime helpers shared by .cpp (host compiler) and .cu (nvcc) files.
// Only included when MINIVLLM_WITH_CUDA is defined.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

#define MINIVLLM_CUDA_CHECK(expr)                                          \
  do {                                                                     \
    cudaError_t minivllm_err_ = (expr);                                    \
    if (minivllm_err_ != cudaSuccess)                                      \
      return std::string(#expr) + ": " + cudaGetErrorString(minivllm_err_); \
  } while (0)

namespace minivllm::cuda {

// Number of visible devices. A machine without a GPU or without a driver
// reports an error here; that is 0 devices, with the reason in *why.
inline int device_count(std::string* why = nullptr) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why != nullptr) *why = cudaGetErrorString(err);
    cudaGetLastError();  // reset the runtime's last-error state
    return 0;
  }
  if (n == 0 && why != nullptr) *why = "no CUDA device";
  return n;
}

// Owns a device allocation of `size` elements of T.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }

  cudaError_t allocate(size_t size) {
    size_ = size;
    return cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes());
  }
  T* get() const { return ptr_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace minivllm::cuda
