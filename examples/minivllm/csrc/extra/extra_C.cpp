// minivllm._extra_C: built by tools/build_extra_C.py through a CMake custom command (not a
// compile unit of CMake's), as vLLM builds _deep_gemm_C.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "extra.h"

namespace {

PyObject* answer(PyObject*, PyObject*) { return PyLong_FromLong(minivllm_extra::answer()); }

PyMethodDef methods[] = {
    {"answer", answer, METH_NOARGS, "The answer the header gives."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_extra_C", nullptr, -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__extra_C() { return PyModule_Create(&module); }
