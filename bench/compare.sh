#!/usr/bin/env bash
# bench/compare.sh — tlsterm side by side with HAProxy, nginx, hitch and Sōzu as TLS terminators.
#
# Same certificates (ECDSA P-256 and RSA-2048 chains with OCSP staples, made once per invocation
# with openssl), the same backend (`loadtest origin` on CPU 0), the same pinning (the server on
# CPU 1, loadtest on CPU 0), measured with `loadtest --server-pid`: server-core µs per operation
# first, throughput second. Also runs bench/ceiling (the rustls+ring in-memory limit). Writes
# bench/results/<timestamp>.{md,json,svg} and latest.{md,json,svg} (bench/report.py does the
# arithmetic). Loopback only; everything it starts is stopped on exit. See bench/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/compare.sh [options]

  --quick            1 run, 1 s windows, 1k idle connections: under 2 minutes once built
  --runs N           runs of every measurement (default 3; medians are reported)
  --duration SECS    measured window per measurement (default 10; --quick 1)
  --warmup SECS      warm-up before each window (default 2; --quick 0.3)
  --idle-conns N     connections held for the idle/RSS measurement (default 10000; --quick 1000)
  --rate R           open-loop keep-alive rate in req/s (default: half of tlsterm's closed-loop
                     rate in the first run, rounded down to 500, at least 500; then fixed for
                     every server and run)
  --servers LIST     comma-separated subset of tlsterm,haproxy,nginx,hitch,sozu (default:
                     tlsterm and every peer that is installed)
  --install-peers    apt-get update, then apt-get install haproxy nginx hitch (without starting
                     their services); and Sōzu from crates.io when it is not on the PATH
                     (`cargo install --locked sozu@SOZU_VERSION`, about 10 minutes on 2 cores)
  --no-build         do not run cargo build (use target/release and bench/ceiling/target)
  --out DIR          results directory (default bench/results)
  --keep-work        keep the work directory (configs, certificates, raw loadtest JSON, logs)
  -h, --help         this text

Pinning: CPU 0 = loadtest + origin, CPU 1 = the server under test (needs CPUs 0 and 1).
Needs openssl, taskset, ss, python3, and cargo unless --no-build; root for --install-peers.
Every server is reached with SNI `localhost` (Sōzu picks its certificate by SNI only).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RUNS=3 DURATION=10 WARMUP=2 IDLE_CONNS=10000 RATE=auto SERVERS="" INSTALL=0 BUILD=1
QUICK=0 OUT=$BENCH/results KEEP=0 CEIL_RUNS=5 CEIL_SECONDS=1
# The Sōzu release measured (issue #9 quotes 2.3); --install-peers builds it from crates.io.
SOZU_VERSION=2.3.3
EXPLICIT=" "

need_value() { [ $# -ge 2 ] || { echo "compare.sh: $1 needs a value" >&2; exit 64; }; }
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --runs | --duration | --warmup | --idle-conns | --rate | --servers | --out)
        need_value "$@"
        EXPLICIT+="$1 "
        case "$1" in
        --runs) RUNS=$2 ;;
        --duration) DURATION=$2 ;;
        --warmup) WARMUP=$2 ;;
        --idle-conns) IDLE_CONNS=$2 ;;
        --rate) RATE=$2 ;;
        --servers) SERVERS=${2//,/ } ;;
        --out) OUT=$2 ;;
        esac
        shift
        ;;
    --install-peers) INSTALL=1 ;;
    --no-build) BUILD=0 ;;
    --keep-work) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    [[ $EXPLICIT == *" --runs "* ]] || RUNS=1
    [[ $EXPLICIT == *" --duration "* ]] || DURATION=1
    [[ $EXPLICIT == *" --warmup "* ]] || WARMUP=0.2
    [[ $EXPLICIT == *" --idle-conns "* ]] || IDLE_CONNS=1000
    CEIL_RUNS=3 CEIL_SECONDS=0.15
