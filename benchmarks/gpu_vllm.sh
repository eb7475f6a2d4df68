#!/usr/bin/env bash
# The suite over a REAL vLLM tree on a GPU box, offline, the way a kernel developer works.
#
#   benchmarks/gpu_vllm.sh VLLM_TREE DEPS_DIR [PHASE[:SECONDS] ...]
#
# VLLM_TREE: a vLLM checkout or unpacked sdist; DEPS_DIR: one folder per dependency source
# (cutlass, flash-attention, deepgemm, ...; matched to vLLM's FetchContent names by the suite).
# ENV (default: the environment of the python3 on PATH, e.g. a docker image's torch) is used
# with --venv: nothing is installed into it and no .venv is created.
# Phases (default: all, in order): setup presets configure rawconfigure targets cumem cppedit moe
# cuedit devflags devmoe devedit; and, for the memory gate and configure (not in the default):
# newdir (configure again into a new build dir: a seeded configure, its files against the
# first's), gatepair (a cold `_moe_C` without and with the gate; moegate: its gated half
# alone), warmclean (a warm clean-build of `_moe_C`: its configure share, build.ninja against
# the first configure's; WARMRUNS of them, default 3), cwindow (`_C` cold for WINDOW seconds,
# with and without the gate: units done; cgate / cnogate: one half alone); exampleloop (not
# in the default either): benchmarks/gpu_example_loop.sh, the bundled example's edit -> build
# -> load check -> chosen tests loop, timed, into the same $OUT (example-loop*.tsv/json; a
# failed check of it is recorded here as exampleloop).
# NAME:SECONDS runs NAME only if SECONDS are left before LIMIT
# (seconds, default unlimited). Figures go to $OUT/gpu_vllm.json (OUT defaults to
# ./gpu-vllm-out); each check that fails is recorded there and makes the script exit 1.
set -u
SRC=$(cd "$1" && pwd); DEPS=$(cd "$2" && pwd); shift 2
SUITE=$(cd "$(dirname "$0")/.." && pwd)
ENV_DIR=${ENV_DIR:-$(dirname "$(dirname "$(command -v python3)")")}
OUT=${OUT:-$PWD/gpu-vllm-out}
PY=${PY:-python3}
RUNS=${RUNS:-2}
LIMIT=${LIMIT:-1000000}
START=$(date +%s)
BUILD=${BUILD:-$SRC/cmake-build-release}
DEV=${DEV:-/tmp/gpu-vllm-dev}
mkdir -p "$OUT" "$DEV"
FIG=$OUT/figures.tsv CHECKS=$OUT/checks.tsv
: > "$FIG"; : > "$CHECKS"
export NO_COLOR=1 PYTHONUNBUFFERED=1

say() { echo; echo "===== $(date +%T) $*"; }
inv() { (cd "$SUITE" && "$PY" -m invoke "$@" --source "$SRC" --venv "$ENV_DIR"); }
timed() { # NAME CMD...: run it; record "NAME rc seconds"
  local name=$1; shift; local s e rc; s=$(date +%s.%N); "$@"; rc=$?; e=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(awk "BEGIN {printf \"%.2f\", $e - $s}")" | tee -a "$FIG"
  return $rc
}
check() { # NAME CONDITION-TEXT RESULT(0 ok): record a check
  printf '%s\t%s\t%s\n' "$1" "$([ "$3" = 0 ] && echo ok || echo FAILED)" "$2" | tee -a "$CHECKS"
}
buildid() { readelf -n "$1" 2>/dev/null | grep -o 'Build ID: .*'; }
same_build_id() { # NAME INSTALLED BUILT
  local a b; a=$(buildid "$2"); b=$(buildid "$3")
  [ -n "$a" ] && [ "$a" = "$b" ]; check "$1" "installed $2 has the build-id of $3 ($a)" $?
}
new_objects() { # LOG_LINES_BEFORE [BUILD_DIR]
  tail -n +$(($1 + 1)) "${2:-$BUILD}/.ninja_log" | awk -F'\t' '$4 ~ /\.o$/ {print $4}' | sort -u
}
one_object() { # NAME LOG_LINES_BEFORE EXPECTED_SUFFIX [BUILD_DIR]
  local got; got=$(new_objects "$2" "${4:-$BUILD}")
  local ok=1 listed; listed=$(echo $got)
  [ "$(echo "$got" | grep -c .)" = 1 ] && [[ "$got" == *"$3" ]] && ok=0
  check "$1" "exactly one object recompiled, *$3 (got: $listed)" $ok
}
loglines() { wc -l < "${1:-$BUILD}/.ninja_log"; }

