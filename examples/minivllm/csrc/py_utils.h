#pragma once

// Conversions between Python sequences and std::vector using only the CPython
// limited API (Py_LIMITED_API is defined by Python_add_library(... USE_SABI ...)).
// Converters return false with a Python exception set on failure.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace minivllm {

// Reads a sequence of numbers into `out`. T is a floating-point or integer type.
template <typename T>
bool from_sequence(PyObject* obj, const char* what, std::vector<T>& out) {
  Py_ssize_t n = PySequence_Check(obj) ? PySequence_Size(obj) : -1;
  if (n < 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be a sequence of numbers", what);
    return false;
  }
  out.resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_GetItem(obj, i);
    if (item == nullptr) return false;
    if constexpr (std::is_floating_point_v<T>) {
      out[i] = static_cast<T>(PyFloat_AsDouble(item));
    } else {
      out[i] = static_cast<T>(PyLong_AsLongLong(item));
    }
    Py_DECREF(item);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "%s[%zd] is not a %s", what, i,
                   std::is_floating_point_v<T> ? "number" : "integer");
      return false;
    }
  }
  return true;
}

// Reads a sequence of equally long rows into a flat row-major vector.
template <typename T>
bool from_rows(PyObject* obj, const char* what, std::vector<T>& flat,
               Py_ssize_t& num_rows, Py_ssize_t& row_len) {
  num_rows = PySequence_Check(obj) ? PySequence_Size(obj) : -1;
  if (num_rows < 0) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be a sequence of rows", what);
    return false;
  }
  flat.clear();
  row_len = 0;
  std::vector<T> row;
  for (Py_ssize_t r = 0; r < num_rows; ++r) {
    PyObject* item = PySequence_GetItem(obj, r);
    if (item == nullptr) return false;
    bool ok = from_sequence(item, what, row);
    Py_DECREF(item);
    if (!ok) return false;
    if (r == 0) {
      row_len = static_cast<Py_ssize_t>(row.size());
    } else if (static_cast<Py_ssize_t>(row.size()) != row_len) {
      PyErr_Format(PyExc_ValueError, "%s: row %zd has %zd entries, row 0 has %zd",
                   what, r, static_cast<Py_ssize_t>(row.size()), row_len);
      return false;
    }
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return true;
}

// A new reference to None. Py_RETURN_NONE/TRUE/FALSE must not be used: with 3.12+
// headers they skip the incref (the singletons are immortal there), which
// corrupts the refcounts when the abi3 module runs on Python <= 3.11.
inline PyObject* none() {
  Py_INCREF(Py_None);
  return Py_None;
}

template <typename T>
PyObject* to_pyobject(T value) {
  if constexpr (std::is_floating_point_v<T>) {
    return PyFloat_FromDouble(static_cast<double>(value));
  } else {
    return PyLong_FromLongLong(static_cast<long long>(value));
  }
}

// list(values[begin:end])
template <typename T>
PyObject* to_list(const std::vector<T>& values, size_t begin = 0, size_t end = SIZE_MAX) {
  if (end > values.size()) end = values.size();
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(end - begin));
  if (list == nullptr) return nullptr;
  for (size_t i = begin; i < end; ++i) {
    PyObject* item = to_pyobject(values[i]);
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SetItem(list, static_cast<Py_ssize_t>(i - begin), item);  // steals item
  }
  return list;
}

// A list of `num_rows` lists from a flat row-major vector.
template <typename T>
PyObject* to_nested_list(const std::vector<T>& flat, size_t num_rows, size_t row_len) {
  PyObject* rows = PyList_New(static_cast<Py_ssize_t>(num_rows));
  if (rows == nullptr) return nullptr;
  for (size_t r = 0; r < num_rows; ++r) {
    PyObject* row = to_list(flat, r * row_len, (r + 1) * row_len);
    if (row == nullptr) {
      Py_DECREF(rows);
      return nullptr;
    }
    PyList_SetItem(rows, static_cast<Py_ssize_t>(r), row);
  }
  return rows;
}

}  // namespace minivllm