fi
ms() { python3 -c "import sys; print(int(round(float(sys.argv[1]) * 1000)))" "$1"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
is_secs() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
is_uint "$RUNS" || { echo "compare.sh: --runs must be a positive integer" >&2; exit 64; }
is_uint "$IDLE_CONNS" || { echo "compare.sh: --idle-conns must be a positive integer" >&2; exit 64; }
if ! is_secs "$DURATION" || [ "$(ms "$DURATION")" = 0 ]; then echo "compare.sh: bad --duration" >&2; exit 64; fi
is_secs "$WARMUP" || { echo "compare.sh: bad --warmup" >&2; exit 64; }
[ "$RATE" = auto ] || is_uint "$RATE" || { echo "compare.sh: --rate must be auto or a positive integer" >&2; exit 64; }
[ "$IDLE_CONNS" -le 25000 ] || { echo "compare.sh: --idle-conns above 25000 runs out of loopback ports" >&2; exit 64; }

T0=${EPOCHREALTIME:-0}
log() { printf 'compare [%6ss] %s\n' "$(awk -v a="${EPOCHREALTIME:-0}" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')" "$*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: every process started here is remembered and stopped on exit, whatever the exit.
WORK=$(mktemp -d /tmp/tlsterm-bench.XXXXXX)
STARTED=()
POLICY_RC_CREATED=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${STARTED[@]:-}"; do
        if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
    done
    for p in "${STARTED[@]:-}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget() { # pid: no longer ours to stop
    local i
    for i in "${!STARTED[@]}"; do [ "${STARTED[$i]}" = "$1" ] && unset "STARTED[$i]"; done
    return 0
}

# ---------------------------------------------------------------------------------------------
# Preconditions, peers, builds.
[ -d /sys/devices/system/cpu/cpu1 ] || die "needs CPUs 0 and 1"
for t in openssl taskset ss python3; do command -v "$t" >/dev/null || die "$t not found"; done

if [ "$INSTALL" = 1 ]; then
    [ "$(id -u)" = 0 ] || die "--install-peers needs root"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # Debian starts a package's service on install; the benchmark starts its own instances.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        POLICY_RC_CREATED=1
    fi
    log "apt-get update; apt-get install haproxy nginx hitch"
    apt-get update -qq >"$WORK/apt.log" 2>&1 || die "apt-get update failed (see $WORK/apt.log)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy nginx hitch >>"$WORK/apt.log" 2>&1 ||
        die "apt-get install failed: $(tail -3 "$WORK/apt.log")"
    if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
    if ! command -v sozu >/dev/null 2>&1; then
        # Its build compiles a .proto file: Debian's protobuf-compiler provides protoc.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >>"$WORK/apt.log" 2>&1 ||
            die "apt-get install protobuf-compiler failed: $(tail -3 "$WORK/apt.log")"
        log "cargo install --locked sozu@$SOZU_VERSION (crates.io, into ~/.cargo/bin)"
        CARGO_TARGET_DIR=$WORK/sozu-target cargo install --locked "sozu@$SOZU_VERSION" >"$WORK/sozu-install.log" 2>&1 ||
            die "cargo install sozu failed: $(tail -3 "$WORK/sozu-install.log")"
        rm -rf "$WORK/sozu-target"
    fi
fi

PEERS="haproxy nginx hitch sozu"
installed() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if [ -z "$SERVERS" ]; then
    SERVERS=tlsterm
    for p in $PEERS; do installed "$p" && SERVERS+=" $p"; done
fi
for s in $SERVERS; do
    case " tlsterm $PEERS " in
    *" $s "*) [ "$s" = tlsterm ] || installed "$s" || die "$s is not installed (try --install-peers)" ;;
    *) die "unknown server $s" ;;
    esac
done
export PATH=$PATH:/usr/sbin

if [ "$BUILD" = 1 ]; then
    log "cargo build --release (loadtest, tlsterm, bench/ceiling)"
    (cd "$ROOT" && cargo build --release -q -p loadtest && cargo build --release -q --bin tlsterm) ||
        die "cargo build failed"
    cargo build --release -q --manifest-path "$BENCH/ceiling/Cargo.toml" || die "ceiling build failed"
