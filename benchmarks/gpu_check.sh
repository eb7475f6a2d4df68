#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and no network: check arch detection, that the example's CUDA
# kernels are built for the local arch only and run, and time nvcc for the local arch vs vLLM's
# default arch list. Needs a wheelhouse in .devwheels/ (uv, pip, invoke, cmake, ninja,
# setuptools): `python3 -m pip download -d .devwheels --no-deps --only-binary :all: uv pip
# invoke cmake ninja 'setuptools>=77.0.3'`. Writes its results under $OUT (default /tmp/out).
set -euo pipefail
unset UV_NATIVE_TLS  # the image sets a name uv now deprecates
OUT=${OUT:-/tmp/out}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEELS=$ROOT/.devwheels
WORK=$(mktemp -d /tmp/gpu-check.XXXX)
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1

python3 -m pip install -q --no-index --find-links "$WHEELS" uv invoke
export UV_NO_INDEX=1 UV_OFFLINE=1 UV_FIND_LINKS=$WHEELS VLLM_BUILD_CONFIG=/nonexistent
echo "== nvidia-smi"
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv
echo "== detection (build_tools.toolchain.gpu_archs)"
(cd "$ROOT" && python3 -c 'from build_tools import toolchain as tc; print(tc.gpu_archs(tc.Machine()))')

echo "== bootstrap on a copy of the example, no --arch given"
cp -r "$ROOT/examples/minivllm" "$WORK/minivllm"
SRC=$WORK/minivllm
(cd "$ROOT" && time python3 -m invoke bootstrap --source "$SRC")
python3 - "$SRC/CMakeUserPresets.json" <<'PY'
import json, sys
preset = json.load(open(sys.argv[1]))["configurePresets"][0]
print("TORCH_CUDA_ARCH_LIST in preset:", preset.get("environment", {}).get("TORCH_CUDA_ARCH_LIST"))
print("NVCC_THREADS:", preset["cacheVariables"].get("NVCC_THREADS"),
      "jobs pool:", preset["cacheVariables"].get("CMAKE_JOB_POOLS"))
PY
grep -h "CUDA archs" "$SRC/.vllm-build-tools/last-run.log" || true
for so in "$SRC"/minivllm/*.so; do
  echo "-- cuobjdump $(basename "$so")"
  cuobjdump --list-elf "$so" || true
  cuobjdump --list-ptx "$so" || true
done
echo "== smoke (runs the CUDA kernels and compares with the CPU ops)"
"$SRC/.venv/bin/python" -m minivllm.smoke
echo "== second invoke build (must compile nothing)"
(cd "$ROOT" && python3 -m invoke build --source "$SRC")

echo "== nvcc: local arch vs vLLM's default list"
(cd "$ROOT" && PATH="$SRC/.venv/bin:$PATH" PYTHONPATH="$ROOT" "$SRC/.venv/bin/python" \
  -m benchmarks.nvcc_archs --repeat 3 --json "$OUT/nvcc_archs.json")
