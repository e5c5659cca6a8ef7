# bench/lib.sh — shared by bench/cpu-split.sh, bench/sli-at-rate.sh, bench/steering.sh and
# bench/scaling.sh
# (sourced, not run): tool checks, the release build, a work directory cleaned on exit, a
# throwaway ECDSA P-256 certificate, free loopback ports, and waiting for a listener.
# The caller sets NAME (for messages) and ROOT (the repository) before sourcing.

bench_need() { # tool...: exits 69 naming the first missing one
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$NAME: $tool is missing" >&2; exit 69; }
    done
}

bench_build() { # builds the release tlsterm and loadtest
    (cd "$ROOT" && cargo build --release --bin tlsterm -p tlsterm && cargo build --release -p loadtest)
}

bench_setup() { # sets TLSTERM, LOADTEST, WORK (removed on exit with every pid in PIDS) and
    # writes $WORK/ecdsa.pem (chain + key, CN and SAN localhost, 2 days)
    TLSTERM=$ROOT/target/release/tlsterm
    LOADTEST=$ROOT/target/release/loadtest
    WORK=$(mktemp -d "/tmp/tlsterm-$NAME.XXXXXX")
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/k.pem" \
        -out "$WORK/c.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
    cat "$WORK/c.pem" "$WORK/k.pem" >"$WORK/ecdsa.pem"
}

free_port() { # a free loopback TCP port
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port pid: until 127.0.0.1:port accepts (10 s), or pid exits (returns 1)
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

start_origin() { # cpus: starts `loadtest origin` on a free port; sets ORIGIN
    ORIGIN=$(free_port)
    taskset -c "$1" "$LOADTEST" origin --listen "127.0.0.1:$ORIGIN" --cpus "$1" >"$WORK/origin.log" 2>&1 &
    PIDS+=($!)
    wait_port "$ORIGIN" "$!" || { echo "$NAME: loadtest origin did not start" >&2; cat "$WORK/origin.log" >&2; exit 1; }
}

bench_options() { # "$@": parses --runs N, --duration S, --no-build and -h (the script's header
    # comment, up to `set -euo`); sets RUNS (3), DURATION (5), BUILD (1)
    RUNS=3 DURATION=5 BUILD=1
    while [ $# -gt 0 ]; do
        case $1 in
        --runs) RUNS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "$NAME.sh: unknown option $1" >&2; exit 64 ;;
        esac
        shift
    done
}

start_tlsterm() { # port pin shards admin [extra]: writes $WORK/tlsterm.toml (listener on
    # 127.0.0.1:port, `[shards] cpus = shards`, the ECDSA certificate, upstream $ORIGIN, access
    # log off, `[admin] address = "admin"`; extra TOML lines go right after `cpus`: keys of
    # [shards], then any tables), starts tlsterm under `taskset -c pin` and waits for its
    # listener; sets SERVER (the pid)
    local port=$1 pin=$2 shards=$3 admin=$4 extra=${5:-}
    cat >"$WORK/tlsterm.toml" <<EOF
[[listener]]
address = "127.0.0.1:$port"
[shards]
cpus = $shards
$extra
[[certificate]]
pem = "$WORK/ecdsa.pem"
[upstream]
address = "127.0.0.1:$ORIGIN"
[log]
access = "off"
[admin]
address = "$admin"
EOF
    taskset -c "$pin" "$TLSTERM" run --config "$WORK/tlsterm.toml" >"$WORK/tlsterm.log" 2>&1 &
    SERVER=$!
    wait_port "$port" "$SERVER" || {
        echo "$NAME.sh: tlsterm did not start" >&2
        cat "$WORK/tlsterm.log" >&2
        exit 1
    }
}
