// The one header of _extra_C: CMake globs it into the custom command's inputs, as vLLM
// globs DeepGEMM's headers for _deep_gemm_C.
#pragma once

namespace minivllm_extra {

inline long answer() { return 42; }

}  // namespace minivllm_extra
