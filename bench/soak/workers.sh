# shellcheck shell=bash disable=SC2153
# Load and fault workers for bench/soak.sh (sourced, not run).
#
# Job: bounded client loops against tlsterm, each appending one line per request to its own
# result file under $RES:
#
#   KIND TARGET EXPECTED_SIZE HTTP_CODE SIZE CURL_EXIT VERDICT
#
# VERDICT is one of
#   ok           200, complete, byte-identical to the origin's pattern (cmp against $EXP/N)
#   mangled      200 and curl saw a complete message, but the size or the bytes differ
#   status:NNN   an explicit non-200 status (checked against the access log later)
#   truncated    the head arrived, the body did not complete (curl exit != 0)
#   nostatus     no response head at all (reset, refused, TLS failure, timeout)
#   aborted      (abort workers) we hung up on purpose; not judged here
#
# Every loop stops at $DEADLINE (epoch seconds) or after $MAX_ITER iterations, whichever comes
# first. Only loopback: every URL is https://localhost:$PORT resolved to 127.0.0.1.
#
# Needs from the caller: PORT WORK RES EXP DEADLINE MAX_ITER and the SIZES array.

curl_base() {
    CURL=(curl -sS --http1.1 --cacert "$WORK/ca.pem" --resolve "localhost:$PORT:127.0.0.1"
        --connect-timeout 10)
}

# judge DIR J TARGET N LINE -> prints the result line for transfer J (-w line in LINE).
judge() {
    local dir=$1 j=$2 target=$3 n=$4 line=$5 code size ec verdict
    read -r code size ec _ <<<"$line"
    code=${code:-000} size=${size:-0} ec=${ec:-99}
    if [[ $code == 000 ]]; then
        verdict=nostatus
    elif [[ $ec != 0 ]]; then
        verdict=truncated
    elif [[ $code != 200 ]]; then
        verdict=status:$code
    elif [[ $size != "$n" ]]; then
        verdict=mangled
    elif [[ $n == 0 ]]; then
        verdict=ok
    elif cmp -s "$dir/b$j" "$EXP/$n"; then
        verdict=ok
    else
        verdict=mangled
    fi
    if [[ $verdict == mangled ]]; then
        cp "$dir/b$j" "$RES/mangled-$(basename "$dir")-$j.body" 2>/dev/null || true
    fi
    echo "$KIND $target $n $code $size $ec $verdict"
}

