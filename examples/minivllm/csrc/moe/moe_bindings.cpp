// Module definition of minivllm._moe_C (vLLM's csrc/moe/torch_bindings.cpp).

#include "cuda_info.h"
#include "moe/moe_ops.h"

namespace {

PyMethodDef methods[] = {
    {"topk_softmax", minivllm::moe::topk_softmax, METH_VARARGS,
     "topk_softmax(gating_logits, topk, renormalize=False) -> (topk_ids, topk_weights)"},
    {"topk_softmax_cuda", minivllm::moe::topk_softmax_cuda, METH_VARARGS,
     "topk_softmax_cuda(gating_logits, topk, renormalize=False) -> (topk_ids, topk_weights) "
     "(raises RuntimeError without CUDA or a GPU)"},
    {"moe_align_block_size", minivllm::moe::moe_align_block_size, METH_VARARGS,
     "moe_align_block_size(topk_ids, num_experts, block_size) -> "
     "(sorted_token_ids, expert_ids, num_tokens_post_pad)"},
    MINIVLLM_CUDA_INFO_METHODS,
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_moe_C",
    "minivllm's MoE ops (a miniature of vllm._moe_C).",
    -1,
    methods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__moe_C(void) { return PyModule_Create(&module); }
