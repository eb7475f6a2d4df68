# Helpers for minivllm's CMakeLists.txt (the equivalent of vLLM's cmake/utils.cmake).

# Run `expr` in the Python of the build, as vLLM's run_python does (vLLM asks torch for its nvcc
# flags, its cmake prefix path, its version this way): its standard output, trailing
# whitespace stripped, into `out_var`; a failure stops the configure with `err_msg`.
function(minivllm_run_python out_var expr err_msg)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" "-c" "${expr}"
    OUTPUT_VARIABLE _out
    RESULT_VARIABLE _rc
    ERROR_VARIABLE _err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${err_msg}: ${_err}")
  endif()
  set(${out_var} "${_out}" PARENT_SCOPE)
endfunction()

# Version of the nvcc at `nvcc_path`, read before enable_language(CUDA), i.e. before
# CMAKE_CUDA_COMPILER_VERSION exists.
function(minivllm_nvcc_version out_var nvcc_path)
  execute_process(
    COMMAND "${nvcc_path}" --version
    OUTPUT_VARIABLE _out
    ERROR_QUIET
    RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _out MATCHES "release ([0-9]+\\.[0-9]+)")
    set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    set(${out_var} "" PARENT_SCOPE)
  endif()
endfunction()

# vLLM's default CUDA arch list for a given CUDA version.
function(minivllm_default_torch_arch_list out_var cuda_version)
  if(cuda_version AND cuda_version VERSION_GREATER_EQUAL 13.0)
    set(_archs "7.5;8.0;8.6;8.7;8.9;9.0;10.0;11.0;12.0")
  elseif(cuda_version AND cuda_version VERSION_GREATER_EQUAL 12.8)
    set(_archs "7.0;7.2;7.5;8.0;8.6;8.7;8.9;9.0;10.0;10.1;12.0")
  else()
    set(_archs "7.0;7.2;7.5;8.0;8.6;8.7;8.9;9.0")
  endif()
  set(${out_var} "${_archs}" PARENT_SCOPE)
endfunction()

# Translate a TORCH_CUDA_ARCH_LIST-style string into CMAKE_CUDA_ARCHITECTURES entries.
# Entries are separated by ';' or whitespace:
#   8.0      -> 80-real   (SASS only)
#   8.6+PTX  -> 86        (SASS + PTX)
#   9.0a     -> 90a-real  (arch-specific features; 'f' family suffix works the same)
function(minivllm_torch_arch_list_to_cmake out_var arch_list)
  string(REGEX REPLACE "[ \t\r\n]+" ";" _entries "${arch_list}")
  set(_archs "")
  foreach(_entry IN LISTS _entries)
    if(_entry STREQUAL "")
      continue()
    endif()
    if(NOT _entry MATCHES "^([0-9]+)\\.([0-9])([af]?)(\\+PTX)?$")
      message(FATAL_ERROR
        "Invalid entry '${_entry}' in TORCH_CUDA_ARCH_LIST='${arch_list}' "
        "(expected e.g. '8.0', '8.6+PTX' or '9.0a').")
    endif()
    set(_arch "${CMAKE_MATCH_1}${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
    if(NOT CMAKE_MATCH_4)
      string(APPEND _arch "-real")
    endif()
    list(APPEND _archs "${_arch}")
  endforeach()
  list(REMOVE_DUPLICATES _archs)
  if(NOT _archs)
    message(FATAL_ERROR "TORCH_CUDA_ARCH_LIST='${arch_list}' names no architecture.")
  endif()
  set(${out_var} "${_archs}" PARENT_SCOPE)
endfunction()