# run_batch DIR URL-TARGETS... : one curl invocation (one connection, kept alive across the
# URLs), then one judged line per target. Targets are "SIZE:PATH".
run_batch() {
    local dir=$1
    shift
    local args=() targets=() sizes=() spec j=0
    for spec in "$@"; do
        sizes+=("${spec%%:*}")
        targets+=("${spec#*:}")
        args+=("https://localhost:$PORT${spec#*:}" -o "$dir/b$j")
        j=$((j + 1))
    done
    rm -f "$dir"/b* "$dir/w"
    "${CURL[@]}" "${EXTRA[@]}" --max-time 120 \
        -w '%{http_code} %{size_download} %{exitcode} %{num_connects}\n' \
        "${args[@]}" >"$dir/w" 2>/dev/null || true
    local lines=()
    mapfile -t lines <"$dir/w"
    for ((j = 0; j < ${#targets[@]}; j++)); do
        judge "$dir" "$j" "${targets[j]}" "${sizes[j]}" "${lines[j]:-}"
    done
}

# Keep-alive: batches of 8 GETs on one connection, /bytes/N and /chunked/N mixed.
ka_worker() {
    local id=$1 i=0
    local dir="$WORK/w/ka-$id" KIND=keepalive EXTRA=()
    mkdir -p "$dir"
    curl_base
    while ((EPOCHSECONDS < DEADLINE && i < MAX_ITER)); do
        local specs=() j n kind
        for j in 0 1 2 3 4 5 6 7; do
            n=${SIZES[RANDOM % ${#SIZES[@]}]}
            kind=bytes
            ((RANDOM % 3 == 0)) && kind=chunked
            specs+=("$n:/$kind/$n?soak=ka$id-$i-$j")
        done
        run_batch "$dir" "${specs[@]}" >>"$RES/ka-$id.txt"
        i=$((i + 1))
    done
}

# Handshakes: one new TCP + TLS connection per request; TLS 1.3 ECDSA, TLS 1.2 ECDSA, TLS 1.2 RSA.
hs_worker() {
    local id=$1 i=0
    local dir="$WORK/w/hs-$id" KIND EXTRA
    mkdir -p "$dir"
    curl_base
    while ((EPOCHSECONDS < DEADLINE && i < MAX_ITER)); do
        case $((i % 3)) in
        0) KIND=hs-tls13 EXTRA=(--tlsv1.3) ;;
        1) KIND=hs-tls12-ecdsa EXTRA=(--tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256) ;;
        2) KIND=hs-tls12-rsa EXTRA=(--tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256) ;;
        esac
        local n=${SIZES[RANDOM % ${#SIZES[@]}]}
        run_batch "$dir" "$n:/bytes/$n?soak=hs$id-$i" >>"$RES/hs-$id.txt"
        i=$((i + 1))
    done
}

# Slow upstream: the origin waits before answering (/delay/MS/...), so requests are in flight
# across reloads and the Varnish restart.
slow_worker() {
    local id=$1 i=0
    local dir="$WORK/w/slow-$id" KIND=slow EXTRA=()
    mkdir -p "$dir"
    curl_base
    local delays=(100 500 1500 3000)
    while ((EPOCHSECONDS < DEADLINE && i < MAX_ITER)); do
        local n=${SIZES[RANDOM % ${#SIZES[@]}]} d=${delays[RANDOM % ${#delays[@]}]}
        run_batch "$dir" "$n:/delay/$d/bytes/$n?soak=slow$id-$i" \
            "$n:/delay/$d/chunked/$n?soak=slow$id-$i-c" >>"$RES/slow-$id.txt"
        i=$((i + 1))
    done
}

# s_client with stdin closed after INPUT and a pause: the client hangs up mid-request.
sclient_hangup() { # INPUT PAUSE
    { printf '%b' "$1"; sleep "$2"; } |
        timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
            -CAfile "$WORK/ca.pem" -quiet -no_ign_eof >/dev/null 2>&1 || true
}

# Clients that abort: mid-request head, mid-request body, while waiting for a slow response
# head, and mid-response body.
abort_worker() {
    local id=$1 i=0
    curl_base
    while ((EPOCHSECONDS < DEADLINE && i < MAX_ITER)); do
        local t ec=0
        case $((i % 4)) in
        0)
            t="/bytes/10?soak=abort-head$id-$i"
            sclient_hangup "GET $t HTTP/1.1\r\nHost: localhost\r\nX-Partial: yes" 0.3
            echo "abort-head $t 0 - - - aborted" ;;
        1)
            t="/echo?soak=abort-body$id-$i"
            sclient_hangup "POST $t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n0123456789" 0.3
            echo "abort-body $t 0 - - - aborted" ;;
        2)
            t="/delay/3000/bytes/10?soak=abort-wait$id-$i"
            "${CURL[@]}" --max-time 0.5 -o /dev/null "https://localhost:$PORT$t" 2>/dev/null || ec=$?
            echo "abort-wait $t 10 - - $ec aborted" ;;
        3)
            t="/bytes/8388608?soak=abort-resp$id-$i"
            "${CURL[@]}" --max-time 0.5 --limit-rate 500k -o /dev/null "https://localhost:$PORT$t" \
                2>/dev/null || ec=$?
            echo "abort-resp $t 8388608 - - $ec aborted" ;;
        esac >>"$RES/abort-$id.txt"
        i=$((i + 1))
    done
}

# Malformed requests: each must be answered with an explicit status (checked: the expected one).
MALFORMED=(
    "400|bare-lf|GET /?soak=bad-bare-lf HTTP/1.1\nHost: localhost\n\n"
    "400|obs-fold|GET /?soak=bad-obs-fold HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n folded\r\n\r\n"
    "400|cl-te|POST /echo?soak=bad-cl-te HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    "400|two-cl|POST /echo?soak=bad-two-cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    "501|te-gzip|POST /echo?soak=bad-te-gzip HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
    "400|no-host|GET /?soak=bad-no-host HTTP/1.1\r\n\r\n"
    "400|bad-method|G(E)T /?soak=bad-method HTTP/1.1\r\nHost: localhost\r\n\r\n"
    "400|space-colon|GET /?soak=bad-space-colon HTTP/1.1\r\nHost : localhost\r\n\r\n"
    "400|bad-chunk|POST /echo?soak=bad-chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
    "400|garbage|\x01\x02\x03\x04 garbage \xff\xfe\r\n\r\n"
)

malformed_worker() {
    local id=$1 i=0 big_header big_uri
    big_header="GET /?soak=bad-big-header HTTP/1.1\r\nHost: localhost\r\nX-Big: $(printf 'a%.0s' {1..20000})\r\n\r\n"
    big_uri="GET /$(printf 'u%.0s' {1..10000})?soak=bad-long-uri HTTP/1.1\r\nHost: localhost\r\n\r\n"
    local cases=("${MALFORMED[@]}" "431|big-header|$big_header" "414|long-uri|$big_uri")
    while ((EPOCHSECONDS < DEADLINE && i < MAX_ITER)); do
        local c=${cases[i % ${#cases[@]}]} want name req first code verdict
        want=${c%%|*}
        c=${c#*|}
        name=${c%%|*}
        req=${c#*|}
        req=${req//soak=/soak=m$id-$i-} # unique per request, to find its access-log line
        # -quiet implies -ign_eof: s_client keeps reading until tlsterm closes or 10 s pass.
        first=$(printf '%b' "$req" |
            timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
                -CAfile "$WORK/ca.pem" -quiet 2>/dev/null | head -n 1 | tr -d '\r') || true
        if [[ $first =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]]; then
            code=${BASH_REMATCH[1]}
            verdict=status:$code
            [[ $code != "$want" ]] && verdict=unexpected:$code
        else
            code=000
            verdict=nostatus
        fi
        local tag=unknown
        [[ $req =~ (soak=[a-z0-9-]+) ]] && tag=${BASH_REMATCH[1]}
        echo "malformed-$name ?$tag $want $code - - $verdict" >>"$RES/malformed-$id.txt"
        i=$((i + 1))
    done
}
