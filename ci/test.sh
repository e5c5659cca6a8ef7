#!/usr/bin/env bash
# tlsterm's test entry point (called by .ci/run).
#
# 1. Makes sure the real tools the end-to-end suite drives are installed: varnishd (Varnish),
#    curl, openssl, h2load (nghttp2-client), promtool (prometheus). The tests start their own varnishd with their own
#    work directories, sockets and ports; they never rely on the distribution's varnish service
#    (if the package started one on :6081, it is simply not used).
# 2. Runs rustfmt (check only), clippy (warnings are errors) and the whole test suite.
#
# The end-to-end tests never skip: a missing tool fails them, so installing here is mandatory.
set -euo pipefail

cd "$(dirname "$0")/.."

banner() {
    printf '\n==================== %s ====================\n' "$*"
}

required_tools=(varnishd varnishstat varnishadm curl openssl h2load nghttp promtool python3)
packages=(varnish curl openssl nghttp2-client ca-certificates prometheus python3)

missing_tools() {
    local t missing=()
    for t in "${required_tools[@]}"; do
        # varnishd lives in /usr/sbin, which is not on every user's PATH.
        if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
            missing+=("$t")
        fi
    done
    echo "${missing[*]}"
}

banner "tools"
missing="$(missing_tools)"
if [ -n "$missing" ]; then
    echo "missing: $missing — installing ${packages[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "ci/test.sh: need root (or sudo) to install: ${packages[*]}" >&2
            exit 1
        fi
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
    missing="$(missing_tools)"
    if [ -n "$missing" ]; then
        echo "ci/test.sh: still missing after apt-get install: $missing" >&2
        exit 1
    fi
fi
for t in varnishd curl openssl h2load; do
    p="$(command -v "$t" 2>/dev/null || echo "/usr/sbin/$t")"
    case "$t" in
        varnishd) v="$("$p" -V 2>&1 | head -n1)" ;;
        curl) v="$("$p" --version | head -n1)" ;;
        openssl) v="$("$p" version)" ;;
        h2load) v="$("$p" --version 2>&1 | head -n1)" ;;
    esac
    echo "$t: $p ($v)"
done
# The tests look for varnishd on PATH and in the sbin directories; make both work.
export PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin"

banner "cargo fmt --all -- --check"
cargo fmt --all -- --check

banner "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

banner "cargo test --all-targets"
# Each end-to-end test starts its own varnishd and tlsterm on ephemeral ports, so tests may run
# in parallel; two at a time keeps small CI machines from timing out.
cargo test --all-targets --no-fail-fast -- --test-threads=2

banner "SLO kit: promtool check/test rules, dashboard queries against the metric list"
slo/check.sh

banner "tuning/ scripts (ticket-key rotation, NIC affinity dry runs on fake trees)"
bash tuning/tests/run.sh

banner "loadtest smoke: every scenario against tlsterm demo"
ci/loadtest-smoke.sh

banner "fuzz: every target for 30 s (cargo-fuzz on stable, -s none; installs cargo-fuzz if missing)"
fuzz/run-short.sh 30

banner "soak: 60 s of keep-alive and handshake load with faults, through tlsterm to Varnish"
bench/soak.sh --duration 60s

banner "cargo test --doc"
# --all-targets leaves out doctests.
cargo test --doc

banner "all checks passed"
