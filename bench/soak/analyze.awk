# Joins tlsterm's access log with the soak clients' results (bench/soak.sh runs this).
#
# Usage: awk -f analyze.awk ACCESS_LOG RESULTS
#
# ACCESS_LOG lines (src/log.rs):
#   ip:port [date] shardN TR/Tw/Tc/Tr/Ta STATUS BYTES TS tls/cipher/kind "METHOD host TARGET HTTP/1.x"
# RESULTS lines (bench/soak/workers.sh):
#   KIND TARGET EXPECTED_SIZE HTTP_CODE SIZE CURL_EXIT VERDICT
#
# Prints "key value" figures and "FAIL reason: detail" lines; the caller counts the FAIL lines.
# Rules (each failure is one FAIL line, at most 20 per reason are printed, all are counted):
# - mangled: a 200 that curl saw complete but whose size or bytes differ from the origin's;
# - nostatus: no response head (or, for malformed requests, no status line) at all;
# - truncated-unlogged: a body cut short without a termination code (TS "--" or no log line);
# - status-unlogged: an explicit status the access log does not show for that request (requests
#   refused before their target was parsed are logged as "- - - -": for those, malformed-*
#   results, the check is by count: no more client-seen statuses N than log lines with status N);
# - ok-unlogged: a complete 200 with no access-log line;
# - no-response-no-code: a log line with status -1 and termination state "--".
function fail(reason, detail) {
    nfail[reason]++
    if (nfail[reason] <= 20) printf "FAIL %s: %s\n", reason, detail
}
FNR == NR {
    if (NF < 8) next
    lines++
    status = $5
    ts = $7
    by_ts[ts]++
    by_status[status]++
    if (status == "-1" && ts == "--") fail("no-response-no-code", $0)
    if (status ~ /^5/ && ts == "--") cache5xx++
    target = $(NF - 1)
    i = index(target, "soak=")
    if (i > 0) {
        key = substr(target, i)
        logged[key] = logged[key] " " status "/" ts
    }
    next
}
{
    kind = $1
    target = $2
    verdict = $7
    results++
    by_verdict[verdict]++
    by_kind[kind]++
    i = index(target, "soak=")
    key = i > 0 ? substr(target, i) : target
    seen = logged[key]
    if (verdict == "mangled") fail("mangled", $0)
    else if (verdict == "nostatus") fail("nostatus", $0 " | log:" seen)
    else if (verdict == "truncated") {
        truncated++
        if (seen == "" || seen ~ / [0-9-]+\/--/) fail("truncated-unlogged", $0 " | log:" seen)
    } else if (verdict ~ /^status:/ || verdict ~ /^unexpected:/) {
        code = verdict
        sub(/^[a-z]+:/, "", code)
        if (kind ~ /^malformed-/ && seen == "") malformed[code]++
        else if (index(seen, " " code "/") == 0) fail("status-unlogged", $0 " | log:" seen)
    }
    if (verdict ~ /^unexpected:/) {
        unexpected++
        if (unexpected <= 20) printf "WARN malformed request answered with another status: %s | log:%s\n", $0, seen
    }
    if (verdict == "ok" && seen == "") fail("ok-unlogged", $0)
}
END {
    for (c in malformed)
        if (malformed[c] > by_status[c])
            fail("status-unlogged", sprintf("%d malformed requests answered %s, %d log lines with %s", malformed[c], c, by_status[c], c))
    printf "log_lines %d\n", lines
    for (t in by_ts) printf "log_termination %s %d\n", t, by_ts[t]
    for (s in by_status) printf "log_status %s %d\n", s, by_status[s]
    printf "log_5xx_from_cache %d\n", cache5xx
    printf "results %d\n", results
    for (v in by_verdict) printf "result_verdict %s %d\n", v, by_verdict[v]
    for (k in by_kind) printf "result_kind %s %d\n", k, by_kind[k]
    total = 0
    for (r in nfail) {
        printf "fail_count %s %d\n", r, nfail[r]
        total += nfail[r]
    }
    printf "fail_total %d\n", total
}
