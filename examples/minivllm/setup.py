"""Builds minivllm's extensions through CMake, the way vLLM's setup.py does.

Precompiled mode, on with VLLM_USE_PRECOMPILED=1 (or true) or, as in vLLM's envs.py,
with VLLM_PRECOMPILED_WHEEL_LOCATION set by itself, compiles nothing:

* VLLM_PRECOMPILED_WHEEL_LOCATION names a local wheel (a path, or a file:// URL):
  the extensions in it (files_to_copy) are copied into minivllm/ of the source tree,
  replacing what is there, as vLLM's setup.py copies its wheel's. Unlike vLLM, the
  example cannot download: an http(s) URL or a missing file is an error.
* No location: only the Python package is installed, nothing is copied or downloaded
  (vLLM would fetch the wheel of the merge-base with upstream main here); the kernels
  are expected to come from the CMake workflow, which installs the .so files into
  minivllm/ of the source tree (an editable install imports from there). The suite
  relies on this. VLLM_PRECOMPILED_WHEEL_COMMIT, which only picks a wheel to
  download, is not read.

Environment variables read here: VLLM_USE_PRECOMPILED, VLLM_PRECOMPILED_WHEEL_LOCATION,
CMAKE_BUILD_TYPE (default Release), MAX_JOBS, NVCC_THREADS, CMAKE_ARGS;
TORCH_CUDA_ARCH_LIST is read by CMakeLists.txt itself.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT_DIR = Path(__file__).parent.resolve()

# The extension modules, built by CMake (one install component each; _extra_C by a script
# CMake runs, as vLLM's _deep_gemm_C) or, in precompiled mode, copied out of a wheel.
EXTENSION_NAMES = ["minivllm._C", "minivllm._moe_C", "minivllm._extra_C"]


def use_precompiled() -> bool:
    # As vllm/envs.py: a wheel location by itself also means precompiled.
    flag = os.environ.get("VLLM_USE_PRECOMPILED", "").strip().lower()
    return flag in ("1", "true") or bool(os.environ.get("VLLM_PRECOMPILED_WHEEL_LOCATION"))


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


class precompiled_wheel_utils:
    """Copies the extensions out of an existing wheel (vLLM's class of the same name)."""

    @staticmethod
    def determine_wheel_url() -> str | None:
        """VLLM_PRECOMPILED_WHEEL_LOCATION, or None: the example has no wheel repo."""
        wheel_location = os.getenv("VLLM_PRECOMPILED_WHEEL_LOCATION") or None
        if wheel_location is not None:
            print(f"Using user-specified precompiled wheel location: {wheel_location}")
        return wheel_location

    @staticmethod
    def local_wheel_path(wheel_url_or_path: str) -> Path:
        """The local file a path or file:// URL names; a URL to download or a missing
        file is an error (vLLM's setup.py would urlretrieve anything not a file)."""
        url = urlparse(wheel_url_or_path)
        if url.scheme == "file" and url.netloc in ("", "localhost"):
            path = Path(url2pathname(unquote(url.path)))
        elif url.scheme == "":
            path = Path(wheel_url_or_path)
        else:
            fail(
                f"VLLM_PRECOMPILED_WHEEL_LOCATION={wheel_url_or_path} is not a local file: "
                "minivllm cannot download wheels; give it a wheel's path or file:// URL"
            )
        if not path.is_file():
            fail(
                f"VLLM_PRECOMPILED_WHEEL_LOCATION={wheel_url_or_path}: no such wheel file "
                f"{path.absolute()}"
            )
        return path

    @staticmethod
    def extract_precompiled_and_patch_package(wheel_path: Path) -> dict[str, list[str]]:
        """Copies files_to_copy from the wheel into the source tree, each through a
        temporary file and os.replace (a process that has the old .so loaded keeps
        it); returns the package_data that ships them in a (non-editable) wheel."""
        print(f"Using existing wheel at {wheel_path}")
        files_to_copy = [name.replace(".", "/") + ".abi3.so" for name in EXTENSION_NAMES]
        package_data_patch: dict[str, list[str]] = {}
        try:
            with zipfile.ZipFile(wheel_path) as wheel:
                file_members = [m for m in wheel.infolist() if m.filename in files_to_copy]
                if not file_members:
                    fail(f"{wheel_path} holds none of {', '.join(files_to_copy)}")
                missing = sorted(set(files_to_copy) - {m.filename for m in file_members})
                if missing:
                    print(f"Not in the wheel (left as they are): {', '.join(missing)}")
                for file in file_members:
                    print(f"[extract] {file.filename}")
                    target_path = ROOT_DIR / file.filename
                    target_path.parent.mkdir(parents=True, exist_ok=True)
                    copy_member_atomically(wheel, file, target_path)
                    pkg = os.path.dirname(file.filename).replace("/", ".")
                    package_data_patch.setdefault(pkg, []).append(
                        os.path.basename(file.filename)
                    )
        except zipfile.BadZipFile as e:
            fail(f"{wheel_path} is not a wheel: {e}")
        return package_data_patch


def copy_member_atomically(wheel: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> None:
    mode = (member.external_attr >> 16) & 0o777 or 0o755
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with wheel.open(member) as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        os.unlink(temp_name)
        raise


def fail(message: str) -> NoReturn:
    """Stops the build with one line on stderr (no traceback)."""
    sys.exit(f"error: {message}")


package_data: dict[str, list[str]] = {}

if use_precompiled():
    ext_modules = []
    options = {}
    wheel_location = precompiled_wheel_utils.determine_wheel_url()
    if wheel_location is None:
        print(
            "VLLM_USE_PRECOMPILED without VLLM_PRECOMPILED_WHEEL_LOCATION: installing the "
            "Python package only (build the kernels with CMake)"
        )
    else:
        wheel_path = precompiled_wheel_utils.local_wheel_path(wheel_location)
        patch = precompiled_wheel_utils.extract_precompiled_and_patch_package(wheel_path)
        for pkg, files in patch.items():
            package_data.setdefault(pkg, []).extend(files)
else:
    ext_modules = [CMakeExtension(name) for name in EXTENSION_NAMES]
    options = {"bdist_wheel": {"py_limited_api": "cp39"}}

setup(
    ext_modules=ext_modules,
    cmdclass={"build_ext": cmake_build_ext},
    options=options,
    package_data=package_data,
)
