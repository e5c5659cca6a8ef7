#!/usr/bin/env bash
# Soak test with faults: keep-alive and handshake load through tlsterm (release build) to a real
# Varnish in front of tlsterm's built-in origin, while faults are injected; then checks.
#
# Usage: bench/soak.sh [--duration 60s] [--no-build] [--loadtest auto|on|off] [--shards N]
#                      [--reload-every 10] [--restart-every 600] [--settle 20]
#                      [--rss-tolerance-pct 50] [--rss-slack-kib 16384] [--keep]
#   --duration D        load time: 60s (default, CI), 30m (the documented run), 1h, or seconds
#   --no-build          use target/release/tlsterm (and loadtest) as they are
#   --loadtest MODE     also drive `loadtest` (keepalive + handshake, open loop): auto = when it
#                       builds; on = required; off = curl/openssl only
#   --shards N          tlsterm shards (CPUs 0..N-1); default 2 when the machine has 2 CPUs
#   --reload-every S    certificate swap + SIGHUP period, seconds (default 10)
#   --restart-every S   Varnish restart period, seconds (default 600); the first restart is at
#                       min(duration/3, period), so every run has at least one
#   --settle S          after the load, how long file descriptors may take to return (default 20)
#   --keep              keep the work directory (it is always kept when a check fails)
#
# Topology (loopback only): clients --TLS--> tlsterm --unix socket--> varnishd (VCL: pass) -->
# `tlsterm origin` on 127.0.0.1:0 (deterministic bodies: /bytes/N and /chunked/N, byte i = i % 251;
# /delay/MS/... answers after MS ms).
#
# Load (bench/soak/workers.sh): 2 keep-alive curl workers (batches of 8 GETs per connection,
# Content-Length and chunked bodies, 0 B .. 1 MiB), 1 handshake worker (a new TLS 1.3 / 1.2 ECDSA /
# 1.2 RSA connection per request), 1 slow-upstream worker (/delay/100..3000/...), 1 abort worker
# (hang up mid-request head, mid-request body, while waiting for the head, mid-response body), 1
# malformed-request worker (smuggling shapes, oversized head and URI, garbage), and, with
# loadtest, an open-loop keep-alive stream (200 req/s) and handshake stream (20 conn/s).
# Faults: certificate swap (two ECDSA leaves alternate) + SIGHUP every --reload-every seconds;
# Varnish stopped and started again every --restart-every seconds; the slow upstream and aborting
# clients above.
#
# Checks (exit 1 when any fails; the summary lists each):
# - every 200 a client received is complete and byte-identical to the origin's bytes (cmp);
# - every other outcome is an explicit status that the access log shows for that request, or a
#   truncated body whose log line carries a termination code; nothing ends without a status;
#   malformed requests get a status line (a different status than expected is a warning);
# - loadtest (if used) saw no unframeable response ("parse") and no request that ended without
#   a status ("closed", "timeout");
# - no "panicked" in tlsterm's stderr, tlsterm still running at the end and stopping cleanly;
# - every SIGHUP produced a reload ("TLS state generation N in service"), none was refused, and
#   before each next swap (and at the end) tlsterm serves the leaf swapped in last;
# - RSS at the end <= RSS after warm-up * (1 + pct/100) + slack (VmRSS from /proc/PID/status);
# - open file descriptors (/proc/PID/fd) return to the pre-load baseline plus the idle upstream
#   pool allowance (max_idle_per_shard * shards) within --settle seconds after the load.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

FAILED=0 DURATION=60s BUILD=1 LOADTEST=auto SHARDS="" RELOAD_EVERY=10 RESTART_EVERY=600 SETTLE=20
RSS_TOL_PCT=50 RSS_SLACK_KIB=16384 KEEP=0 MAX_ITER=1000000 IDLE_PER_SHARD=16

die() {
    echo "soak: $*" >&2
    FAILED=1 # keep the work directory, if there is one
    exit 2
}
while [[ $# -gt 0 ]]; do
    case $1 in
    --duration) DURATION=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --loadtest) LOADTEST=${2:?}; shift 2 ;;
    --shards) SHARDS=${2:?}; shift 2 ;;
    --reload-every) RELOAD_EVERY=${2:?}; shift 2 ;;
    --restart-every) RESTART_EVERY=${2:?}; shift 2 ;;
    --settle) SETTLE=${2:?}; shift 2 ;;
    --rss-tolerance-pct) RSS_TOL_PCT=${2:?}; shift 2 ;;
    --rss-slack-kib) RSS_SLACK_KIB=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done

