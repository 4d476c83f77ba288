#!/usr/bin/env bash
# Issue 10's figures, side by side in one session: redis-benchmark SET (100-byte values) through
# the leader's RESP2 front door of
#   durable   3 `dsys kv serve --data-dir` replicas (fsync before every promise and vote,
#             group commit),
#   memory    3 `dsys kv serve --in-memory` replicas,
#   aof       one `redis-server --appendonly yes --appendfsync always` (fsync on every write,
#             the closest single-node anchor),
# all with their files in one directory (same disk), at 64 clients and at 1 client, plus this
# machine's fsync latency (a probe: write 100 bytes + fdatasync, 1000 times, in the same
# directory). Each round starts fresh servers; rounds alternate the order (ABBA) because the
# machine is shared and noisy. Prints every run, then means and the ratios the issue names:
# durable/memory and durable/aof at 64 clients, and the 1-client p50 budget
# (memory p50 + 2 x fsync p50).
#
# Usage: crates/kvpaxos/benches/durable_benchmark.sh    (ROUNDS=2, N=50000; DIR=... for the disk)
# Needs redis-benchmark, redis-server, redis-cli, python3. Builds target/release/dsys if missing.
set -euo pipefail
cd "$(dirname "$0")/../../.."

N=${N:-50000}
N1=${N1:-5000}
ROUNDS=${ROUNDS:-2}
DSYS=${DSYS:-target/release/dsys}
for tool in redis-benchmark redis-server redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-tools redis-server python3)" >&2; exit 1; }
done
[ -x "$DSYS" ] || cargo build --release -q -p cli

work=$(mktemp -d "${DIR:-/tmp}/dsys-durable-bench.XXXXXX")
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
cleanup() {
  exec 2>/dev/null
  stop_all
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_line() {
  for _ in $(seq 400); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  echo "no readiness line in $1: $(cat "${1%.out}.err" 2>/dev/null)" >&2
  exit 1
}

# Starts a 3-replica cluster (MODE durable or memory) and sets $port to the leader's RESP port.
start_cluster() {
  local mode=$1 peers=() resp_ports=() peer_list id storage
  rm -rf "$work/kv"
  mkdir -p "$work/kv"
  for _ in 0 1 2; do peers+=("127.0.0.1:$(free_port)"); done
  peer_list=$(IFS=,; echo "${peers[*]}")
  for id in 0 1 2; do
    resp_ports+=("$(free_port)")
    if [ "$mode" = durable ]; then storage=(--data-dir "$work/kv/$id"); else storage=(--in-memory); fi
    "$DSYS" kv serve --id "$id" --peers "$peer_list" --resp "127.0.0.1:${resp_ports[$id]}" "${storage[@]}" \
      >"$work/kv$id.out" 2>"$work/kv$id.err" &
    pids+=($!)
  done
  for id in 0 1 2; do wait_line "$work/kv$id.out"; done
  port=""
  for _ in $(seq 400); do
    redis-cli -p "${resp_ports[0]}" set warmup 1 >/dev/null 2>&1 || true
    for id in 0 1 2; do
      role=$(redis-cli -p "${resp_ports[$id]}" info 2>/dev/null | tr -d '\r' | sed -n 's/^role://p')
      [ "$role" = leader ] && { port=${resp_ports[$id]}; return 0; }
    done
    sleep 0.05
  done
  echo "no leader in the $mode cluster" >&2
  exit 1
}

start_aof() {
  port=$(free_port)
  mkdir -p "$work/aof"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$work/aof" \
    --appendonly yes --appendfsync always >"$work/redis.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 400); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis-server did not start" >&2
  exit 1
}

# Prints "<rps> <p50 ms>" for SET with $1 clients and $2 requests on $port.
run_set() {
  redis-benchmark -h 127.0.0.1 -p "$port" -t set -n "$2" -c "$1" -d 100 -r 10000 -q \
    | tr '\r' '\n' | grep 'requests per second' \
    | sed -E 's/^ *SET: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 \2/'
}

fsync_probe() {
  python3 - "$work/probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
samples = []
for _ in range(1000):
    t = time.perf_counter()
    os.write(fd, b"x" * 100)
    os.fdatasync(fd)
    samples.append(time.perf_counter() - t)
samples.sort()
print(f"{samples[len(samples) // 2] * 1000:.3f}")
PY
}

results="$work/results"
: >"$results"
measure() {
  local system=$1
  case "$system" in
    durable|memory) start_cluster "$system" ;;
    aof) start_aof ;;
  esac
  read -r rps64 p50_64 < <(run_set 64 "$N")
  read -r rps1 p50_1 < <(run_set 1 "$N1")
  stop_all
  echo "$system $rps64 $p50_64 $rps1 $p50_1" | tee -a "$results"
}

echo "SET -d 100 -r 10000: 64 clients x $N, 1 client x $N1; $ROUNDS ABBA rounds; files in $work ($(df -h "$work" | tail -1 | awk '{print $1}'))"
echo "system rps@64 p50@64(ms) rps@1 p50@1(ms)"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order="durable memory aof"; else order="aof memory durable"; fi
  for system in $order; do measure "$system"; done
  echo "fsync-probe $(fsync_probe)" | tee -a "$results"
done

python3 - "$results" <<'PY'
import sys, statistics as st
rows = {}
probes = []
for line in open(sys.argv[1]):
    parts = line.split()
    if parts[0] == "fsync-probe":
        probes.append(float(parts[1]))
    else:
        rows.setdefault(parts[0], []).append([float(x) for x in parts[1:]])
mean = {k: [st.mean(col) for col in zip(*v)] for k, v in rows.items()}
for k in ("durable", "memory", "aof"):
    r = mean[k]
    print(f"mean {k:8s} {r[0]:10.0f} ops/s  p50 {r[1]:.3f} ms @64 | {r[2]:8.0f} ops/s  p50 {r[3]:.3f} ms @1")
fsync = st.median(probes)
print(f"fsync probe p50: {fsync:.3f} ms (median of {len(probes)} runs of 1000)")
print(f"durable / memory @64: {mean['durable'][0] / mean['memory'][0]:.3f} (issue: >= 0.75)")
print(f"durable / aof    @64: {mean['durable'][0] / mean['aof'][0]:.3f} (issue: >= 0.60)")
budget = mean['memory'][3] + 2 * fsync
print(f"1-client p50: durable {mean['durable'][3]:.3f} ms, budget memory p50 + 2 x fsync p50 = {budget:.3f} ms")
PY
