#!/usr/bin/env bash
# The bundled example's edit -> build -> load check -> chosen tests loop, timed, on a GPU box,
# offline (issue 25): what a kernel developer does all day, on examples/minivllm.
#
#   benchmarks/gpu_example_loop.sh [WORKDIR]
#
# A copy of examples/minivllm goes into a new folder under WORKDIR (default /tmp); the repo's
# copy is never touched. Every task runs as `$PY -m invoke TASK --source COPY --venv ENV_DIR`:
# ENV_DIR (default: the environment of the python3 on PATH, e.g. a docker image's torch) is
# used as it is; nothing is installed into it, no .venv is made, nothing reaches the network
# (`build` alone: no venv/deps/install step). Needs cmake, ninja, setuptools and pytest in
# ENV_DIR (torch is not needed: the example has none), nvcc, and the suite's own deps for $PY.
# Steps, each timed (NAME, rc, seconds in $OUT/example-loop.tsv):
#   first-build      the cold build (fresh compiler caches; the arch detected from the GPU)
#   cu-N-*, cpp-N-*  RUNS (default 2) rounds of: append a harmless function to a CUDA source
#                    (cu) / C++ source (cpp), `invoke build` (builds, installs, load check),
#                    `invoke test --list` (the tests chosen for the edit), `invoke test`
#   doctor           `invoke doctor` (its load check of every installed extension)
#   undefined-*      an edit calling a symbol nothing defines: the build must fail naming it;
#                    undone, the build passes again
# Checks go to $OUT/example-loop-checks.tsv (NAME, ok/FAILED, what), everything to
# $OUT/example-loop.json, every command's output to $OUT/example-loop.log. Where nvidia-smi
# answers, also: arch = the GPU's, every extension loaded for real (not statically), the CUDA
# tests ran (none skipped); without a GPU those are skipped (said so) and the arch is 9.0.
# Exits 1 when a check failed. OUT defaults to ./example-loop-out; PY to python3.
# shellcheck disable=SC2319  # `CONDITION; check NAME WHAT $?` records the condition on purpose
set -u
SUITE=$(cd "$(dirname "$0")/.." && pwd)
ENV_DIR=${ENV_DIR:-$(dirname "$(dirname "$(command -v python3)")")}
OUT=${OUT:-$PWD/example-loop-out}
PY=${PY:-python3}
RUNS=${RUNS:-2}
STEP_LIMIT=${STEP_LIMIT:-240}
mkdir -p "${1:-/tmp}" "$OUT"
WORK=$(mktemp -d "$(cd "${1:-/tmp}" && pwd)/example-loop.XXXX")
SRC=$WORK/minivllm LOGS=$WORK/logs
mkdir -p "$LOGS"
FIG=$OUT/example-loop.tsv CHECKS=$OUT/example-loop-checks.tsv COUNTS=$WORK/counts.tsv
: > "$FIG"; : > "$CHECKS"; : > "$COUNTS"; : > "$WORK/none.toml"
START=$(date +%s)
# Fresh compiler and configure caches (the first build is cold), no user settings file.
export NO_COLOR=1 PYTHONUNBUFFERED=1 VLLM_BUILD_CONFIG=$WORK/none.toml \
  CCACHE_DIR=$WORK/ccache SCCACHE_DIR=$WORK/sccache VLLM_BUILD_CONFIGURE_CACHE=$WORK/configure
unset TORCH_CUDA_ARCH_LIST VLLM_BUILD_ARCH VLLM_BUILD_ALL_ARCHS VLLM_BUILD_SOURCE VLLM_BUILD_VENV \
  VLLM_BUILD_PRESET VLLM_BUILD_TARGET VLLM_BUILD_INSTALL_PREFIX VLLM_BUILD_LOAD_CHECK \
  VLLM_BUILD_PLAN VLLM_BUILD_DRY_RUN  # what would change the meaning of a step
GPU_ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | sort -u | head -1)
if [ -n "$GPU_ARCH" ]; then GPU=1; else
  GPU=0; export VLLM_BUILD_ARCH=9.0  # no GPU to detect: one arch keeps nvcc quick
fi

