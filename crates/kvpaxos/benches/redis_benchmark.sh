#!/usr/bin/env bash
# redis-benchmark against a 3-replica kvpaxos cluster (through one replica's RESP2 front door)
# and against a single unreplicated redis-server on the same machine, side by side:
#   redis-benchmark -t set,get,incr,mset -n 200000 -c 64 -d 100 -r 10000 -q   (and with -P 16)
# Prints each figure and the ratio kvpaxos / redis.
#
# Usage: crates/kvpaxos/benches/redis_benchmark.sh        (N=20000 for a quicker run;
# TESTS=set,get for fewer commands)
# TARGET=leader (default) loads the replica that leads; TARGET=follower loads another one, whose
# requests are forwarded to the leader (one more hop).
# Needs redis-benchmark and redis-server (Debian: redis-tools, redis-server) and python3 (to
# find free ports). Builds target/release/dsys if missing; DSYS=path overrides.
set -euo pipefail
cd "$(dirname "$0")/../../.."

N=${N:-200000}
TESTS=${TESTS:-set,get,incr,mset}
TARGET=${TARGET:-leader}
case "$TARGET" in leader|follower) ;; *) echo "TARGET is leader or follower" >&2; exit 2 ;; esac
DSYS=${DSYS:-target/release/dsys}
for tool in redis-benchmark redis-server redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-tools redis-server python3)" >&2; exit 1; }
done
[ -x "$DSYS" ] || cargo build --release -q -p cli

work=$(mktemp -d)
pids=()
cleanup() {
  exec 2>/dev/null  # no "Killed" job notices
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
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

peers=()
for _ in 0 1 2; do peers+=("127.0.0.1:$(free_port)"); done
peer_list=$(IFS=,; echo "${peers[*]}")
resp_ports=()
# In memory (durable_benchmark.sh measures the disk); builds from before durability have no
# --in-memory and keep nothing on disk anyway.
storage=()
"$DSYS" kv serve --help | grep -q -- --in-memory && storage=(--in-memory)
for id in 0 1 2; do
  port=$(free_port)
  resp_ports+=("$port")
  "$DSYS" kv serve --id "$id" --peers "$peer_list" --resp "127.0.0.1:$port" "${storage[@]}" \
    >"$work/kv$id.out" 2>"$work/kv$id.err" &
  pids+=($!)
done
for id in 0 1 2; do wait_line "$work/kv$id.out"; done

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.out" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

# The replica to load, by its role in INFO (every replica names the same leader once elected).
target=""
for _ in $(seq 200); do
  redis-cli -p "${resp_ports[0]}" set warmup 1 >/dev/null 2>&1 || true
  for id in 0 1 2; do
    role=$(redis-cli -p "${resp_ports[$id]}" info 2>/dev/null | tr -d '\r' | sed -n 's/^role://p')
    [ "$role" = "$TARGET" ] && { target=$id; break 2; }
  done
  sleep 0.05
done
[ -n "$target" ] || { echo "no replica reports role:$TARGET" >&2; exit 1; }

# One run: prints "<OP> <rps> <p50>" lines (SET, GET, INCR, "MSET (10 keys)" as MSET).
run() {
  redis-benchmark -h 127.0.0.1 -p "$1" -t "$TESTS" -n "$N" -c 64 -d 100 -r 10000 -q "${@:2}" \
    | tr '\r' '\n' | grep 'requests per second' \
    | sed -E 's/^ *([A-Z]+)[^:]*: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 \2 \3/'
}

echo "redis-benchmark -t $TESTS -n $N -c 64 -d 100 -r 10000 -q; kvpaxos: 3 replicas, load on replica $target ($TARGET)'s RESP port"
printf '%-6s %-4s %14s %10s %14s %10s %8s\n' pipe op "kvpaxos ops/s" "p50 ms" "redis ops/s" "p50 ms" ratio
for pipeline in 1 16; do
  extra=()
  [ "$pipeline" -gt 1 ] && extra=(-P "$pipeline")
  kv=$(run "${resp_ports[$target]}" "${extra[@]}")
  redis=$(run "$redis_port" "${extra[@]}")
  paste -d' ' <(echo "$kv") <(echo "$redis") | while read -r op kv_rps kv_p50 _ redis_rps redis_p50; do
    ratio=$(python3 -c "print(f'{$kv_rps / $redis_rps:.3f}')")
    printf '%-6s %-4s %14s %10s %14s %10s %8s\n' "-P $pipeline" "$op" "$kv_rps" "$kv_p50" "$redis_rps" "$redis_p50" "$ratio"
  done
done