phase_setup() {
  say "machine"
  nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader
  nproc; free -g | head -2; nvcc --version | tail -1
  "$ENV_DIR/bin/python" -c 'import torch, sys; print(sys.version.split()[0], torch.__version__)'
  inv config
}
phase_presets() {
  say "invoke presets"
  timed presets inv presets --deps-dir "$DEPS"
  cp "$SRC/CMakeUserPresets.json" "$OUT/"
  inv sources --deps-dir "$DEPS"
}
phase_configure() {
  say "invoke configure (a new build dir)"; rm -rf "$BUILD"; timed configure inv configure
  cp "$BUILD/build.ninja" "$DEV/first-build.ninja"; cp "$BUILD/compile_commands.json" "$DEV/first-compile_commands.json"
}
phase_newdir() {  # configure again into a new build dir: what a clean-build's configure reuses
  say "invoke configure again (a new build dir)"; rm -rf "$BUILD"; timed configure-newdir inv configure
  same_files configure-newdir-identical
}
phase_rawconfigure() {
  say "a plain cmake --preset release from a new shell (offline), then invoke configure again"
  local cmake; cmake=$(ls "$ENV_DIR"/bin/cmake 2>/dev/null || command -v cmake)
  timed raw-configure env -i HOME="$HOME" PATH=/usr/bin:/bin bash -c "cd '$SRC' && '$cmake' --preset release > '$OUT/raw-configure.log' 2>&1"
  check raw-configure "plain cmake --preset release in a new shell, offline" $?
  grep -E "CUDA target arch|CUDA supported target|DeepGEMM|FlashMLA|Build files" "$OUT/raw-configure.log" | head
  timed configure-again inv configure
}
phase_targets() { say "invoke targets"; timed targets inv targets; }
phase_cumem() { say "build --target cumem_allocator"; timed build-cumem inv build --target cumem_allocator; }
edit_loop() { # LABEL FILE LINE TARGET OBJECT SO [PRESET...]: append LINE to FILE, then
  # build TARGET with each preset (default release) and check: exactly OBJECT recompiled, and
  # the installed SO is the one that preset built. Figures: LABEL[-PRESET]-edit-N.
  local label=$1 file=$2 line=$3 target=$4 object=$5 so=$6 n before preset dir tag
  shift 6; local presets=${*:-release}
  for n in $(seq 1 "$RUNS"); do
    say "$label edit $n: $file ($presets)"
    printf "\n${line}\n" "$n" "$START" "$n" >> "$SRC/$file"
    for preset in $presets; do
      dir=$SRC/cmake-build-$preset; [ "$preset" = release ] && dir=$BUILD
      tag=$label; [ "$preset" = release ] || tag=$label-$preset
      before=$(loglines "$dir")
      timed "$tag-edit-$n" inv build --preset "$preset" --target "$target"
      one_object "$tag-edit-$n-one-object" "$before" "$object" "$dir"
      same_build_id "$tag-edit-$n-installed" "$(ls "$SRC"/vllm/$so*.so)" "$(ls "$dir"/$so*.so)"
    done
  done
}
phase_cppedit() {
  edit_loop cpp csrc/cumem_allocator.cpp 'extern "C" int vbt_gpu_marker_%s_%s() { return %s; }' \
    cumem_allocator cumem_allocator.cpp.o cumem_allocator
}
phase_moe() { say "build --target _moe_C (from scratch)"; timed build-moe inv build --target _moe_C; }
phase_cuedit() {
  edit_loop cu csrc/moe/topk_softmax_kernels.cu \
    '__global__ void vbt_gpu_marker_%s_%s(int* o) { if (o) *o = %s; }' \
    _moe_C topk_softmax_kernels.cu.o _moe_C
}
phase_devmoe() { say "build --preset dev --target _moe_C"; timed build-moe-dev inv build --preset dev --target _moe_C; }
phase_devedit() {  # the edit loop, release and dev presets side by side on the same source
  edit_loop devloop csrc/moe/topk_softmax_kernels.cu \
    '__global__ void vbt_dev_marker_%s_%s(int* o) { if (o) *o = %s; }' \
    _moe_C topk_softmax_kernels.cu.o _moe_C release dev
}
variant_command() { # VARIANT CMD: the nvcc command of a variant (empty: not applicable)
  local c=$2
  case $1 in
    release) ;;
    split) c="$c --split-compile=0" ;;
    dev|dev-split|dev-O0)  # the dev preset: host code at -O1 (nvcc's -O is the host's alone)
      [[ "$c" == *" -O3 "* ]] || return 0  # its host -O is not the release default: no variant
      local level=-O1; [ "$1" = dev-O0 ] && level=-O0
      c="${c// -O3 / $level }"; [ "$1" = dev-split ] && c="$c --split-compile=0" ;;
    *) return 0 ;;
  esac
  printf '%s' "$c"
}
phase_devflags() {
  # The exact nvcc command ninja runs for an object, as released (no compiler cache), and as
  # variants: dev (what the dev preset runs: host code at -O1), dev-split (dev_split = true:
  # also --split-compile=0, nvcc's back end over every core), split alone, dev-O0. Each one's
  # SASS is compared with the release SASS; the nvcc --time phases of every run are kept.
  local src obj cmd name v r c n
  local variants=${DEV_VARIANTS:-dev dev-split split}
  for src in ${DEV_FILES:-csrc/moe/topk_softmax_kernels.cu csrc/activation_kernels.cu}; do
    obj=$(cd "$BUILD" && ninja -t targets all | grep -oE "^CMakeFiles/[^:]*\.dir/${src//./\\.}\.o" | head -1)
    [ -n "$obj" ] || { echo "no object for $src"; continue; }
    cmd=$(cd "$BUILD" && ninja -t commands "$obj" | tail -1 | sed -E 's#^[^ ]*(ccache|sccache) ##')
    name=$(basename "$src" .cu)
    for r in $(seq 1 "$RUNS"); do
      for v in release $variants; do
        local left=$((LIMIT - ($(date +%s) - START)))
        [ "$left" -gt 120 ] || { echo "SKIP $name $v run $r: ${left}s left"; continue; }
        c=$(variant_command "$v" "$cmd"); [ -n "$c" ] || { echo "no $v variant of $src"; continue; }
        c=${c//-o $obj/-o $DEV/dev_${name}_$v.o}
        c="${c//-MF $obj.d/-MF $DEV/dev_${name}_$v.d} --time $DEV/time_${name}_${v}_$r.csv"
        (cd "$BUILD" && timed "nvcc-$name-$v-$r" bash -c "$c" > "$DEV/dev_${name}_$v.log" 2>&1) \
          || { check "nvcc-$name-$v-$r" "nvcc compiled it (log: $DEV/dev_${name}_$v.log)" 1; tail -5 "$DEV/dev_${name}_$v.log"; }
      done
    done
    [ -f "$DEV/dev_${name}_release.o" ] || continue
    cuobjdump -sass "$DEV/dev_${name}_release.o" > "$DEV/sass_${name}_release.txt"
    n=$(grep -c '^ */\*[0-9a-f]\{4\}\*/' "$DEV/sass_${name}_release.txt")
    for v in $variants; do
      [ -f "$DEV/dev_${name}_$v.o" ] || continue
      cuobjdump -sass "$DEV/dev_${name}_$v.o" > "$DEV/sass_${name}_$v.txt"
      [ "$n" -gt 0 ] && cmp -s "$DEV/sass_${name}_release.txt" "$DEV/sass_${name}_$v.txt"
      check "sass-$name-$v" "cuobjdump -sass identical to release with $v ($n instructions)" $?
    done
  done
  # nvcc --time: one CSV row per phase (cudafe++, cicc, ptxas, host compiler...) per run
  for c in "$DEV"/time_*.csv; do [ -f "$c" ] && sed "s#^#$(basename "$c" .csv),#" "$c"; done > "$OUT/nvcc-phases.csv"
}

# --------------------------------------------------------------- the memory gate and configure
WINDOW=${WINDOW:-400}
memwatch_start() { (while :; do awk '/^MemAvailable:/ {print $2; exit}' /proc/meminfo; sleep 1; done) > "$1" & MEMWATCH=$!; }
memwatch_stop() { kill "$MEMWATCH" 2>/dev/null; wait "$MEMWATCH" 2>/dev/null; sort -n "$1" | head -1 | awk '{printf "%.1f", $1 / 1048576}'; }
oom_kills() { awk '/^oom_kill / {print $2}' /proc/vmstat; }
figure() { printf '%s\t0\t%s\n' "$1" "$2" | tee -a "$FIG"; }  # NAME VALUE: a figure that is no time
step_s() { grep -oE "$1 ran \(([0-9.]+)s\)" "$2" | grep -oE '[0-9.]+' | head -1; }  # STEP LOG: its seconds
with_gate() { # on|off: our presets with or without the memory gate (--force: the build dir is new),
  # nothing measured: the presets see no peaks, so they name no pools script for cold_build to delete
  rm -rf "$SRC/.vllm-build-tools/memory"
  if [ "$1" = off ]; then VLLM_BUILD_MEMORY_GATE=false inv presets --force --deps-dir "$DEPS" > /dev/null
  else inv presets --force --deps-dir "$DEPS" > /dev/null; fi
}
cold_build() { # NAME TARGET [SECONDS]: a new build dir, an empty compiler cache, nothing measured
  # by the gate; build TARGET (stopped after SECONDS); seconds, units compiled, lowest
  # MemAvailable, OOM kills, and what the gate said
  local name=$1 target=$2 limit=${3:-0} log=$OUT/$1.log before low
  rm -rf "$BUILD"
  export CCACHE_DIR=$DEV/ccache-$name; rm -rf "$CCACHE_DIR"
  before=$(oom_kills); memwatch_start "$DEV/mem-$name"
  if [ "$limit" -gt 0 ]; then
    timed "$name" timeout -s INT "$limit" bash -c 'cd "$1" && shift && exec "$@"' _ "$SUITE" \
      "$PY" -m invoke build --target "$target" --source "$SRC" --venv "$ENV_DIR" > "$log" 2>&1
  else
    timed "$name" inv build --target "$target" > "$log" 2>&1
  fi
  low=$(memwatch_stop "$DEV/mem-$name")
  figure "$name-configure-s" "$(step_s configure "$log")"
  figure "$name-build-s" "$(step_s build "$log")"
  figure "$name-units" "$(awk -F'\t' 'NR > 1 && $4 ~ /\.o$/ {n++} END {print n + 0}' "$BUILD/.ninja_log")"
  if [ "$limit" -gt 30 ]; then  # the same count over the build alone: configures that differ drop out
    figure "$name-units-first-$((limit - 30))s-of-build" "$(awk -F'\t' -v ms=$(((limit - 30) * 1000)) \
      'NR > 1 && $4 ~ /\.o$/ && $2 <= ms {n++} END {print n + 0}' "$BUILD/.ninja_log")"
  fi
  figure "$name-lowest-MemAvailable-GiB" "$low"
  figure "$name-oom-kills" "$(( $(oom_kills) - before ))"
  grep -E "configure ran|reused|afresh|memory gate|build ran" "$log" | sed "s/^/$name: /"
}
same_files() { # NAME: the build dir's build.ninja and compile_commands.json are the first configure's
  local f ok=0
  for f in build.ninja compile_commands.json; do cmp -s "$BUILD/$f" "$DEV/first-$f" || ok=1; done
  check "$1" "build.ninja and compile_commands.json identical to the first (fresh) configure's" $ok
}
phase_gatepair() {
  say "cold _moe_C without the memory gate, then with it (same machine, one run)"
  with_gate off; cold_build moe-nogate _moe_C
  with_gate on; cold_build moe-gate _moe_C
  same_files moe-gate-configure-identical
  "$PY" - "$FIG" <<'PY'
import sys
rows = {l.split("\t")[0]: float(l.split("\t")[2]) for l in open(sys.argv[1]) if l.count("\t") == 2}
if "moe-gate" in rows and "moe-nogate" in rows:
    print(f"moe gate/no-gate: {rows['moe-gate'] / rows['moe-nogate']:.3f} (whole command)")
if rows.get("moe-gate-build-s") and rows.get("moe-nogate-build-s"):
    print(f"moe gate/no-gate: {rows['moe-gate-build-s'] / rows['moe-nogate-build-s']:.3f} (build step)")
PY
}
phase_moegate() {  # the gated half of gatepair alone: a cold _moe_C that warms the cache for warmclean
  say "cold _moe_C with the memory gate"
  with_gate on; cold_build moe-gate _moe_C
}
phase_warmclean() {  # WARMRUNS (default 3) warm clean-builds back to back (the first's log: warm-clean.log)
  local i log stats
  for i in $(seq 1 "${WARMRUNS:-3}"); do
    say "a warm clean-build of _moe_C (the compiler cache from the gate run), run $i"
    log=$OUT/warm-clean-$i.log; [ "$i" = 1 ] && log=$OUT/warm-clean.log
    timed "warm-clean-build-$i" inv clean-build --target _moe_C > "$log" 2>&1
    grep -E "configure ran|build ran|clean ran|done in" "$log"
    figure "warm-clean-configure-s-$i" "$(step_s configure "$log")"
    figure "warm-clean-build-s-$i" "$(step_s build "$log")"
    # how ccache served the units: a direct hit reads a manifest, a preprocessed hit runs nvcc -E
    stats=$SRC/.vllm-build-tools/last-build-ccache.log  # the build's stats log, kept by the suite
    [ -f "$stats" ] && cp "$stats" "$OUT/ccache-stats-warm-$i.log" \
      && grep -vE '^#' "$stats" | sort | uniq -c | sed "s/^/warm-clean-$i ccache: /"
    same_files "warm-clean-configure-identical-$i"
  done
}
phase_cwindow() { phase_cgate; phase_cnogate; }
phase_cgate() {  # the gated half of cwindow alone
  say "_C cold for ${WINDOW} s with the memory gate"
  with_gate on; cold_build c-window-gate _C "$WINDOW"
}
phase_cnogate() {  # the ungated half of cwindow alone
  say "_C cold for ${WINDOW} s without the memory gate"
  with_gate off; cold_build c-window-nogate _C "$WINDOW"
  with_gate on
}

phase_exampleloop() {
  say "the example's edit -> build -> load -> tests loop (benchmarks/gpu_example_loop.sh)"
  OUT=$OUT ENV_DIR=$ENV_DIR PY=$PY "$SUITE/benchmarks/gpu_example_loop.sh" "$DEV"
  check exampleloop "benchmarks/gpu_example_loop.sh: every check ok ($OUT/example-loop-checks.tsv)" $?
}

phases=${*:-setup presets configure rawconfigure targets cumem cppedit moe cuedit devflags devmoe devedit}
for p in $phases; do
  name=${p%%:*}; need=${p#*:}; [ "$need" = "$p" ] && need=0
  left=$((LIMIT - ($(date +%s) - START)))
  if [ "$left" -lt "$need" ]; then echo "SKIP phase $name: ${left}s left < ${need}s" | tee -a "$FIG"; continue; fi
  "phase_$name"
done
"$PY" - "$FIG" "$CHECKS" "$OUT/gpu_vllm.json" "$SRC" <<'EOF'
import json, subprocess, sys
fig, checks, out, src = sys.argv[1:]
rows = [l.split("\t") for l in open(fig).read().splitlines() if "\t" in l]
cks = [l.split("\t") for l in open(checks).read().splitlines() if "\t" in l]
try:
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except OSError:
    gpu = "none"
data = {"gpu": gpu, "source": src, "figures": {r[0]: {"rc": int(r[1]), "seconds": float(r[2])} for r in rows},
        "checks": {c[0]: {"result": c[1], "what": c[2]} for c in cks}}
json.dump(data, open(out, "w"), indent=1)
failed = [c[0] for c in cks if c[1] != "ok"]
print(json.dumps(data["figures"], indent=0)); print("checks failed:", failed or "none")
sys.exit(1 if failed else 0)
EOF