say() { echo; echo "===== $(date +%T) $*"; }
inv() { # TASK [FLAGS]: on the copy, with ENV_DIR; stopped (SIGINT) after STEP_LIMIT seconds
  (cd "$SUITE" && timeout -s INT "$STEP_LIMIT" "$PY" -m invoke "$@" --source "$SRC" --venv "$ENV_DIR")
}
timed() { # NAME CMD...: run it, its output to $LOGS/NAME.log; record "NAME rc seconds"
  local name=$1; shift; local s e rc; s=$(date +%s.%N); "$@" > "$LOGS/$name.log" 2>&1; rc=$?
  e=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk "BEGIN {printf \"%.2f\", $e - $s}")" | tee -a "$FIG"
  [ "$rc" = 0 ] || tail -15 "$LOGS/$name.log" | sed 's/^/    | /'
  return $rc
}
check() { # NAME WHAT RESULT(0 ok)
  local row; row=$(printf '%s\t%s\t%s' "$1" "$([ "$3" = 0 ] && echo ok || echo FAILED)" "$2")
  echo "$row" >> "$CHECKS"; echo "  check $row"
}
gpu_check() { # NAME WHAT RESULT: a check that only a GPU machine can pass
  if [ "$GPU" = 1 ]; then check "$@"; else
    echo "  (no GPU: not checked here: $1: $2; here: $([ "$3" = 0 ] && echo true || echo false))"
  fi
}
count() { printf '%s\t%s\n' "$1" "$2" >> "$COUNTS"; echo "    $1 = $2"; }
load_line() { grep -E '^ *load (ran|skipped)' "$LOGS/$1.log" | tail -1 | sed 's/^ *//'; }
built_ok() { # NAME: the build passed, its load check passed (for real where there is a GPU)
  local line; line=$(load_line "$1"); echo "    $line"
  [[ "$line" == *"all load"* ]]; check "$1-load" "load check passed: $line" $?
  [[ "$line" == *" loaded"* && "$line" != *"checked statically"* ]]
  gpu_check "$1-load-real" "the built extensions loaded for real, none checked statically" $?
}
new_objects() { # LOG_LINES_BEFORE: the objects ninja compiled since
  tail -n +$(($1 + 1)) "$SRC/cmake-build-release/.ninja_log" | awk -F'\t' '$4 ~ /\.o$/ {print $4}' | sort -u
}
loglines() { wc -l < "$SRC/cmake-build-release/.ninja_log"; }
pytest_counts() { # NAME: PASSED FAILED SKIPPED (failed + errors) of the pytest summary line
  local line; line=$(grep -E '[0-9]+ (passed|failed|errors?|skipped)' "$LOGS/$1.log" | tail -1)
  echo "    pytest: ${line:-no summary line}"
  of() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' | awk '{n += $1} END {print n + 0}'; }
  PASSED=$(of passed); FAILED=$(( $(of failed) + $(of 'errors?') )); SKIPPED=$(of skipped)
  count "$1-passed" "$PASSED"; count "$1-failed" "$FAILED"; count "$1-skipped" "$SKIPPED"
}
loop() { # LABEL FILE LINE: RUNS rounds of edit -> build (+ load check) -> test --list -> test
  local label=$1 file=$2 line=$3 n before got chosen rc
  for n in $(seq 1 "$RUNS"); do
    say "$label edit $n: $file"
    # shellcheck disable=SC2059  # LINE is a format: the round and the start time go in
    printf "\n${line}\n" "$n" "$START" "$n" >> "$SRC/$file"
    before=$(loglines)
    timed "$label-$n-build" inv build; check "$label-$n-build" "invoke build after the edit" $?
    got=$(new_objects "$before" | tr '\n' ' ')
    [[ "$got" == *"/$file.o " && "$got" != *" "*" "* ]]
    check "$label-$n-one-object" "exactly the edited unit compiled (got: $got)" $?
    built_ok "$label-$n-build"
    timed "$label-$n-list" inv test --list
    chosen=$(grep -oE '^ *tests/[^ ]+\.py' "$LOGS/$label-$n-list.log" | sort -u)
    echo "$chosen" | sed -E 's/^ */    chosen: /'
    count "$label-$n-chosen" "$(echo "$chosen" | grep -c .)"
    [ -n "$chosen" ]; check "$label-$n-list" "invoke test --list chose tests for the edit" $?
    timed "$label-$n-test" inv test; rc=$?
    pytest_counts "$label-$n-test"
    [ "$rc" = 0 ] && [ "$PASSED" -gt 0 ] && [ "$FAILED" = 0 ]
    check "$label-$n-test" "invoke test: the chosen tests passed ($PASSED passed, $FAILED failed)" $?
    [ "$SKIPPED" = 0 ]
    gpu_check "$label-$n-test-on-gpu" "no test skipped: the CUDA tests ran on the GPU ($SKIPPED skipped)" $?
  done
}

say "machine"
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null \
  || echo "no GPU (nvidia-smi missing or silent): GPU-only checks are skipped, arch 9.0"
