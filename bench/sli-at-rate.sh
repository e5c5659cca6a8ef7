#!/usr/bin/env bash
# bench/sli-at-rate.sh — the SLI measurement under load: an open-loop keep-alive stream at a fixed
# rate through tlsterm, then the proxy-internal latency percentiles from tlsterm's own histogram
# (`tlsterm_internal_latency_seconds`, the SLI's input) beside the client-side latency.
#
# Usage: bench/sli-at-rate.sh RATE [RATE...] [--duration 8] [--no-build]
#   e.g. bench/sli-at-rate.sh 16000 20000   (on our 2-core VM the open-loop client holds about
#        20,000 req/s at most, 55-60% of tlsterm's closed-loop maximum: see bench/README.md)
# Pinning as bench/compare.sh: tlsterm on CPU 1, loadtest and `loadtest origin` on CPU 0, 64
# connections, loopback only. The histogram's buckets bound the percentiles from above.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATES=() DURATION=8 BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
    --duration) DURATION=$2; shift ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *[!0-9]*) echo "sli-at-rate.sh: unknown option $1" >&2; exit 64 ;;
    *) RATES+=("$1") ;;
    esac
    shift
done
[ "${#RATES[@]}" -gt 0 ] || { echo "usage: bench/sli-at-rate.sh RATE [RATE...]" >&2; exit 64; }
NAME=sli-at-rate
. "$ROOT/bench/lib.sh"
bench_need openssl curl taskset python3
if [ "$BUILD" = 1 ]; then bench_build; fi
bench_setup
start_origin 0
for rate in "${RATES[@]}"; do
    port=$(free_port) admin=$(free_port)
    start_tlsterm "$port" 1 "[1]" "127.0.0.1:$admin"
    pid=$SERVER
    taskset -c 0 "$LOADTEST" --target "127.0.0.1:$port" --insecure-skip-verify --cpus 0 \
        --server-pid "$pid" --server-cpus 1 --json --quiet --scenario keepalive --connections 64 \
        --rate "$rate" --duration "${DURATION}s" --warmup 1s >"$WORK/lt.json" 2>"$WORK/lt.txt"
    curl -s "http://127.0.0.1:$admin/metrics" >"$WORK/metrics.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$rate" "$WORK/lt.json" "$WORK/metrics.txt" <<'PY'
import json, sys
rate, lt, metrics = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read()
buckets, count = [], 0.0
for line in metrics.splitlines():
    if line.startswith("tlsterm_internal_latency_seconds_count"):
        count = float(line.rsplit(" ", 1)[1])
    elif line.startswith("tlsterm_internal_latency_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
def bound(q):
    return next((le for le, c in buckets if c >= q * count), float("nan"))
l = lt["latency_ms"]
print(f"rate {rate}/s achieved {lt['throughput_per_s']:.0f}/s | client latency ms p50 {l['p50']:.3f} "
      f"p99 {l['p99']:.3f} p99.9 {l['p99_9']:.3f} | proxy-internal p50 <= {bound(0.5)*1e3:g} ms, "
      f"p99 <= {bound(0.99)*1e3:g} ms, p99.9 <= {bound(0.999)*1e3:g} ms ({count:.0f} requests)")
PY
done