fi
LOADTEST=$ROOT/target/release/loadtest
TLSTERM=$ROOT/target/release/tlsterm
CEILING=$BENCH/ceiling/target/release/ceiling
for b in "$LOADTEST" "$TLSTERM" "$CEILING"; do [ -x "$b" ] || die "$b missing (build first)"; done

# Plenty of descriptors for the idle run (children inherit the limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
# Every server must hold the idle connections within this limit: hitch needs two descriptors
# per connection (client and backend), HAProxy reserves two per connection (maxconn).
MAX_IDLE=$(((NOFILE - 500) / 2))
if [ "$IDLE_CONNS" -gt "$MAX_IDLE" ]; then
    log "idle connections lowered from $IDLE_CONNS to $MAX_IDLE: the descriptor limit is $NOFILE (ulimit -Hn)"
    IDLE_CONNS=$MAX_IDLE
fi

# ---------------------------------------------------------------------------------------------
# Certificates: one CA and one leaf per key type, chain + key PEMs, OCSP responses from
# `openssl ocsp` answering a request file (no responder, no network).
CERTS=$WORK/certs
mkdir -p "$CERTS"
OCSP=on
make_cert() { # ecdsa|rsa
    local t=$1 kg
    if [ "$t" = ecdsa ]; then kg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else kg=(-newkey rsa:2048); fi
    (
        cd "$CERTS"
        openssl req -x509 "${kg[@]}" -nodes -keyout "$t-ca.key" -out "$t-ca.pem" -days 30 \
            -subj "/CN=tlsterm bench $t CA" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req "${kg[@]}" -nodes -keyout "$t-leaf.key" -out "$t-leaf.csr" -subj /CN=localhost
        {
            echo "subjectAltName=DNS:localhost,IP:127.0.0.1"
            echo "basicConstraints=CA:FALSE"
            if [ "$t" = rsa ]; then echo "keyUsage=critical,digitalSignature,keyEncipherment"; else echo "keyUsage=critical,digitalSignature"; fi
            echo "extendedKeyUsage=serverAuth"
        } >"$t-ext.cnf"
        openssl x509 -req -in "$t-leaf.csr" -CA "$t-ca.pem" -CAkey "$t-ca.key" -CAcreateserial \
            -days 30 -extfile "$t-ext.cnf" -out "$t-leaf.pem"
        openssl pkey -in "$t-leaf.key" -out "$t-leaf.p8"
        cat "$t-leaf.pem" "$t-ca.pem" "$t-leaf.p8" >"$t.pem"
        local serial
        serial=$(openssl x509 -in "$t-leaf.pem" -noout -serial | cut -d= -f2)
        printf 'V\t%s\t\t%s\tunknown\t/CN=localhost\n' "$(date -u -d '+30 days' +%y%m%d%H%M%SZ)" "$serial" >"$t-index.txt"
        openssl ocsp -issuer "$t-ca.pem" -cert "$t-leaf.pem" -no_nonce -reqout "$t-req.der"
        openssl ocsp -index "$t-index.txt" -CA "$t-ca.pem" -rsigner "$t-ca.pem" -rkey "$t-ca.key" \
            -reqin "$t-req.der" -respout "$t.pem.ocsp" -ndays 2
        openssl ocsp -respin "$t.pem.ocsp" -issuer "$t-ca.pem" -CAfile "$t-ca.pem" -cert "$t-leaf.pem" |
            grep -q ': good'
    ) >>"$WORK/certs.log" 2>&1
}
log "certificates: ECDSA P-256 and RSA-2048 chains, OCSP staples"
for t in ecdsa rsa; do
    make_cert "$t" || { OCSP=off; log "OCSP staple for $t failed, staples skipped (see certs.log)"; }
    [ -s "$CERTS/$t.pem" ] || die "certificate generation failed: $(tail -5 "$WORK/certs.log")"
