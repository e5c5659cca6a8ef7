#!/usr/bin/env bash
# bench/cpu-split.sh — user vs kernel CPU per keep-alive request, tlsterm and HAProxy in the same
# run (and, with --idle, RSS per idle TLS connection).
#
# Usage: bench/cpu-split.sh [--runs 3] [--duration 5] [--connections 16] [--idle 3000]
#                            [--scenario keepalive|bulk] [--no-build]
#
# Same pinning as bench/compare.sh: the server on CPU 1, `loadtest` and `loadtest origin` on
# CPU 0, loopback only, ECDSA P-256 certificate made here with openssl, access logs off. For each
# run and server: a keep-alive closed loop (`loadtest --scenario keepalive`, or `bulk`: 1 MiB
# responses, figures per MB), the server's utime/stime ticks from /proc/PID/stat over the
# measured window, divided by the requests (MB) done in it; then (with --idle N) a fresh server holding N idle TLS connections (`--scenario idle
# --server-pid`: VmRSS growth per connection). Prints every run and the medians.
# Needs: cargo (unless --no-build), openssl, haproxy, taskset, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3 DURATION=5 CONNS=16 IDLE=0 BUILD=1 SCENARIO=keepalive
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --connections) CONNS=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --scenario) SCENARIO=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "cpu-split.sh: unknown option $1" >&2; exit 64 ;;
    esac
    shift
done
case $SCENARIO in keepalive | bulk) ;; *) echo "cpu-split.sh: --scenario keepalive|bulk" >&2; exit 64 ;; esac
export PATH=$PATH:/usr/sbin
NAME=cpu-split
. "$ROOT/bench/lib.sh"
bench_need openssl haproxy taskset python3
[ "$(nproc)" -ge 2 ] || { echo "cpu-split.sh: needs CPUs 0 and 1" >&2; exit 69; }
if [ "$BUILD" = 1 ]; then bench_build; fi
bench_setup

start_origin 0

start_server() { # name port -> SERVER_PID
    local name=$1 port=$2
    if [ "$name" = tlsterm ]; then
        cat >"$WORK/tlsterm.toml" <<EOF
[[listener]]
address = "127.0.0.1:$port"
[shards]
cpus = [1]
[[certificate]]
pem = "$WORK/ecdsa.pem"
[upstream]
address = "127.0.0.1:$ORIGIN"
[timeouts]
header = "120s"
[log]
access = "off"
[admin]
address = "off"
EOF
        taskset -c 1 "$TLSTERM" run --config "$WORK/tlsterm.toml" >"$WORK/tlsterm.log" 2>&1 &
    else
        cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    cpu-map 1/1 1
    maxconn 9000
    tune.ssl.cachesize 20000
defaults
    mode http
    option http-keep-alive
    timeout connect 3s
    timeout client 120s
    timeout server 180s
    timeout http-keep-alive 120s
    timeout http-request 120s
frontend fe
    bind 127.0.0.1:$port ssl crt $WORK/ecdsa.pem alpn http/1.1 backlog 4096
    default_backend be
backend be
    http-reuse always
    server origin 127.0.0.1:$ORIGIN
EOF
        taskset -c 1 haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
    fi
    SERVER_PID=$!
    wait_port "$port" "$SERVER_PID" || { echo "cpu-split.sh: $name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1; }
}

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

RESULTS=$WORK/results.txt
: >"$RESULTS"
for run in $(seq "$RUNS"); do
    for name in tlsterm haproxy; do
        port=$(free_port)
        start_server "$name" "$port"
        # Ticks over the measured window only: sampled after the warm-up, before the end.
        taskset -c 0 "$LOADTEST" --target "127.0.0.1:$port" --insecure-skip-verify --cpus 0 \
            --json --quiet --scenario "$SCENARIO" --connections "$CONNS" --warmup 1s \
            --duration "$((DURATION + 2))s" >"$WORK/ka.json" 2>"$WORK/ka.txt" &
        lt=$!
        sleep 2
        a=$(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
        sleep "$DURATION"
        b=$(cut -d' ' -f14,15 "/proc/$SERVER_PID/stat")
        wait "$lt"
        stop_server
        python3 - "$name" "$run" "$a" "$b" "$DURATION" "$WORK/ka.json" "$(getconf CLK_TCK)" "$SCENARIO" >>"$RESULTS" <<'EOF'
import json, sys
name, run, a, b, dur, path, hz, scenario = sys.argv[1:]
ua, sa = map(int, a.split()); ub, sb = map(int, b.split())
d = json.load(open(path))
rate = d["throughput_per_s"]  # requests/s over loadtest's window, which covers ours
reqs = rate * float(dur)
if scenario == "bulk":  # per MB (10^6 bytes) of 1 MiB bodies
    reqs *= 1.048576
us = 1e6 / int(hz)
print(f"ka {name} {run} {rate:.0f} {(ub-ua)*us/reqs:.1f} {(sb-sa)*us/reqs:.1f}")
EOF
        if [ "$IDLE" -gt 0 ]; then
            port=$(free_port)
            start_server "$name" "$port"
            taskset -c 0 "$LOADTEST" --target "127.0.0.1:$port" --insecure-skip-verify --cpus 0 \
                --server-pid "$SERVER_PID" --server-cpus 1 --json --quiet --scenario idle \
                --connections "$IDLE" --duration 4000ms --timeout 60s >"$WORK/idle.json" 2>"$WORK/idle.txt"
            stop_server
            python3 - "$name" "$run" "$WORK/idle.json" >>"$RESULTS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[3]))
print(f"idle {sys.argv[1]} {sys.argv[2]} {d['idle_up']} {d['server_rss_per_conn_kib']:.2f}")
EOF
        fi
        tail -n "$([ "$IDLE" -gt 0 ] && echo 2 || echo 1)" "$RESULTS"
    done
done
python3 - "$RESULTS" "$SCENARIO" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
unit = "MB" if len(sys.argv) > 2 and sys.argv[2] == "bulk" else "request"
print(f"\nmedians (req/s, user µs/{unit}, kernel µs/{unit}; idle: KiB per connection)")
for name in ("tlsterm", "haproxy"):
    ka = [r for r in rows if r[0] == "ka" and r[1] == name]
    idle = [r for r in rows if r[0] == "idle" and r[1] == name]
    line = f"{name:8} req/s {med([float(r[3]) for r in ka]):8.0f}  user {med([float(r[4]) for r in ka]):5.1f}  kernel {med([float(r[5]) for r in ka]):5.1f}"
    if idle:
        line += f"  idle {med([float(r[4]) for r in idle]):5.2f} KiB/conn"
    print(line)
EOF
