#!/usr/bin/env bash
# redis-benchmark against a sharded cluster (3 shard master replicas, 3 groups of 3 shardkv
# replicas, every key routed by the front door of one replica) and against one 3-replica
# kvpaxos group, side by side in one session, in turns (one cluster runs at a time):
#   redis-benchmark -t set,get -n N -c 64 -d 100 -r 10000 -q
# Prints each figure and the ratio shardkv / kvpaxos (issue 13's goal: at least 0.80).
#
# Usage: crates/shardkv/benches/redis_benchmark.sh   (N=50000 default; ROUNDS=2 default;
# TESTS=set,get; SK_GROUPS=1 for one group, to see what routing costs; SKIP_KV=1 skips kvpaxos). Every server runs --in-memory (the durable store is measured elsewhere).
# Needs redis-benchmark, redis-cli and python3. Builds target/release/dsys if missing;
# DSYS=path overrides.
set -euo pipefail
cd "$(dirname "$0")/../../.."

N=${N:-50000}
ROUNDS=${ROUNDS:-2}
TESTS=${TESTS:-set,get}
SK_GROUPS=${SK_GROUPS:-3}
SKIP_KV=${SKIP_KV:-}
DSYS=${DSYS:-target/release/dsys}
for tool in redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-tools python3)" >&2; exit 1; }
done
[ -x "$DSYS" ] || cargo build --release -q -p cli

work=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
cleanup() {
  exec 2>/dev/null  # no "Killed" job notices
  stop_all
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits (bounded) until FILE has a line, or fails.
wait_line() {
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  echo "no readiness line in $1" >&2
  exit 1
}

# Waits (bounded) until a SET through the front door on port $1 succeeds.
wait_serving() {
  for _ in $(seq 400); do
    [ "$(redis-cli -p "$1" set warmup 1 2>/dev/null)" = "OK" ] && return 0
    sleep 0.05
  done
  echo "the front door on port $1 never served a SET" >&2
  exit 1
}

list() { local IFS=,; echo "$*"; }

# Starts a kvpaxos group of 3; sets $front to the leader's RESP port.
start_kvpaxos() {
  local peers=() ports=()
  for _ in 0 1 2; do peers+=("127.0.0.1:$(free_port)"); ports+=("$(free_port)"); done
  for id in 0 1 2; do
    "$DSYS" kv serve --id "$id" --peers "$(list "${peers[@]}")" --resp "127.0.0.1:${ports[$id]}" \
      --in-memory >"$work/kv$id.out" 2>"$work/kv$id.err" &
    pids+=($!)
  done
  for id in 0 1 2; do wait_line "$work/kv$id.out"; done
  wait_serving "${ports[0]}"
  front=""
  for id in 0 1 2; do
    role=$(redis-cli -p "${ports[$id]}" info replication | tr -d '\r' | sed -n 's/^role://p')
    [ "$role" = leader ] && front=${ports[$id]}
  done
  [ -n "$front" ] || front=${ports[0]}
}

# Starts 3 shard master replicas and 3 groups of 3, joins the groups; sets $front to the RESP
# port of group 1's leader (kvpaxos is loaded through its leader too).
start_shardkv() {
  local masters=()
  for _ in 0 1 2; do masters+=("127.0.0.1:$(free_port)"); done
  local m; m=$(list "${masters[@]}")
  for id in 0 1 2; do
    "$DSYS" shardmaster serve --id "$id" --peers "$m" --in-memory >"$work/sm$id.out" 2>"$work/sm$id.err" &
    pids+=($!)
  done
  for id in 0 1 2; do wait_line "$work/sm$id.out"; done
  local group1_ports=()
  for gid in $(seq "$SK_GROUPS"); do
    local peers=()
    for _ in 0 1 2; do peers+=("127.0.0.1:$(free_port)"); done
    for id in 0 1 2; do
      local port; port=$(free_port)
      [ "$gid" = 1 ] && group1_ports+=("$port")
      "$DSYS" shardkv serve --gid "$gid" --id "$id" --peers "$(list "${peers[@]}")" --shardmaster "$m" \
        --resp "127.0.0.1:$port" --in-memory >"$work/g$gid-$id.out" 2>"$work/g$gid-$id.err" &
      pids+=($!)
    done
    for id in 0 1 2; do wait_line "$work/g$gid-$id.out"; done
    "$DSYS" shardmaster --servers "$m" join "$gid" "$(list "${peers[@]}")" >/dev/null
  done
  wait_serving "${group1_ports[0]}"
  front=${group1_ports[0]}
  for port in "${group1_ports[@]}"; do
    role=$(redis-cli -p "$port" info replication | tr -d '\r' | sed -n 's/^role://p')
    [ "$role" = leader ] && front=$port
  done
  # Every group serving its shards: a SET on each of many keys succeeds.
  for i in $(seq 64); do
    for _ in $(seq 200); do
      [ "$(redis-cli -p "$front" set "warm:$i" 1 2>/dev/null)" = "OK" ] && break
      sleep 0.05
    done
  done
}

# Runs redis-benchmark on port $1; prints "test ops/s" lines.
bench() {
  redis-benchmark -p "$1" -t "$TESTS" -n "$N" -c 64 -d 100 -r 10000 -q 2>/dev/null \
    | tr '\r' '\n' | sed -n 's/^\([A-Z]*\): \([0-9.]*\) requests per second.*/\1 \2/p'
}

declare -A kv sk
for round in $(seq "$ROUNDS"); do
  if [ -z "$SKIP_KV" ]; then
    start_kvpaxos
    while read -r test ops; do kv[$test]="${kv[$test]:-} $ops"; done < <(bench "$front")
    stop_all
  fi
  start_shardkv
  while read -r test ops; do sk[$test]="${sk[$test]:-} $ops"; done < <(bench "$front")
  stop_all
  echo "round $round done" >&2
done

echo "redis-benchmark -t $TESTS -n $N -c 64 -d 100 -r 10000, $ROUNDS rounds (ops/s per round)"
for test in "${!sk[@]}"; do
  python3 - "$test" "${kv[$test]:-1}" "${sk[$test]:-}" <<'EOF'
import sys
test, kv, sk = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
print(f"{test:5} kvpaxos {mean(kv):9.0f} {kv}  shardkv 3x3 {mean(sk):9.0f} {sk}  ratio {mean(sk) / mean(kv):.2f}")
EOF
done