done
if [ "$OCSP" = off ]; then rm -f "$CERTS"/*.ocsp; fi

# ---------------------------------------------------------------------------------------------
# Ports and process helpers.
port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
pick_port() {
    local p=$((20000 + RANDOM % 20000))
    while ! port_free "$p"; do p=$((p + 1)); done
    echo "$p"
}
wait_listen() { # port pid what
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        port_free "$1" || return 0
        sleep 0.1
    done
    return 1
}
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}
vmrss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
child_of() { # parent pid: its first child, waiting up to 5 s
    local c
    for _ in $(seq 50); do
        c=$(pgrep -P "$1" | head -1 || true)
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.1
    done
    return 1
}

ORIGIN_PORT=$(pick_port)
taskset -c 0 "$LOADTEST" origin --listen "127.0.0.1:$ORIGIN_PORT" --cpus 0 >"$WORK/origin.log" 2>&1 &
ORIGIN_PID=$!
STARTED+=("$ORIGIN_PID")
wait_listen "$ORIGIN_PORT" "$ORIGIN_PID" || die "loadtest origin did not start: $(cat "$WORK/origin.log")"
SERVER_PORT=$(pick_port)
while [ "$SERVER_PORT" = "$ORIGIN_PORT" ]; do SERVER_PORT=$(pick_port); done

CIPHERS12=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305
CIPHERS13=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

# Every server waits 120 s for a connection's first request (tlsterm's `timeouts.header`, HAProxy's
# `timeout http-request`, nginx's `client_header_timeout`; hitch has none), so the idle run's
# connections, which never send one, are held for its whole window (tlsterm's default is 10 s).
# start_server NAME CERT: writes the config, starts the server pinned to CPU 1, and sets
# MAIN_PID (what to stop) and MEASURE_PID (what loadtest charges: the process doing the work).
start_server() {
    local name=$1 cert=$2 dir=$WORK/$1-$2 pem=$CERTS/$2.pem
    mkdir -p "$dir"
    case "$name" in
    tlsterm)
        cat >"$dir/tlsterm.toml" <<EOF
[[listener]]
address = "127.0.0.1:$SERVER_PORT"
[shards]
cpus = [1]
[[certificate]]
pem = "$pem"
[upstream]
address = "127.0.0.1:$ORIGIN_PORT"
[timeouts]
header = "120s"
[log]
access = "off"
EOF
        taskset -c 1 "$TLSTERM" run --config "$dir/tlsterm.toml" >"$dir/log" 2>&1 &
        MAIN_PID=$! MEASURE_PID=$!
        ;;
    haproxy)
        cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    cpu-map 1/1 1
    maxconn $(((NOFILE - 200) / 2))
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers $CIPHERS12
    ssl-default-bind-ciphersuites $CIPHERS13
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
    bind 127.0.0.1:$SERVER_PORT ssl crt $pem alpn h2,http/1.1 backlog 4096
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend be
backend be
    http-reuse always
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
        taskset -c 1 haproxy -f "$dir/haproxy.cfg" -db >"$dir/log" 2>&1 &
        MAIN_PID=$! MEASURE_PID=$!
        ;;
    nginx)
        mkdir -p "$dir/tmp"
        local stapling=""
        [ "$OCSP" = on ] && stapling="ssl_stapling on; ssl_stapling_file $pem.ocsp;"
        cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
worker_cpu_affinity 10;
worker_rlimit_nofile $NOFILE;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((NOFILE - 100)); }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_header_timeout 120s;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 128;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$SERVER_PORT ssl http2 backlog=4096;
        ssl_certificate $pem;
        ssl_certificate_key $pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers $CIPHERS12;
        ssl_conf_command Ciphersuites $CIPHERS13;
        ssl_prefer_server_ciphers on;
        ssl_session_cache shared:SSL:20m;
        ssl_session_tickets on;
        $stapling
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_buffer_size 16k;
            proxy_buffers 64 16k;
            proxy_busy_buffers_size 64k;
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
        taskset -c 1 nginx -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/log" 2>&1 &
        MAIN_PID=$!
        MEASURE_PID=$(child_of "$MAIN_PID") || MEASURE_PID=""
        ;;
    hitch)
        local staple="" user=nobody group=nogroup
        [ "$OCSP" = on ] && staple="ocsp-resp-file = \"$pem.ocsp\""
        # hitch refuses to run its workers as root; it reads the certificates before it drops.
        if id _hitch >/dev/null 2>&1; then user=_hitch group=$(id -gn _hitch); fi
        cat >"$dir/hitch.conf" <<EOF
frontend = "[127.0.0.1]:$SERVER_PORT"
backend = "[127.0.0.1]:$ORIGIN_PORT"
workers = 1
daemon = off
backlog = 4096
tls-protos = TLSv1.2 TLSv1.3
ciphers = "$CIPHERS12"
ciphersuites = "$CIPHERS13"
prefer-server-ciphers = on
alpn-protos = "http/1.1"
user = "$user"
group = "$group"
ocsp-dir = ""
log-level = 1
pem-file = {
    cert = "$pem"
    $staple
}
EOF
        taskset -c 1 hitch --config="$dir/hitch.conf" >"$dir/log" 2>&1 &
        MAIN_PID=$!
        MEASURE_PID=$(child_of "$MAIN_PID") || MEASURE_PID=""
        ;;
    sozu)
        # One worker process (the main process only supervises it); rustls on ring with Sōzu's
        # defaults (four TLS 1.3 tickets per handshake). Sōzu does not staple OCSP responses.
        # It refuses max_connections above half the descriptor limit (two per connection).
        cat >"$dir/sozu.toml" <<EOF
command_socket = "$dir/sozu.sock"
log_level = "error"
log_target = "stdout"
worker_count = 1
worker_automatic_restart = false
handle_process_affinity = false
max_connections = $(((NOFILE - 200) / 2))
max_buffers = $((NOFILE - 200))
buffer_size = 16393
activate_listeners = true
front_timeout = 120
request_timeout = 120

[[listeners]]
protocol = "https"
address = "127.0.0.1:$SERVER_PORT"
alpn_protocols = ["h2", "http/1.1"]
front_timeout = 120
request_timeout = 120

[clusters.origin]
protocol = "http"
frontends = [
  { address = "127.0.0.1:$SERVER_PORT", hostname = "localhost", certificate = "$CERTS/$cert-leaf.pem", key = "$CERTS/$cert-leaf.p8", certificate_chain = "$CERTS/$cert-ca.pem" }
]
backends = [ { address = "127.0.0.1:$ORIGIN_PORT" } ]
EOF
        taskset -c 1 sozu start --config "$dir/sozu.toml" >"$dir/log" 2>&1 &
        MAIN_PID=$!
        MEASURE_PID=$(child_of "$MAIN_PID") || MEASURE_PID=""
        ;;
    esac
    STARTED+=("$MAIN_PID")
    if [ -z "$MEASURE_PID" ] || ! wait_listen "$SERVER_PORT" "$MAIN_PID"; then
        die "$name ($cert) did not start: $(tail -5 "$dir/log" "$dir/error.log" 2>/dev/null)"
    fi
}

# check_staple NAME CERT: does the server staple the OCSP response? (first run only; one
# openssl s_client connection before any measurement). Recorded in meta.env as staple_NAME_CERT.
check_staple() {
    [ "$OCSP" = on ] || return 0
    local got=no
    if timeout 5 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -servername localhost -status \
        </dev/null 2>/dev/null | grep -q 'OCSP Response Status: successful'; then got=yes; fi
    echo "staple_$1_$2=$got" >>"$WORK/meta.env"
    [ "$got" = yes ] || log "WARNING: $1 ($2) did not staple the OCSP response"
}

# ---------------------------------------------------------------------------------------------
# Measurements. Each writes $RAW/<run>/<server>/<test>.json (loadtest --json).
RAW=$WORK/raw
DUR_MS=$(ms "$DURATION")
WARM_MS=$(ms "$WARMUP")
# test name | certificate | loadtest arguments (the open-loop rate is added when it is known)
TESTS_ECDSA=(
    "hs13_ecdsa|--scenario handshake --tls 1.3 --no-request --connections 16"
    "hs12_ecdsa|--scenario handshake --tls 1.2 --no-request --connections 16"
    "res13|--scenario resume --tls 1.3 --no-request --connections 16"
    "res12|--scenario resume --tls 1.2 --no-request --connections 16"
    "ka|--scenario keepalive --connections 16"
    "ka_open|--scenario keepalive --connections 64"
    "bulk|--scenario bulk --connections 4 --path /bytes/1048576"
    "h2|--scenario h2 --connections 50 --streams 10"
)
TESTS_RSA=(
    "hs13_rsa|--scenario handshake --tls 1.3 --no-request --connections 16"
    "hs12_rsa|--scenario handshake --tls 1.2 --no-request --connections 16"
)

run_loadtest() { # out.json args...: the common flags, server pid and pinning
    local out=$1
    shift
    local rc=0
    taskset -c 0 "$LOADTEST" --target "127.0.0.1:$SERVER_PORT" --sni localhost --insecure-skip-verify --cpus 0 \
        --server-pid "$MEASURE_PID" --server-cpus 1 --json --quiet --max-errors 1000000000 \
        "$@" >"$out" 2>"${out%.json}.txt" || rc=$?
    if [ "$rc" != 0 ] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null; then
        log "loadtest failed (rc $rc): $(tail -3 "${out%.json}.txt")"
        rm -f "$out"
        return 1
    fi
}

summary() { # file.json: one line for the progress log
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
us = d.get("server_us_per_mb") if d["scenario"] == "bulk" else d.get("server_us_per_op")
rate = d.get("body_mb_per_s") if d["scenario"] == "bulk" else d.get("throughput_per_s")
unit = "MB/s" if d["scenario"] == "bulk" else "/s"
f = lambda x: "-" if x is None else f"{x:.1f}"
extra = " CLIENT-BOUND" if d.get("client_bound") else ""
print(f"{f(rate)} {unit}, server {f(us)} µs/op, p99 {d['latency_ms']['p99']} ms, errors {d['errors']['total']}{extra}")
EOF
}

measure() { # run server test args...
    local run=$1 server=$2 test=$3
    shift 3
    local out=$RAW/$run/$server/$test.json
    mkdir -p "$(dirname "$out")"
    if run_loadtest "$out" "$@"; then
        log "  run $run $server $test: $(summary "$out")"
    else
        log "  run $run $server $test: FAILED"
    fi
}

# The idle run: a fresh server, VmRSS before, the peak while the connections are held.
measure_idle() { # run server
    local run=$1 server=$2 out=$RAW/$1/$2/idle.json
    mkdir -p "$(dirname "$out")"
    start_server "$server" ecdsa
    sleep 0.3
    local before hold_ms peak=0 r
    before=$(vmrss_kib "$MEASURE_PID")
    hold_ms=$((DUR_MS + IDLE_CONNS * 2))  # the window includes opening them: allow 500 handshakes/s
    run_loadtest "$out" --scenario idle --connections "$IDLE_CONNS" --duration "${hold_ms}ms" --timeout 60s &
    local lt=$!
    while kill -0 "$lt" 2>/dev/null; do
        r=$(vmrss_kib "$MEASURE_PID")
        [ "${r:-0}" -gt "$peak" ] && peak=$r
        sleep 0.1
    done
    local ok=0
    wait "$lt" || ok=1
    printf '{"before_kib": %s, "peak_kib": %s, "connections": %s}\n' "$before" "$peak" "$IDLE_CONNS" >"${out%.json}.rss.json"
    if [ "$ok" = 0 ]; then
        log "  run $run $server idle: $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['idle_up']} up, VmRSS $before -> $peak KiB peak, {($peak-$before)/max(1,d['idle_up']):.1f} KiB/conn\")" "$out")"
    else
        log "  run $run $server idle: FAILED"
    fi
    stop_pid "$MAIN_PID"
}

pick_rate() { # from tlsterm's closed-loop keep-alive run
    local f=$1
    python3 - "$f" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["throughput_per_s"] or 0
print(max(500, int(r / 2 // 500 * 500)))
EOF
}

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpus=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "tlsterm=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)"
    echo "openssl=$(openssl version | cut -d' ' -f2)"
    for s in $SERVERS; do
        case "$s" in
        haproxy) echo "haproxy=$(haproxy -v | head -1 | awk '{print $3}')" ;;
        nginx) echo "nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')" ;;
        hitch) echo "hitch=$(hitch --version 2>&1 | awk '{print $2}')" ;;
        sozu) echo "sozu=$(sozu --version 2>&1 | awk '{print $2}')" ;;
        esac
    done
    echo "runs=$RUNS"
    echo "duration_s=$DURATION"
    echo "warmup_s=$WARMUP"
    echo "idle_conns=$IDLE_CONNS"
    echo "ocsp=$OCSP"
    echo "quick=$QUICK"
    echo "servers=$SERVERS"
    echo "origin_rings=$(sed -n 's/^loadtest origin: \(.*io_uring: .*\)/\1/p' "$WORK/origin.log" | head -1)"
} >"$WORK/meta.env"

START_TS=$(date +%s)
log "servers: $SERVERS; $RUNS run(s) x ${DURATION}s (+${WARMUP}s warm-up); idle at $IDLE_CONNS connections"
log "ceiling (rustls+ring in memory, CPU 1)"
taskset -c 1 "$CEILING" --ecdsa "$CERTS/ecdsa.pem" --rsa "$CERTS/rsa.pem" --runs "$CEIL_RUNS" \
    --seconds "$CEIL_SECONDS" --json >"$WORK/ceiling.json" 2>"$WORK/ceiling.log" ||
    { log "ceiling failed: $(cat "$WORK/ceiling.log")"; echo '{}' >"$WORK/ceiling.json"; }

for run in $(seq "$RUNS"); do
    # Servers in a rotated order each run, so a drift in the machine's load is not always
    # charged to the same one.
    read -ra all <<<"$SERVERS"
    order=()
    n=${#all[@]}
    for i in $(seq 0 $((n - 1))); do
        order+=("${all[$(((i + run - 1) % n))]}")
    done
    if [ "$RATE" = auto ] && [ "$run" = 1 ]; then
        # tlsterm first in the first run: its closed-loop rate fixes the open-loop rate.
        rest=()
        for s in "${order[@]}"; do [ "$s" = tlsterm ] || rest+=("$s"); done
        order=()
        case " $SERVERS " in *" tlsterm "*) order=(tlsterm) ;; esac
        order+=("${rest[@]}")
    fi
    for server in "${order[@]}"; do
        start_server "$server" ecdsa
        [ "$run" = 1 ] && check_staple "$server" ecdsa
        for t in "${TESTS_ECDSA[@]}"; do
            name=${t%%|*}
            args=${t#*|}
            # hitch relays bytes to an HTTP/1.1 origin: it has no HTTP/2 to measure.
            [ "$name" = h2 ] && [ "$server" = hitch ] && continue
            warm=(--warmup "${WARM_MS}ms")
            extra=()
            if [ "$name" = ka_open ]; then
                if [ "$RATE" = auto ]; then
                    [ -f "$RAW/1/tlsterm/ka.json" ] && RATE=$(pick_rate "$RAW/1/tlsterm/ka.json") || RATE=5000
                    log "open-loop rate fixed at $RATE req/s"
                fi
                extra=(--rate "$RATE")
            fi
            # shellcheck disable=SC2086
            measure "$run" "$server" "$name" $args "${extra[@]}" "${warm[@]}" --duration "${DUR_MS}ms"
        done
        stop_pid "$MAIN_PID"
        start_server "$server" rsa
        [ "$run" = 1 ] && check_staple "$server" rsa
        for t in "${TESTS_RSA[@]}"; do
            # shellcheck disable=SC2086
            measure "$run" "$server" "${t%%|*}" ${t#*|} --warmup "${WARM_MS}ms" --duration "${DUR_MS}ms"
        done
        stop_pid "$MAIN_PID"
        measure_idle "$run" "$server"
    done
done

{
    echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "rate=$RATE"
    echo "elapsed_s=$(($(date +%s) - START_TS))"
} >>"$WORK/meta.env"

mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
python3 "$BENCH/report.py" --work "$WORK" --out "$OUT" --stamp "$STAMP"
log "done in $(($(date +%s) - START_TS)) s: $OUT/$STAMP.md (latest.md, latest.json, latest.svg)"
