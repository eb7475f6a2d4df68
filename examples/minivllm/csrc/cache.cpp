// Paged KV-cache write (vLLM's reshape_and_cache in csrc/cache_kernels.cu): token
// t's entry goes to slot slot_mapping[t] of the cache; slot -1 marks padding.

#include "ops.h"

namespace minivllm {

// reshape_and_cache(key, slot_mapping, cache) -> None
// `key` is flat (num_tokens * entry_size); `cache` is a list of
// (num_slots * entry_size) floats, updated in place.
PyObject* reshape_and_cache(PyObject*, PyObject* args) {
  PyObject *key_obj, *slots_obj, *cache;
  if (!PyArg_ParseTuple(args, "OOO:reshape_and_cache", &key_obj, &slots_obj, &cache)) {
    return nullptr;
  }
  if (!PyList_Check(cache)) {
    PyErr_SetString(PyExc_TypeError,
                    "reshape_and_cache(): cache must be a list (it is updated in place)");
    return nullptr;
  }
  std::vector<double> key;
  std::vector<long long> slots;
  if (!from_sequence(key_obj, "reshape_and_cache(): key", key) ||
      !from_sequence(slots_obj, "reshape_and_cache(): slot_mapping", slots)) {
    return nullptr;
  }
  if (slots.empty() || key.size() % slots.size() != 0) {
    PyErr_Format(PyExc_ValueError,
                 "reshape_and_cache(): len(key)=%zu is not a multiple of len(slot_mapping)=%zu",
                 key.size(), slots.size());
    return nullptr;
  }
  const size_t entry = key.size() / slots.size();
  const Py_ssize_t cache_size = PyList_Size(cache);
  const long long num_slots = entry > 0 ? cache_size / static_cast<Py_ssize_t>(entry) : 0;
  if (entry == 0 || cache_size % static_cast<Py_ssize_t>(entry) != 0) {
    PyErr_Format(PyExc_ValueError,
                 "reshape_and_cache(): len(cache)=%zd is not a multiple of the entry size %zu",
                 cache_size, entry);
    return nullptr;
  }
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] == -1) continue;
    if (slots[t] < 0 || slots[t] >= num_slots) {
      PyErr_Format(PyExc_IndexError,
                   "reshape_and_cache(): slot_mapping[%zu]=%lld is outside [0, %lld)", t,
                   slots[t], num_slots);
      return nullptr;
    }
  }
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] == -1) continue;
    for (size_t j = 0; j < entry; ++j) {
      PyObject* value = PyFloat_FromDouble(key[t * entry + j]);
      if (value == nullptr) return nullptr;
      PyList_SetItem(cache, static_cast<Py_ssize_t>(slots[t] * entry + j), value);
    }
  }
  return none();
}

}  // namespace minivllm