to_secs() {
    case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo $((${1%s})) ;;
    *) echo $(($1)) ;;
    esac
}
DUR=$(to_secs "$DURATION") || die "bad --duration '$DURATION'"
((DUR >= 10)) || die "--duration must be at least 10s"
case $LOADTEST in auto | on | off) ;; *) die "--loadtest must be auto, on or off" ;; esac
if [[ -z $SHARDS ]]; then
    SHARDS=1
    (($(nproc) >= 2)) && SHARDS=2
fi

for tool in curl openssl varnishd timeout cmp awk; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] ||
        die "$tool not found (ci/test.sh installs the tools the tests need)"
done
VARNISHD=$(command -v varnishd || echo /usr/sbin/varnishd)

# ---------------------------------------------------------------------------- build
BIN=$ROOT/target/release/tlsterm
LT=$ROOT/target/release/loadtest
if ((BUILD)); then
    echo "soak: building tlsterm (release)"
    (cd "$ROOT" && nice -n 10 cargo build --release --bin tlsterm) >&2
    if [[ $LOADTEST != off ]]; then
        echo "soak: building loadtest (release)"
        if ! (cd "$ROOT" && nice -n 10 cargo build --release -p loadtest --bin loadtest) >&2; then
            [[ $LOADTEST == on ]] && die "loadtest does not build and --loadtest on was given"
            echo "soak: loadtest does not build; curl/openssl load only" >&2
            LOADTEST=off
        fi
    fi
fi
[[ -x $BIN ]] || die "$BIN missing (run without --no-build)"
if [[ $LOADTEST != off ]] && ! [[ -x $LT ]]; then
    [[ $LOADTEST == on ]] && die "$LT missing"
    LOADTEST=off
fi
[[ $LOADTEST == auto ]] && LOADTEST=on

# ---------------------------------------------------------------------------- work dir, cleanup
WORK=$(mktemp -d /tmp/tlsterm-soak.XXXXXX)
chmod 755 "$WORK" # varnishd drops privileges and must read the VCL and reach the socket
RES=$WORK/results EXP=$WORK/expected
mkdir -p "$RES" "$EXP" "$WORK/w"
PIDS=() ORIGIN_PID="" VARNISH_PID="" TLSTERM_PID=""

