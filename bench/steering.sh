#!/usr/bin/env bash
# bench/steering.sh — does `[shards] steering = "cpu"` help? tlsterm with two shards (CPUs 0 and
# 1), steering off (the kernel's SO_REUSEPORT hash) and on (SO_ATTACH_REUSEPORT_CBPF: the shard
# on the CPU that processes the SYN), alternating, medians of --runs.
#
# Usage: bench/steering.sh [--runs 3] [--duration 5] [--no-build]
#
# Loopback caveat, and why the load generator runs on both CPUs: on loopback the CPU that
# processes a SYN is the client's CPU, so "steering by CPU" means "each client thread talks to
# the shard on its own core". That is the closest a 2-core loopback test gets to a NIC whose
# RSS/RPS queues are mapped to the shards' CPUs (tuning/nic-affinity.sh). `loadtest` runs one
# thread per CPU (--cpus 0,1) and `loadtest origin` too, so client, origin and server share the
# two cores; the figures compare the two modes with each other, not with bench/compare.sh.
# Measured per mode: full TLS 1.3 handshakes/s (`--scenario handshake`), keep-alive requests/s
# (`--scenario keepalive`, 32 connections), and how the accepted connections split over the
# shards (tlsterm_connections_accepted_total).
# Needs: cargo (unless --no-build), openssl, curl, taskset, python3; CPUs 0 and 1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=steering
. "$ROOT/bench/lib.sh"
bench_options "$@"
bench_need openssl curl taskset python3
[ "$(nproc)" -ge 2 ] || { echo "steering.sh: needs CPUs 0 and 1" >&2; exit 69; }
if [ "$BUILD" = 1 ]; then bench_build; fi
bench_setup
start_origin 0,1

RESULTS=$WORK/results.txt
: >"$RESULTS"
measure() { # mode run scenario args...
    local mode=$1 run=$2 scenario=$3
    shift 3
    local port admin pid
    port=$(free_port) admin=$(free_port)
    start_tlsterm "$port" 0,1 "[0, 1]" "127.0.0.1:$admin" "steering = \"$mode\""
    pid=$SERVER
    "$LOADTEST" --target "127.0.0.1:$port" --insecure-skip-verify --cpus 0,1 --json --quiet \
        --scenario "$scenario" --duration "${DURATION}s" --warmup 1s "$@" >"$WORK/lt.json" 2>"$WORK/lt.txt"
    curl -s "http://127.0.0.1:$admin/metrics" >"$WORK/metrics.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$mode" "$run" "$scenario" "$WORK/lt.json" "$WORK/metrics.txt" >>"$RESULTS" <<'PY'
import json, sys
mode, run, scenario, lt, metrics = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4])), open(sys.argv[5]).read()
acc = {}
for line in metrics.splitlines():
    if line.startswith("tlsterm_connections_accepted_total{"):
        shard = line.split('shard="')[1].split('"')[0]
        acc[shard] = float(line.rsplit(" ", 1)[1])
total = sum(acc.values()) or 1
share0 = acc.get("0", 0) / total
print(f"{mode} {run} {scenario} {lt['throughput_per_s']:.0f} {lt['latency_ms']['p99']:.3f} {share0:.3f} {lt['errors']['total']}")
PY
    tail -1 "$RESULTS"
}
for run in $(seq "$RUNS"); do
    for mode in hash cpu; do
        measure "$mode" "$run" handshake
        measure "$mode" "$run" keepalive --connections 32
    done
done
python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("\nmedians: ops/s, client p99 ms, share of connections on shard 0, errors (mode run scenario ...)")
for scenario in ("handshake", "keepalive"):
    base = None
    for mode in ("hash", "cpu"):
        r = [x for x in rows if x[0] == mode and x[2] == scenario]
        ops = statistics.median(float(x[3]) for x in r)
        p99 = statistics.median(float(x[4]) for x in r)
        share = statistics.median(float(x[5]) for x in r)
        errs = sum(int(x[6]) for x in r)
        ratio = f"  ({ops / base:.2f}x of hash)" if base else ""
        base = base or ops
        print(f"{scenario:9} {mode:4} {ops:9.0f}/s  p99 {p99:7.3f} ms  shard0 {share:.2f}  errors {errs}{ratio}")
PY
