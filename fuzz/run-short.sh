#!/usr/bin/env bash
# Builds tlsterm's fuzz targets and runs each one for a short, fixed time (CI smoke fuzzing).
#
# Usage: fuzz/run-short.sh [SECONDS] [TARGET...]
#   SECONDS  per target, default 60 (libFuzzer -max_total_time)
#   TARGET   default: every target `cargo fuzz list` knows
#
# Works on the stable toolchain: `-s none` (no sanitizer) makes cargo-fuzz pass only stable `-C`
# flags (see README.md). Installs cargo-fuzz with `cargo install cargo-fuzz --locked` when it is
# missing, and fails (exit 1) when that, the build, or any target fails. A crash leaves its input
# in fuzz/artifacts/TARGET/ and the script prints how to reproduce it.
#
# Corpora grow in fuzz/corpus/TARGET (git-ignored); the committed seeds in fuzz/seeds/TARGET are
# read every run but never written. Runs the targets one after the other, niced.
set -euo pipefail

secs=${1:-60}
[[ $# -gt 0 ]] && shift
if ! [[ $secs =~ ^[0-9]+$ ]] || [[ $secs -eq 0 ]]; then
    echo "run-short.sh: SECONDS must be a positive integer, got '$secs'" >&2
    exit 64
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run-short.sh: cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)" >&2
    if ! cargo install cargo-fuzz --locked; then
        echo "run-short.sh: FAILED to install cargo-fuzz; fuzzing did not run" >&2
        exit 1
    fi
fi
echo "run-short.sh: $(cargo fuzz --version), $(rustc --version)"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "run-short.sh: no fuzz targets found" >&2
    exit 1
fi

# `cargo fuzz build` takes one target or none (all): build all.
if ! nice -n 10 cargo fuzz build -s none; then
    echo "run-short.sh: FAILED to build the fuzz targets" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/tlsterm-fuzz-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The config target writes its inputs under here (see fuzz_targets/config.rs).
export TLSTERM_FUZZ_TMP=$tmp

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    [[ -d seeds/$t ]] && dirs+=("seeds/$t")
    log="$tmp/$t.log"
    echo "run-short.sh: fuzzing $t for ${secs}s"
    rc=0
    nice -n 10 cargo fuzz run -s none "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    if [[ $rc -ne 0 ]]; then
        echo "run-short.sh: $t FAILED (exit $rc); last lines of its log:" >&2
        tail -n 40 "$log" >&2
        art=$(grep -o 'artifacts/[^ ]*' "$log" | tail -n 1 || true)
        [[ -n $art ]] && echo "run-short.sh: reproduce with: (cd fuzz && cargo fuzz run -s none $t $art)" >&2
        failed+=("$t")
    else
        echo "run-short.sh: $t ok: ${runs:-?} executions, ${cov:-cov: ?}"
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "run-short.sh: FAILED targets: ${failed[*]}" >&2
    exit 1
fi
echo "run-short.sh: all ${#targets[@]} targets ran ${secs}s without a crash"