stop_pid() { # PID [SIGNAL]: signal one process we started, wait up to 10 s, then SIGKILL it
    local pid=$1 sig=${2:-TERM} k
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((k = 0; k < 100; k++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    stop_pid "$TLSTERM_PID"
    stop_pid "$VARNISH_PID"
    stop_pid "$ORIGIN_PID"
    if ((KEEP || FAILED)); then
        echo "soak: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Only complete lines count: a writer may put a line out in pieces, and a half-written
# "listening on 127.0.0.1:" once left the origin port empty (varnishd then never became ready).
wait_for_line() { # FILE REGEX SECONDS PID -> prints the first matching complete line
    local file=$1 re=$2 secs=$3 pid=$4 k line text
    for ((k = 0; k < secs * 10; k++)); do
        text=$(cat "$file" 2>/dev/null; printf x)
        text=${text%x}
        text=${text%"${text##*$'\n'}"} # drop a last line that has no newline yet
        line=$(grep -m1 -E "$re" <<<"$text" || true)
        [[ -n $line ]] && { echo "$line"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "soak: no line matching '$re' in $file within ${secs}s:" >&2
    tail -n 20 "$file" >&2
    return 1
}

# ---------------------------------------------------------------------------- certificates
echo "soak: work directory $WORK"
(
    cd "$WORK"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -subj "/CN=Soak CA" -days 2 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >leaf.ext
    for leaf in ecdsa-a ecdsa-b rsa; do
        if [[ $leaf == rsa ]]; then
            openssl req -new -newkey rsa:2048 -nodes -keyout $leaf.key -subj /CN=localhost \
                -out $leaf.csr 2>/dev/null
        else
            openssl req -new "${ec[@]}" -keyout $leaf.key -subj /CN=localhost -out $leaf.csr 2>/dev/null
        fi
        openssl x509 -req -in $leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile leaf.ext -out $leaf.crt 2>/dev/null
        cat $leaf.crt ca.pem $leaf.key >$leaf.pem
    done
    cp ecdsa-a.pem ecdsa.pem
    chmod 644 ./*.pem
)

# ---------------------------------------------------------------------------- expected bodies
SIZES=(0 1 250 251 252 4096 16383 16384 16385 65536 100003 262144 1048576)
(
    cd "$EXP"
    fmt=""
    for ((b = 0; b < 251; b++)); do fmt+=$(printf '\\%03o' "$b"); done
    # shellcheck disable=SC2059 # the format is the data: octal escapes of bytes 0..250
    printf "$fmt" >block
    cp block big
    while (($(stat -c %s big) < 1048576)); do cat big big >big.2 && mv big.2 big; done
    # shellcheck disable=SC2094 # reads "big", writes "$n"
    for n in "${SIZES[@]}"; do head -c "$n" big >"$n"; done
    rm -f block big
)

# ---------------------------------------------------------------------------- origin, varnish
"$BIN" origin --listen 127.0.0.1:0 >"$WORK/origin.out" 2>"$WORK/origin.err" &
ORIGIN_PID=$!
line=$(wait_for_line "$WORK/origin.err" 'tlsterm origin: listening on' 30 "$ORIGIN_PID") ||
    die "tlsterm origin did not start"
ORIGIN_PORT=${line##*:}
[[ $ORIGIN_PORT =~ ^[0-9]+$ ]] || die "no port in the origin's line: $line"

sed -e "s/@ORIGIN_PORT@/$ORIGIN_PORT/" -e 's/first_byte_timeout = 60s/first_byte_timeout = 30s/' \
    "$ROOT/tests/vcl/echo.vcl" >"$WORK/soak.vcl"
chmod 644 "$WORK/soak.vcl"
SOCK=$WORK/varnish.sock
VARNISH_STARTS=0
start_varnish() {
    "$VARNISHD" -F -n "$WORK/varnish" -f "$WORK/soak.vcl" -a "$SOCK,mode=666" -s malloc,64m \
        -p thread_pools=1 -p thread_pool_min=20 -p timeout_idle=30 \
        >>"$WORK/varnishd.log" 2>&1 &
    VARNISH_PID=$!
    VARNISH_STARTS=$((VARNISH_STARTS + 1))
    local k code=none
    for ((k = 0; k < 300; k++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --unix-socket "$SOCK" \
            http://ready/bytes/1 2>/dev/null) || true
        [[ $code == 200 ]] && return 0
        kill -0 "$VARNISH_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$WORK/varnishd.log" >&2
    die "varnishd did not become ready (last answer through $SOCK: ${code:-none}; origin :$ORIGIN_PORT)"
}
start_varnish

# ---------------------------------------------------------------------------- tlsterm
cpus=$(seq -s ', ' 0 $((SHARDS - 1)))
cat >"$WORK/tlsterm.toml" <<EOF
[[listener]]
address = "127.0.0.1:0"

[shards]
cpus = [$cpus]

[[certificate]]
pem = "ecdsa.pem"

[[certificate]]
pem = "rsa.pem"

[upstream]
address = "unix:$SOCK"
max_idle_per_shard = $IDLE_PER_SHARD

[log]
access = "stdout"

[admin]
address = "127.0.0.1:0"
EOF
"$BIN" run --config "$WORK/tlsterm.toml" >"$WORK/access.log" 2>"$WORK/tlsterm.err" &
TLSTERM_PID=$!
wait_for_line "$WORK/tlsterm.err" '^tlsterm: ready$' 30 "$TLSTERM_PID" >/dev/null ||
    die "tlsterm did not start"
line=$(grep -m1 '^tlsterm: listening on ' "$WORK/tlsterm.err")
PORT=${line##*:}
echo "soak: origin :$ORIGIN_PORT, varnishd $SOCK, tlsterm :$PORT ($SHARDS shards, pid $TLSTERM_PID)"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$TLSTERM_PID/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$TLSTERM_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# A first request end to end, then the baselines.
curl -sS --http1.1 --cacert "$WORK/ca.pem" --resolve "localhost:$PORT:127.0.0.1" --max-time 10 \
    -o /dev/null "https://localhost:$PORT/bytes/1?soak=probe" || die "first request through tlsterm failed"
sleep 1
FD_BASE=$(fd_count)
RSS_IDLE=$(rss_kib)

# ---------------------------------------------------------------------------- load
# shellcheck source=bench/soak/workers.sh
source "$HERE/soak/workers.sh"
START=$EPOCHSECONDS
DEADLINE=$((START + DUR))
export PORT WORK RES EXP DEADLINE MAX_ITER
echo "soak: load for ${DUR}s (until $(date -d "@$DEADLINE" +%T)), loadtest: $LOADTEST"
ka_worker 1 & PIDS+=($!)
ka_worker 2 & PIDS+=($!)
hs_worker 1 & PIDS+=($!)
slow_worker 1 & PIDS+=($!)
abort_worker 1 & PIDS+=($!)
malformed_worker 1 & PIDS+=($!)
LT_PIDS=()
if [[ $LOADTEST == on ]]; then
    lt_common=(--target "127.0.0.1:$PORT" --insecure-skip-verify --duration "${DUR}s" --timeout 35s
        --max-errors 1000000000 --quiet --json)
    "$LT" "${lt_common[@]}" --scenario keepalive --connections 4 --rate 200 --path /bytes/2048 \
        --cpus 0 >"$WORK/lt-keepalive.json" 2>"$WORK/lt-keepalive.txt" &
    LT_PIDS+=($!) PIDS+=($!)
    "$LT" "${lt_common[@]}" --scenario handshake --connections 4 --rate 20 --path /bytes/512 \
        --cpus "$((SHARDS - 1))" >"$WORK/lt-handshake.json" 2>"$WORK/lt-handshake.txt" &
    LT_PIDS+=($!) PIDS+=($!)
fi

# The certificate tlsterm serves for SNI localhost (ECDSA) is leaf A or B: compare fingerprints.
fingerprint() { openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2; }
# shellcheck disable=SC2034 # FP_a and FP_b are read through ${!want} below
FP_a=$(fingerprint <"$WORK/ecdsa-a.crt") FP_b=$(fingerprint <"$WORK/ecdsa-b.crt")
CERT_CHECKS=0 CERT_WRONG=0
check_served_cert() { # a|b: 4 new connections (SO_REUSEPORT spreads them over the shards)
    local want=FP_$1 got k wrong=0 seen=""
    for k in 1 2 3 4; do
        got=$(timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
            -sigalgs ECDSA+SHA256 </dev/null 2>/dev/null | fingerprint) || true
        CERT_CHECKS=$((CERT_CHECKS + 1))
        if [[ $got != "${!want}" ]]; then
            wrong=$((wrong + 1))
            case $got in
            "$FP_a") seen+=" a" ;;
            "$FP_b") seen+=" b" ;;
            *) seen+=" none" ;;
            esac
        fi
    done
    if ((wrong > 0)); then
        CERT_WRONG=$((CERT_WRONG + wrong))
        echo "soak: [$((EPOCHSECONDS - START))s] $wrong of 4 connections did not get leaf $1, swapped in $((EPOCHSECONDS - LAST_SWAP))s ago (got:$seen)" >&2
    fi
}

# Fault loop: once a second until the deadline.
RELOADS=0 RESTARTS=0 RESTART_MS="" RSS_START="" RSS_MAX=0 LAST_SWAP=$START RSS_TIMELINE=""
sample_every=$((DUR / 10)) next_sample=$START
next_reload=$((START + RELOAD_EVERY))
first_restart=$((DUR / 3 < RESTART_EVERY ? DUR / 3 : RESTART_EVERY))
next_restart=$((START + first_restart))
warm=$((START + (DUR / 10 < 5 ? 5 : (DUR / 10 > 60 ? 60 : DUR / 10))))
cert=a
while ((EPOCHSECONDS < DEADLINE)); do
    sleep 1
    kill -0 "$TLSTERM_PID" 2>/dev/null || { echo "soak: tlsterm died during the load" >&2; break; }
    r=$(rss_kib)
    ((r > RSS_MAX)) && RSS_MAX=$r
    [[ -z $RSS_START ]] && ((EPOCHSECONDS >= warm)) && RSS_START=$r
    if ((EPOCHSECONDS >= next_sample)); then
        RSS_TIMELINE+=" $((EPOCHSECONDS - START))s:$r"
        next_sample=$((next_sample + sample_every))
    fi
    if ((EPOCHSECONDS >= next_reload)); then
        # The previous reload (RELOAD_EVERY seconds ago) must be in service by now.
        check_served_cert "$cert"
        cert=$([[ $cert == a ]] && echo b || echo a)
        cp "$WORK/ecdsa-$cert.pem" "$WORK/ecdsa.pem.new" && mv -f "$WORK/ecdsa.pem.new" "$WORK/ecdsa.pem"
        kill -HUP "$TLSTERM_PID" 2>/dev/null || true
        LAST_SWAP=$EPOCHSECONDS
        RELOADS=$((RELOADS + 1))
        next_reload=$((next_reload + RELOAD_EVERY))
    fi
    if ((EPOCHSECONDS >= next_restart && EPOCHSECONDS < DEADLINE - 3)); then
        t0=${EPOCHREALTIME/./}
        stop_pid "$VARNISH_PID"
        t1=${EPOCHREALTIME/./}
        start_varnish
        t2=${EPOCHREALTIME/./}
        RESTARTS=$((RESTARTS + 1))
        RESTART_MS+=" $(((t2 - t0) / 1000))"
        echo "soak: [$((EPOCHSECONDS - START))s] varnishd restarted: stop $(((t1 - t0) / 1000)) ms, start $(((t2 - t1) / 1000)) ms"
        next_restart=$((next_restart + RESTART_EVERY))
    fi
done
RSS_END=$(rss_kib)
RSS_START=${RSS_START:-$RSS_IDLE}
# The last swap may be a moment old: wait until every SIGHUP has been answered (10 s at most),
# then give the shards' generation watchers (100 ms poll) a second before the last check.
for ((k = 0; k < 100; k++)); do
    (($(grep -c 'reload (signal)' "$WORK/tlsterm.err" || true) >= RELOADS)) && break
    sleep 0.1
done
sleep 1
kill -0 "$TLSTERM_PID" 2>/dev/null && check_served_cert "$cert"

# Workers stop at the deadline by themselves (a request in flight may take up to 2 minutes).
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
LOAD_END=$EPOCHSECONDS

# File descriptors back to baseline (+ the idle upstream pool), within --settle seconds.
FD_ALLOW=$((FD_BASE + IDLE_PER_SHARD * SHARDS))
FD_AFTER_LOAD=$(fd_count)
FD_END=$FD_AFTER_LOAD
for ((k = 0; k < SETTLE * 2; k++)); do
    FD_END=$(fd_count)
    ((FD_END <= FD_ALLOW)) && break
    sleep 0.5
done
RSS_SETTLED=$(rss_kib)

ALIVE=1
kill -0 "$TLSTERM_PID" 2>/dev/null || ALIVE=0
# Stop tlsterm (flushes the access log) and check it stops cleanly.
TLSTERM_EXIT=0
if ((ALIVE)); then
    kill -TERM "$TLSTERM_PID"
    for ((k = 0; k < 300; k++)); do kill -0 "$TLSTERM_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$TLSTERM_PID" 2>/dev/null || TLSTERM_EXIT=$?
else
    wait "$TLSTERM_PID" 2>/dev/null || TLSTERM_EXIT=$?
fi
TLSTERM_PID=""

# ---------------------------------------------------------------------------- checks
CHECKS=()
check() { # NAME OK(0/1) DETAIL
    if [[ $2 == 1 ]]; then
        CHECKS+=("PASS  $1: $3")
    else
        CHECKS+=("FAIL  $1: $3")
        FAILED=1
    fi
}

cat "$RES"/*.txt >"$WORK/results.txt" 2>/dev/null || : >"$WORK/results.txt"
awk -f "$HERE/soak/analyze.awk" "$WORK/access.log" "$WORK/results.txt" >"$WORK/analysis.txt"
fig() { awk -v k="$1" '$1 == k {print $2; exit}' "$WORK/analysis.txt"; }
fails=$(fig fail_total)
check "responses complete, byte-identical, explicit" "$([[ ${fails:-1} == 0 ]] && echo 1 || echo 0)" \
    "$(fig results) client results, ${fails:-?} failures$(awk '$1 == "fail_count" {printf ", %s %s", $2, $3}' "$WORK/analysis.txt")"

if [[ $LOADTEST == on ]]; then
    lt_bad=0 lt_desc=""
    for s in keepalive handshake; do
        j=$WORK/lt-$s.json
        ok=$(grep -o '"ok_in_window": *[0-9]*' "$j" 2>/dev/null | head -n1 | grep -o '[0-9]*$' || echo "?")
        errs=""
        for e in total connect tls status timeout parse closed; do
            v=$(grep -o "\"$e\": *[0-9]*" "$j" 2>/dev/null | head -n1 | grep -o '[0-9]*$' || echo "?")
            errs+=" $e=$v"
            if [[ $e == parse || $e == closed || $e == timeout ]] && [[ $v != 0 ]]; then lt_bad=1; fi
        done
        lt_desc+="$s: ok=$ok errors:$errs; "
    done
    check "loadtest framing" "$((1 - lt_bad))" "$lt_desc"
fi

panics=$(grep -c 'panicked' "$WORK/tlsterm.err" || true)
check "no panic" "$([[ $panics == 0 ]] && echo 1 || echo 0)" "$panics 'panicked' lines in tlsterm stderr"
check "tlsterm alive and stops cleanly" "$([[ $ALIVE == 1 && $TLSTERM_EXIT == 0 ]] && echo 1 || echo 0)" \
    "alive at the end: $ALIVE, exit status after SIGTERM: $TLSTERM_EXIT"

in_service=$(grep -c 'reload (signal): TLS state generation' "$WORK/tlsterm.err" || true)
refused=$(grep -c 'reload (signal) refused' "$WORK/tlsterm.err" || true)
check "certificate reloads" "$([[ $refused == 0 && $in_service -ge 1 && $in_service -le $RELOADS && $CERT_WRONG == 0 ]] && echo 1 || echo 0)" \
    "$RELOADS SIGHUP sent, $in_service generations in service, $refused refused; served leaf checked on $CERT_CHECKS connections, wrong on $CERT_WRONG"

rss_limit=$((RSS_START * (100 + RSS_TOL_PCT) / 100 + RSS_SLACK_KIB))
check "RSS flat" "$([[ $RSS_END -le $rss_limit ]] && echo 1 || echo 0)" \
    "idle ${RSS_IDLE} KiB, after warm-up ${RSS_START} KiB, end ${RSS_END} KiB (limit $rss_limit), max ${RSS_MAX} KiB, settled ${RSS_SETTLED} KiB"
check "file descriptors back to baseline" "$([[ $FD_END -le $FD_ALLOW ]] && echo 1 || echo 0)" \
    "baseline $FD_BASE, right after the load $FD_AFTER_LOAD, after settling $FD_END (allowed $FD_ALLOW = baseline + $IDLE_PER_SHARD idle upstream x $SHARDS shards)"

# ---------------------------------------------------------------------------- summary
{
    echo
    echo "==== tlsterm soak summary ===="
    echo "duration ${DUR}s (load ran $((LOAD_END - START))s), shards $SHARDS, loadtest $LOADTEST"
    echo "faults: $RELOADS certificate reloads (SIGHUP), $RESTARTS Varnish restarts (down ms:${RESTART_MS:- none}), slow upstream, aborting clients, malformed requests"
    echo "client results by verdict:$(awk '$1 == "result_verdict" {printf " %s=%s", $2, $3}' "$WORK/analysis.txt")"
    echo "client results by kind:$(awk '$1 == "result_kind" {printf " %s=%s", $2, $3}' "$WORK/analysis.txt")"
    echo "access log: $(fig log_lines) lines; by termination state:$(awk '$1 == "log_termination" {printf " %s=%s", $2, $3}' "$WORK/analysis.txt" | tr ' ' '\n' | sort | tr '\n' ' ')"
    echo "access log by status:$(awk '$1 == "log_status" {printf " %s=%s", $2, $3}' "$WORK/analysis.txt" | tr ' ' '\n' | sort | tr '\n' ' '); 5xx answered by the cache itself: $(fig log_5xx_from_cache)"
    [[ $LOADTEST == on ]] && echo "loadtest: $lt_desc"
    echo "RSS KiB: idle $RSS_IDLE, start (after warm-up) $RSS_START, end $RSS_END, max $RSS_MAX, settled $RSS_SETTLED"
    echo "RSS KiB timeline:$RSS_TIMELINE"
    echo "fds: baseline $FD_BASE, after load $FD_AFTER_LOAD, settled $FD_END"
    grep -E '^(FAIL|WARN) ' "$WORK/analysis.txt" | head -n 40 || true
    printf '%s\n' "${CHECKS[@]}"
} | tee "$WORK/summary.txt"
if ((FAILED)); then
    echo "soak: FAILED (details in $WORK)" >&2
    exit 1
fi
echo "soak: all checks passed"
