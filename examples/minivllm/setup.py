"""Builds minivllm's extensions through CMake, the way vLLM's setup.py does.

VLLM_USE_PRECOMPILED=1 skips the extensions: only the Python package is installed
and the kernels are expected to come from the CMake workflow, which installs the
.so files into minivllm/ of the source tree (an editable install imports from there).

Environment variables read here: VLLM_USE_PRECOMPILED, CMAKE_BUILD_TYPE (default
Release), MAX_JOBS, NVCC_THREADS, CMAKE_ARGS; TORCH_CUDA_ARCH_LIST is read by
CMakeLists.txt itself.
"""

import os
import shlex
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT_DIR = Path(__file__).parent.resolve()


def use_precompiled() -> bool:
    return os.environ.get("VLLM_USE_PRECOMPILED", "").strip().lower() in ("1", "true")


def find_build_tool(name: str) -> str:
    """Prefers the cmake/ninja wheels of the build environment over the system ones."""
    try:
        if name == "cmake":
            import cmake

            candidate = Path(cmake.CMAKE_BIN_DIR, "cmake")
        else:
            import ninja

            candidate = Path(ninja.BIN_DIR, "ninja")
        if candidate.is_file():
            return str(candidate)
    except (ImportError, AttributeError):
        pass
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found; install requirements/build.txt")
    return found


class CMakeExtension(Extension):
    def __init__(self, name: str, cmake_lists_dir: Path = ROOT_DIR) -> None:
        # py_limited_api: setuptools then expects (and copies) <name>.abi3.so,
        # which is what Python_add_library(... USE_SABI ...) produces.
        super().__init__(name, sources=[], py_limited_api=True)
        self.cmake_lists_dir = str(cmake_lists_dir)


class cmake_build_ext(build_ext):
    def build_extensions(self) -> None:
        cmake = find_build_tool("cmake")
        build_dir = Path(self.build_temp).resolve()
        build_dir.mkdir(parents=True, exist_ok=True)

        # All extensions come from one CMake project: configure and build once.
        self.spawn(self.configure_args(cmake, build_dir))
        targets = [ext.name.split(".")[-1] for ext in self.extensions]
        num_jobs = os.environ.get("MAX_JOBS") or str(os.cpu_count() or 1)
        self.spawn([cmake, "--build", str(build_dir), "-j", num_jobs, "--target", *targets])

        for ext in self.extensions:
            # get_ext_fullpath() is <prefix>/minivllm/_C.abi3.so, and CMake installs
            # into <prefix>/minivllm itself, so strip the package part off.
            prefix = Path(self.get_ext_fullpath(ext.name)).parent.resolve()
            for _ in range(ext.name.count(".")):
                prefix = prefix.parent
            component = ext.name.split(".")[-1]
            self.spawn(
                [
                    cmake,
                    "--install",
                    str(build_dir),
                    "--prefix",
                    str(prefix),
                    "--component",
                    component,
                ]
            )

    def configure_args(self, cmake: str, build_dir: Path) -> list:
        args = [
            cmake,
            "-S",
            self.extensions[0].cmake_lists_dir,
            "-B",
            str(build_dir),
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={find_build_tool('ninja')}",
            f"-DVLLM_PYTHON_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={os.environ.get('CMAKE_BUILD_TYPE', 'Release')}",
        ]
        if shutil.which("ccache"):
            args += [
                "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
                "-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache",
            ]
        if os.environ.get("NVCC_THREADS"):
            args.append(f"-DNVCC_THREADS={os.environ['NVCC_THREADS']}")
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        return args


if use_precompiled():
    ext_modules = []
    options = {}
else:
    ext_modules = [CMakeExtension("minivllm._C"), CMakeExtension("minivllm._moe_C")]
    options = {"bdist_wheel": {"py_limited_api": "cp39"}}

setup(
    ext_modules=ext_modules,
    cmdclass={"build_ext": cmake_build_ext},
    options=options,
)
