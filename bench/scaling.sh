#!/usr/bin/env bash
# bench/scaling.sh — one shard against two: does a second shard add cost per operation (shared
# state, locks, cache-line traffic between cores) and how much more does the host serve?
#
# Usage: bench/scaling.sh [--runs 3] [--duration 5] [--no-build]
#
# Three placements, alternating within each run, medians of --runs:
#   1shard-split   tlsterm `cpus = [1]`, loadtest and `loadtest origin` on CPU 0 (bench/compare.sh)
#   1shard-shared  tlsterm `cpus = [1]`, loadtest and origin on CPUs 0 and 1
#   2shards        tlsterm `cpus = [0, 1]`, loadtest and origin on CPUs 0 and 1
# 1shard-shared and 2shards place the load identically, so they differ only in the shard count.
# Per placement: full TLS 1.3 ECDSA handshakes (`--scenario handshake --no-request`) and
# keep-alive requests (`--scenario keepalive`), 32 connections; the server's CPU time per
# operation (loadtest --server-pid: every thread of the process) and the operations per second.
# On two cores the client shares the server's cores in the last two placements, so throughput
# says what the whole host does; the per-operation CPU is the scaling figure (flat = no cost of
# sharding). Needs: cargo (unless --no-build), openssl, taskset, python3; CPUs 0 and 1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=scaling
. "$ROOT/bench/lib.sh"
bench_options "$@"
bench_need openssl taskset python3
[ "$(nproc)" -ge 2 ] || { echo "scaling.sh: needs CPUs 0 and 1" >&2; exit 69; }
if [ "$BUILD" = 1 ]; then bench_build; fi
bench_setup

RESULTS=$WORK/results.txt
: >"$RESULTS"
for run in $(seq "$RUNS"); do
    for placement in 1shard-split 1shard-shared 2shards; do
        case $placement in
        1shard-split) shards="[1]" load=0 ;;
        1shard-shared) shards="[1]" load=0,1 ;;
        2shards) shards="[0, 1]" load=0,1 ;;
        esac
        start_origin "$load"
        origin_pid=${PIDS[-1]}
        port=$(free_port)
        start_tlsterm "$port" "$([ "$placement" = 2shards ] && echo 0,1 || echo 1)" "$shards" off
        server=$SERVER
        for scenario in handshake keepalive; do
            extra=()
            [ "$scenario" = handshake ] && extra=(--tls 1.3 --no-request)
            taskset -c "$load" "$LOADTEST" --target "127.0.0.1:$port" --insecure-skip-verify \
                --cpus "$load" --server-pid "$server" --json --quiet --scenario "$scenario" \
                "${extra[@]}" --connections 32 --warmup 1s --duration "${DURATION}s" \
                >"$WORK/out.json" 2>"$WORK/out.txt" || { cat "$WORK/out.txt" >&2; exit 1; }
            python3 - "$placement" "$scenario" "$WORK/out.json" >>"$RESULTS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[3]))
errors = (d.get("errors") or {}).get("total", 0)
print(sys.argv[1], sys.argv[2], f"{d['throughput_per_s']:.0f}", f"{d.get('server_us_per_op') or 0:.1f}", errors)
EOF
            echo "run $run: $(tail -1 "$RESULTS")"
        done
        kill "$server" "$origin_pid" 2>/dev/null || true
        wait "$server" "$origin_pid" 2>/dev/null || true
        unset 'PIDS[-1]'
    done
done
python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("\nmedians: operations/s, server CPU µs per operation (errors in all runs)")
for scenario in ("handshake", "keepalive"):
    for placement in ("1shard-split", "1shard-shared", "2shards"):
        rs = [r for r in rows if r[0] == placement and r[1] == scenario]
        rate = statistics.median(float(r[2]) for r in rs)
        us = statistics.median(float(r[3]) for r in rs)
        errors = sum(int(r[4]) for r in rs)
        print(f"{scenario:9} {placement:13} {rate:9.0f}/s {us:7.1f} µs/op  errors {errors}")
EOF
