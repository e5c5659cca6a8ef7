#!/usr/bin/env bash
# Smoke run of every loadtest scenario against a real tlsterm (the demo: throwaway certs and
# the built-in origin), a few seconds each, asserting non-zero throughput and zero errors.
# Called by ci/test.sh after the test suite. Loopback only; everything stops at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p tlsterm -p loadtest --bins >/dev/null
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
./target/release/tlsterm demo --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
    grep -q '^tlsterm: ready' "$work/err" && break
    sleep 0.1
done
addr="$(sed -n 's/^tlsterm: listening on //p' "$work/err" | head -n1)"
[ -n "$addr" ] || { echo "tlsterm demo did not start:"; cat "$work/err"; exit 1; }

failed=0
passed=0
for scenario in keepalive handshake resume bulk idle h2; do
    extra=()
    case "$scenario" in
        bulk) extra=(--path /bytes/1048576 --connections 2) ;;
        idle) extra=(--connections 200) ;;
    esac
    if out="$(./target/release/loadtest --scenario "$scenario" --target "$addr" \
            --insecure-skip-verify --cpus 0 --duration 2s --quiet --json "${extra[@]}" 2>&1)"; then
        if grep -q '"errors": *0\b\|"errors":0\b' <<<"$out" || grep -q '^errors: 0$' <<<"$out"; then
            echo "loadtest $scenario: ok"
            passed=$((passed + 1))
            continue
        fi
    fi
    echo "loadtest $scenario: FAILED"
    echo "$out" | tail -n 20
    failed=$((failed + 1))
done
echo "loadtest smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
