#!/usr/bin/env bash
# Two openworkd builds compared in alternating rounds on the same workspace
# (one skill, a small opencode.jsonc; with `git`, a .git folder too): each
# round starts the daemon and runs wrk alone against /health, config,
# skills, commands, plugins and mcp. Prints one TSV line per measurement,
# then the medians per build and their ratio.
# Usage: bench/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [git]
# Installs wrk from Debian if missing.
set -euo pipefail
OLD=${1:?old binary}; NEW=${2:?new binary}; ROUNDS=${3:-5}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
work=$(mktemp -d)
d=
trap '[ -n "$d" ] && kill $d 2>/dev/null; rm -rf "$work"' EXIT
ws=$work/ws
mkdir -p "$ws/.opencode/skills/bench"
[ "${4:-}" = git ] && mkdir -p "$ws/.git"
printf -- '---\nname: bench\ndescription: Benchmark skill\n---\nBody\n' >"$ws/.opencode/skills/bench/SKILL.md"
printf '{ // bench\n  "plugin": ["a", "b"],\n  "mcp": {}\n}\n' >"$ws/opencode.jsonc"
mkdir -p "$ws/.opencode/commands"
printf -- '---\ndescription: Benchmark command\n---\nSummarize\n' >"$ws/.opencode/commands/bench.md"
mkdir -p "$work/home" "$work/data"
# Created now so that nothing is added to the workspace's parents later:
# a listing is cached once what it looked at is 2 s old.
: >"$work/results.tsv"
sleep 3
for r in $(seq 1 $ROUNDS); do
for which in old new; do
  bin=$OLD; [ $which = new ] && bin=$NEW
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url=http://127.0.0.1:$port
  HOME=$work/home OPENWORK_DATA_DIR=$work/data OPENWORK_WATCH=0 $bin --workspace "$ws" --port $port --token t --host-token h --approval auto --no-log-requests >/dev/null 2>&1 &
  d=$!
  until curl -sf -o /dev/null $url/health; do sleep 0.01; done
  id=$(curl -s -H "Authorization: Bearer t" $url/workspaces | python3 -c 'import json,sys; print(json.load(sys.stdin)["activeId"])')
  for p in health config skills commands plugins mcp; do
    path=/health; [ $p != health ] && path=/workspace/$id/$p
    rps=$(wrk -t2 -c32 -d4s -H "Authorization: Bearer t" $url$path | awk '/Requests\/sec/ {print $2}')
    printf '%s\t%s\t%s\t%s\n' $r $which $p $rps | tee -a "$work/results.tsv"
  done
  kill $d; wait $d 2>/dev/null || true
  d=
done; done
python3 - "$work/results.tsv" <<'PY'
import collections, statistics, sys
rps = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, build, route, value = line.split()
    rps[(route, build)].append(float(value))
for route in ["health", "config", "skills", "commands", "plugins", "mcp"]:
    old, new = statistics.median(rps[(route, "old")]), statistics.median(rps[(route, "new")])
    print(f"{route}: old median {old:.0f}, new median {new:.0f} req/s, new/old {new / old:.2f}")
PY