echo "CPUs: $(nproc)"; nvcc --version | tail -1
"$ENV_DIR/bin/python" -c 'import sys; print("ENV", sys.prefix, sys.version.split()[0])'
"$ENV_DIR/bin/python" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo "torch: none in ENV (the example needs none)"
cp -r "$SUITE/examples/minivllm" "$SRC"
rm -rf "$SRC"/cmake-build-* "$SRC"/.vllm-build-tools "$SRC"/.venv "$SRC"/CMakeUserPresets.json* \
  "$SRC"/*.egg-info "$SRC"/compile_commands.json "$SRC"/minivllm/*.so \
  "$SRC"/csrc/generated/generated_*.cpp  # a clean copy, whatever the repo's copy holds
echo "copy: $SRC"

say "first build (cold)"
timed first-build inv build; check first-build "cold invoke build of the copy" $?
built_ok first-build
ARCH=$("$PY" -c 'import json, sys
p = json.load(open(sys.argv[1]))["configurePresets"][0]
print(p.get("environment", {}).get("TORCH_CUDA_ARCH_LIST") or p["cacheVariables"].get("TORCH_CUDA_ARCH_LIST", ""))' \
  "$SRC/CMakeUserPresets.json" 2>/dev/null)
grep -m1 -E 'CUDA archs|local GPU arch|no local GPU' "$LOGS/first-build.log" | sed -E 's/^ */    /'
echo "    nvcc compiles for: $(grep -oE 'sm_[0-9]+[af]?' "$SRC/cmake-build-release/compile_commands.json" | sort -u | tr '\n' ' ')"
echo "    TORCH_CUDA_ARCH_LIST of the preset: ${ARCH:-?} (GPU: ${GPU_ARCH:-none})"
[ -n "$GPU_ARCH" ] && [ "$ARCH" = "$GPU_ARCH" ]
gpu_check arch-detected "the preset's arch list is the GPU's own ($ARCH = $GPU_ARCH)" $?
count first-build-units "$(awk -F'\t' 'NR > 1 && $4 ~ /\.o$/ {n++} END {print n + 0}' "$SRC/cmake-build-release/.ninja_log")"

loop cu csrc/moe/topk_softmax_kernels.cu '__global__ void vbt_loop_marker_%s_%s(int* o) { if (o) *o = %s; }'
loop cpp csrc/layernorm.cpp 'extern "C" int vbt_loop_marker_%s_%s() { return %s; }'

say "invoke doctor (its load check)"
timed doctor inv doctor  # its rc is a figure: it may find other errors (no uv, ...): shown
grep -E '^ *load check |^doctor: |^ *[a-z][a-zA-Z ]+ +(warn|error) ' "$LOGS/doctor.log" | sed 's/^ */    /'
grep -qE '^ *load check +ok +.*all load' "$LOGS/doctor.log"
check doctor-load "doctor's load check: every installed extension loads" $?

say "undefined symbol: the build must fail naming it; undone, it passes"
NEG=csrc/moe/topk_softmax.cpp
cp "$SRC/$NEG" "$WORK/undo.cpp"
"$PY" - "$SRC/$NEG" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
new = text.replace("namespace minivllm::moe {",
                   "int minivllm_missing_kernel(int);\nnamespace minivllm::moe {", 1)
new = new.replace("  PyObject* logits_obj;",
                  "  if (minivllm_missing_kernel(3) < 0) return false;\n  PyObject* logits_obj;", 1)
assert new.count("minivllm_missing_kernel") == 2, "the example's topk_softmax.cpp changed"
open(path, "w").write(new)
PY
check undefined-edit "the edit applied to $NEG" $?
! timed undefined-build inv build && grep -q 'undefined symbol minivllm_missing_kernel(int)' "$LOGS/undefined-build.log"
check undefined-build "the build fails naming minivllm_missing_kernel(int)" $?
cp "$WORK/undo.cpp" "$SRC/$NEG"
timed undefined-undone-build inv build; check undefined-undone-build "undone: the build passes" $?
built_ok undefined-undone-build

say "summary"
for f in "$LOGS"/*.log; do echo "===== $(basename "$f" .log)"; cat "$f"; done > "$OUT/example-loop.log"
"$PY" - "$FIG" "$CHECKS" "$COUNTS" "$OUT/example-loop.json" "$SRC" "$ENV_DIR" "$ARCH" "$GPU" <<'EOF'
import json, subprocess, sys
fig, checks, counts, out, src, env, arch, gpu = sys.argv[1:]
def rows(path):
    return [l.split("\t") for l in open(path).read().splitlines() if "\t" in l]
def ask(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
data = {
    "gpu": ask("nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader") or "none",
    "gpu_checks": gpu == "1", "cpus": ask("nproc"), "nvcc": ask("nvcc", "--version").splitlines()[-1:],
    "env": env, "source": src, "arch": arch,
    "figures": {r[0]: {"rc": int(r[1]), "seconds": float(r[2])} for r in rows(fig)},
    "counts": {r[0]: int(r[1]) for r in rows(counts)},
    "checks": {c[0]: {"result": c[1], "what": c[2]} for c in rows(checks)},
}
json.dump(data, open(out, "w"), indent=1)
failed = [c for c, v in data["checks"].items() if v["result"] != "ok"]
total = sum(v["seconds"] for v in data["figures"].values())
print(f"{len(data['figures'])} steps in {total:.1f} s; {len(data['checks'])} checks, failed: {failed or 'none'}")
sys.exit(1 if failed else 0)
EOF
