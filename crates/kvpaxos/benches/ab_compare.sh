#!/usr/bin/env bash
# Two dsys builds side by side: fresh 3-replica clusters of each, in ABBA order, each loaded with
#   redis-benchmark -t set -n 200000 -c 64 -d 100 -r 10000 -q
# through one replica's RESP port (TARGET=leader or follower), reporting SET/s and the CPU time
# all three replica processes used per operation (utime+stime from /proc). Prints the means.
#
# Usage: crates/kvpaxos/benches/ab_compare.sh OLD_DSYS NEW_DSYS [ROUNDS]   (ROUNDS of ABBA, default 4;
#        STORAGE=durable for replicas with data directories, TARGET=leader, N=requests)
# Build an older commit with: git worktree add /tmp/base <commit> &&
#   (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base-target cargo build --release -p cli)
set -euo pipefail
OLD=$1 NEW=$2 ROUNDS=${3:-4} TARGET=${TARGET:-follower} N=${N:-200000} STORAGE=${STORAGE:-memory}
for tool in redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# One run: prints "<ops/s> <µs of replica CPU per op>".
run() {
  local dsys=$1 work pids=() peers=() resp=() target=""
  work=$(mktemp -d)
  for _ in 0 1 2; do peers+=("127.0.0.1:$(free_port)"); resp+=("$(free_port)"); done
  local list
  list=$(IFS=,; echo "${peers[*]}")
  # In memory by default: the figures compare replication code, not disks. Builds from before
  # durability have no --in-memory and keep nothing on disk anyway. STORAGE=durable compares the
  # durable paths instead (each replica with a --data-dir in the run's scratch directory).
  local storage=()
  "$dsys" kv serve --help | grep -q -- --in-memory && storage=(--in-memory)
  for id in 0 1 2; do
    [ "$STORAGE" = durable ] && storage=(--data-dir "$work/d$id")
    "$dsys" kv serve --id "$id" --peers "$list" --resp "127.0.0.1:${resp[$id]}" "${storage[@]}" \
      >"$work/o$id" 2>"$work/e$id" &
    pids+=($!)
  done
  for _ in $(seq 200); do
    redis-cli -p "${resp[0]}" set warmup 1 >/dev/null 2>&1 || true
    for id in 0 1 2; do
      role=$(redis-cli -p "${resp[$id]}" info 2>/dev/null | tr -d '\r' | sed -n 's/^role://p')
      [ "$role" = "$TARGET" ] && { target=$id; break 2; }
    done
    sleep 0.05
  done
  [ -n "$target" ] || { echo "no replica reports role:$TARGET" >&2; exit 1; }
  cpu() { local t=0 a; for p in "${pids[@]}"; do read -r -a a <"/proc/$p/stat"; t=$((t + a[13] + a[14])); done; echo "$t"; }
  local before after rps
  before=$(cpu)
  rps=$(redis-benchmark -p "${resp[$target]}" -t set -n "$N" -c 64 -d 100 -r 10000 -q \
    | tr '\r' '\n' | grep 'requests per second' | tail -1 | sed -E 's/^ *SET: ([0-9.]+).*/\1/')
  after=$(cpu)
  kill -9 "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
  local hz
  hz=$(getconf CLK_TCK)
  echo "$rps $(python3 -c "print(($after - $before) * 1e6 / $hz / $N)")"
}
results=()
for _ in $(seq "$ROUNDS"); do
  for which in new old old new; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    line="$which $(run "$bin")"
    echo "$line"
    results+=("$line")
  done
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
for who in ("old", "new"):
    r = [(float(a), float(b)) for w, a, b in rows if w == who]
    print(f"{who}: {sum(x for x, _ in r) / len(r):,.0f} SET/s, {sum(y for _, y in r) / len(r):.1f} us of replica CPU per op ({len(r)} runs)")
'
