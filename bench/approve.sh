#!/usr/bin/env bash
# Time `openworkctl approvals allow ID` against the same single HTTP call made
# with curl. Each run answers a real pending approval, created beforehand by
# hyperfine's --prepare step (not timed).
# Usage: bench/approve.sh            (needs hyperfine and curl; installs hyperfine from Debian)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }
cargo build --release --quiet -p openworkd -p openworkctl

work=$(mktemp -d)
trap 'kill "$daemon" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/ws"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOME="$work" OPENWORK_DATA_DIR="$work/data" ./target/release/openworkd --workspace "$work/ws" \
  --port "$port" --token bench-token --host-token bench-host --approval manual \
  --approval-timeout 600000 --no-log-requests >"$work/log" 2>&1 &
daemon=$!
url="http://127.0.0.1:$port"
until curl -sf "$url/health" >/dev/null; do sleep 0.05; done
ws=$(curl -s -H "Authorization: Bearer bench-token" "$url/workspaces" | python3 -c 'import json,sys; print(json.load(sys.stdin)["activeId"])')

# A write that waits for approval, and its approval id in $work/id.
cat >"$work/pending.sh" <<PENDING
#!/usr/bin/env bash
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer bench-token" -H "Content-Type: application/json" \
  -d '{"openwork":{"n":1}}' "$url/workspace/$ws/config" &
while :; do
  id=\$(curl -s -H "X-OpenWork-Host-Token: bench-host" "$url/approvals" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["id"] if i else "")')
  [ -n "\$id" ] && { echo "\$id" >"$work/id"; break; }
done
PENDING
chmod +x "$work/pending.sh"

hyperfine -N --warmup 5 --runs "${RUNS:-200}" --export-json "$work/result.json" \
  --prepare "$work/pending.sh" \
  -n curl "bash -c 'curl -s -X POST -H \"X-OpenWork-Host-Token: bench-host\" -H \"Content-Type: application/json\" -d {\\\"reply\\\":\\\"allow\\\"} $url/approvals/\$(cat $work/id)'" \
  -n openworkctl "bash -c './target/release/openworkctl --url $url --host-token bench-host approvals allow \$(cat $work/id)'"

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
c, o = r["curl"]["median"], r["openworkctl"]["median"]
print(f"median curl {c*1000:.2f} ms, openworkctl {o*1000:.2f} ms, ratio {o/c:.2f}")
PY
