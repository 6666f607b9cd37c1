#!/usr/bin/env bash
# Throughput and footprint of a release openworkd on a temp workspace:
#   req/s and latency (wrk) of /health, /workspaces, config, skills,
#   a read-batch of 64 files of 4 KiB, a catalog snapshot of 10,000 files,
#   GET /config through the OpenCode proxy vs directly;
#   time to the first SSE event through the proxy vs directly;
#   start-to-first-/health, idle RSS, RSS after load, binary sizes.
# Usage: bench/load.sh   (DURATION=5s CONNECTIONS=32 THREADS=2 to tune)
# Installs wrk from Debian and the OpenCode engine (npm, into .peers/) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
OPENCODE_BIN=$PWD/.peers/node_modules/opencode-linux-x64/bin/opencode

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
[ -x "$OPENCODE_BIN" ] || npm install --prefix .peers --no-save --no-audit --no-fund --loglevel=error \
  openwork-orchestrator-linux-x64@0.18.1 opencode-linux-x64@1.18.34 playwright-core@1.65.1
cargo build --release --quiet -p openworkd -p openworkctl

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Workspace: one skill, 64 files of 4 KiB, 10,000 small files.
ws="$work/ws"
mkdir -p "$ws/.opencode/skills/bench" "$ws/batch" "$ws/tree"
printf -- '---\nname: bench\ndescription: Benchmark skill\n---\nBody\n' >"$ws/.opencode/skills/bench/SKILL.md"
printf '{ // bench\n  "plugin": ["a", "b"],\n  "mcp": {}\n}\n' >"$ws/opencode.jsonc"
head -c 4096 /dev/urandom >"$work/4k"
for i in $(seq 0 63); do cp "$work/4k" "$ws/batch/f$i.bin"; done
python3 - "$ws/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:03}", exist_ok=True)
    for f in range(100):
        open(f"{root}/d{d:03}/f{f:03}.txt", "w").write("x")
PY

# Engine.
engine_port=$(free_port)
mkdir -p "$work/home"
# `exec` so that the recorded pid is the engine itself and the trap stops it.
(cd "$ws" && HOME="$work/home" XDG_DATA_HOME="$work/home/share" XDG_CONFIG_HOME="$work/home/config" \
  XDG_CACHE_HOME="$work/home/cache" XDG_STATE_HOME="$work/home/state" OPENCODE_SERVER_PASSWORD=bench \
  exec "$OPENCODE_BIN" serve --hostname 127.0.0.1 --port "$engine_port" --pure >"$work/engine.log" 2>&1) &
pids+=($!)
engine="http://127.0.0.1:$engine_port"

# Daemon.
port=$(free_port)
url="http://127.0.0.1:$port"
HOME="$work/home" OPENWORK_DATA_DIR="$work/data" OPENWORK_WATCH=0 ./target/release/openworkd \
  --workspace "$ws" --port "$port" --token bench-token --host-token bench-host --approval auto \
  --no-log-requests --opencode-base-url "$engine" --opencode-username opencode \
  --opencode-password bench >"$work/daemon.log" 2>&1 &
daemon=$!
pids+=($daemon)
until curl -sf -o /dev/null "$url/health"; do sleep 0.01; done
sleep 1
idle_rss=$(rss_kib "$daemon")
id=$(curl -s -H "Authorization: Bearer bench-token" "$url/workspaces" | python3 -c 'import json,sys; print(json.load(sys.stdin)["activeId"])')
sid=$(curl -s -X POST -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" -d '{}' \
  "$url/workspace/$id/files/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session"]["id"])')
paths=$(python3 -c 'import json; print(json.dumps({"paths": [f"batch/f{i}.bin" for i in range(64)]}))')
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$paths'
LUA

for _ in $(seq 1 80); do curl -s -m 1 -o /dev/null -u opencode:bench "$engine/config" && break; sleep 0.25; done

results="$work/results.tsv"
load() { # name, url, [extra wrk args...]
  local name=$1 target=$2; shift 2
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$target")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" "${errors:-0}" | tee -a "$results"
}
auth=(-H "Authorization: Bearer bench-token")
printf 'route\treq/s\tp50\tp99\tnon-2xx\n'
load "GET /health" "$url/health"
load "GET /workspaces" "$url/workspaces" "${auth[@]}"
load "GET /workspace/:id/config" "$url/workspace/$id/config" "${auth[@]}"
load "GET /workspace/:id/skills" "$url/workspace/$id/skills" "${auth[@]}"
load "POST read-batch (64 x 4 KiB)" "$url/files/sessions/$sid/read-batch" "${auth[@]}" -s "$work/post.lua"
load "GET catalog snapshot (10,000 files)" "$url/files/sessions/$sid/catalog/snapshot?limit=10000&prefix=tree" "${auth[@]}"
# The engine is the bottleneck and shares the cores: alternate rounds.
for _ in $(seq 1 "${PROXY_ROUNDS:-3}"); do
  load "GET /config on the engine directly" "$engine/config" -H "Authorization: Basic $(printf opencode:bench | base64)" \
    -H "x-opencode-directory: $ws"
  load "GET /opencode/config through openworkd" "$url/opencode/config" "${auth[@]}"
done
loaded_rss=$(rss_kib "$daemon")

# First SSE event (server.connected): 20 connections each, median.
first_event() { # url, curl auth args...
  local target=$1; shift
  for _ in $(seq 1 20); do
    curl -s -N -m 1 -o /dev/null -w '%{time_starttransfer}\n' "$@" "$target" || true
  done | sort -n | awk '{a[NR]=$1} END {printf "%.2f ms\n", a[int((NR+1)/2)]*1000}'
}
sse_direct=$(first_event "$engine/event" -u opencode:bench -H "x-opencode-directory: $ws")
sse_proxy=$(first_event "$url/opencode/event" -H "Authorization: Bearer bench-token")

echo
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
direct = [float(r[1]) for r in rows if r[0].endswith("directly")]
proxied = [float(r[1]) for r in rows if r[0].endswith("through openworkd")]
d, p = statistics.median(direct), statistics.median(proxied)
print(f"proxy vs direct GET /config: median {p:.0f} vs {d:.0f} req/s over {len(direct)} rounds, ratio {p / d:.2f}")
PY
# Start to first /health: spawn, then poll with raw HTTP requests; 20 runs.
start_ms=$(python3 - "$PWD/target/release/openworkd" "$ws" "$work" <<'PY'
import os, socket, statistics, subprocess, sys, time
binary, ws, work = sys.argv[1:]
env = dict(os.environ, HOME=work + "/home", OPENWORK_DATA_DIR=work + "/data", OPENWORK_WATCH="0")
times = []
for _ in range(20):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--workspace", ws, "--port", str(port), "--token", "t", "--host-token", "h",
                          "--no-log-requests"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if c.recv(12).startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            pass
    times.append((time.perf_counter() - t0) * 1000)
    p.terminate(); p.wait()
print(f"{statistics.median(times):.1f}")
PY
)
echo "start to first /health (spawn included): median ${start_ms} ms over 20 starts"
echo "RSS idle: ${idle_rss} KiB, after load: ${loaded_rss} KiB"
echo "first SSE event: direct ${sse_direct}, through openworkd ${sse_proxy}"
echo "binary sizes: openworkd $(stat -c %s target/release/openworkd) B, openworkctl $(stat -c %s target/release/openworkctl) B"
