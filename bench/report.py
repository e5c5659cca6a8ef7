#!/usr/bin/env python3
"""bench/report.py — turns the raw files of one bench/compare.sh invocation into the ratio table.

Reads WORK/meta.env, WORK/ceiling.json and WORK/raw/<run>/<server>/<test>.json (loadtest --json;
idle also <test>.rss.json from the script's VmRSS sampling), takes the median over runs, and
writes OUT/<stamp>.md, .json, .svg and OUT/latest.{md,json,svg}. Standard library only.

Ratios are always tlsterm / peer: below 1 for a cost (µs per operation) means tlsterm spends
less; above 1 for a throughput means tlsterm moves more. `ceiling/tlsterm` is the share of the
library's own in-memory limit tlsterm reaches (100% = no overhead at all over rustls+ring).
"""

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

PEERS_ORDER = ["tlsterm", "haproxy", "nginx", "hitch", "sozu"]
LABEL = {"tlsterm": "tlsterm", "haproxy": "HAProxy", "nginx": "nginx", "hitch": "hitch", "sozu": "Sōzu"}
COLOR = {
    "ceiling": "#9e9e9e",
    "tlsterm": "#1f77b4",
    "haproxy": "#d62728",
    "nginx": "#2ca02c",
    "hitch": "#ff7f0e",
    "sozu": "#9467bd",
}

# (test, label, unit, loadtest field, ceiling key)
COSTS = [
    ("hs13_ecdsa", "Full handshake, ECDSA P-256, TLS 1.3", "µs/handshake", "server_us_per_op", "ecdsa_tls13_full"),
    ("hs12_ecdsa", "Full handshake, ECDSA P-256, TLS 1.2", "µs/handshake", "server_us_per_op", "ecdsa_tls12_full"),
    ("hs13_rsa", "Full handshake, RSA-2048, TLS 1.3", "µs/handshake", "server_us_per_op", "rsa_tls13_full"),
    ("hs12_rsa", "Full handshake, RSA-2048, TLS 1.2", "µs/handshake", "server_us_per_op", "rsa_tls12_full"),
    ("res13", "Resumed handshake, TLS 1.3 ticket", "µs/handshake", "server_us_per_op", "ecdsa_tls13_resume"),
    ("res12", "Resumed handshake, TLS 1.2", "µs/handshake", "server_us_per_op", "ecdsa_tls12_resume"),
    ("ka", "Keep-alive request, closed loop", "µs/request", "server_us_per_op", None),
    ("ka_open", "Keep-alive request, open loop", "µs/request", "server_us_per_op", None),
    ("bulk", "Bulk 1 MiB responses, per MB", "µs/MB", "server_us_per_mb", "aes128gcm_bulk"),
    ("h2", "HTTP/2 request (50 conns × 10 streams)", "µs/request", "server_us_per_op", None),
]
THROUGHPUTS = [
    ("hs13_ecdsa", "Full handshakes/s, ECDSA, TLS 1.3", "/s", "throughput_per_s"),
    ("hs12_ecdsa", "Full handshakes/s, ECDSA, TLS 1.2", "/s", "throughput_per_s"),
    ("hs13_rsa", "Full handshakes/s, RSA, TLS 1.3", "/s", "throughput_per_s"),
    ("hs12_rsa", "Full handshakes/s, RSA, TLS 1.2", "/s", "throughput_per_s"),
    ("res13", "Resumed handshakes/s, TLS 1.3", "/s", "throughput_per_s"),
    ("res12", "Resumed handshakes/s, TLS 1.2", "/s", "throughput_per_s"),
    ("ka", "Keep-alive requests/s, closed loop (16 conns)", "/s", "throughput_per_s"),
    ("bulk", "Bulk MB/s (4 conns, 1 MiB bodies)", "MB/s", "body_mb_per_s"),
    ("h2", "HTTP/2 requests/s (50 conns × 10 streams)", "/s", "throughput_per_s"),
]
LATENCIES = [
    ("ka", "p50", "closed loop p50"),
    ("ka", "p99", "closed loop p99"),
    ("ka_open", "p50", "open loop p50"),
    ("ka_open", "p99", "open loop p99"),
    ("ka_open", "p99_9", "open loop p99.9"),
]
FLAG_TEXT = {
    "E": "errors in at least one run",
    "C": "client-bound (loadtest's verdict): the throughput measures the client",
    "R": "resumed ratio below 0.9",
    "S": "open loop fell behind the rate (achieved < 95%): saturated, latency includes queueing",
    "N": "CPU 1 was more than 15% busy with other processes (a shared machine): noisy",
    "M": "a run is missing (failed)",
    "U": "not every idle connection was up at the end of the window",
}


def read_meta(work):
    meta = {}
    for line in (work / "meta.env").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    return meta


def load_raw(work, servers, runs):
    """raw[server][test] = list of loadtest JSON dicts (one per successful run)."""
    raw = {s: {} for s in servers}
    for run in range(1, runs + 1):
        for s in servers:
            d = work / "raw" / str(run) / s
            if not d.is_dir():
                continue
            for f in sorted(d.glob("*.json")):
                if f.name.endswith(".rss.json"):
                    continue
                data = json.loads(f.read_text())
                rss = f.with_name(f.stem + ".rss.json")
                if rss.exists():
                    data["_rss"] = json.loads(rss.read_text())
                raw[s].setdefault(f.stem, []).append(data)
    return raw


def flags_of(d, test, rate):
    f = set()
    if (d.get("errors") or {}).get("total", 0) > 0:
        f.add("E")
    if d.get("client_bound"):
        f.add("C")
    if test.startswith("res") and (d.get("resumed_ratio") or 0) < 0.9:
        f.add("R")
    if test == "ka_open" and rate and (d.get("throughput_per_s") or 0) < 0.95 * rate:
        f.add("S")
    if test == "idle" and (d.get("idle_up") or 0) < (d.get("connections") or 0):
        f.add("U")
    cores = d.get("server_cores") or []
    util = d.get("server_utilization")
    if cores and util is not None and cores[0].get("busy", 0) - util > 0.15:
        f.add("N")
    return f


def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "runs": vals,
    }


def idle_kib(d):
    rss = d.get("_rss") or {}
    up = d.get("idle_up") or 0
    if up <= 0 or not rss.get("peak_kib"):
        return None
    return (rss["peak_kib"] - rss["before_kib"]) / up


def in_row_unit(d, field, per_op):
    """A per-operation figure of the run, d[per_op], in the unit of d[field] (per MB for bulk):
    scaled by field / server_us_per_op. None when loadtest did not report it."""
    total, x, value = d.get("server_us_per_op"), d.get(per_op), d.get(field)
    if not total or x is None or value is None:
        return None
    return x * value / total


def user_part(d, field):
    """The user-space part of d[field]."""
    return in_row_unit(d, field, "server_user_us_per_op")


def kernel_part(d, field):
    """The rest of d[field]: kernel time."""
    user = user_part(d, field)
    return None if user is None else d[field] - user


def instrument_rings(meta, raw):
    """How loadtest's and the origin's io_uring rings were set up (see loadtest/README.md)."""
    client = {d.get("client_rings_cooperative") for per in raw.values() for ds in per.values() for d in ds}
    origin = meta.get("origin_rings", "")
    if client == {True} and "with COOP_TASKRUN" in origin and "WARNING" not in origin:
        return "their io_uring rings with COOP_TASKRUN"
    if client <= {False, None} and "with COOP_TASKRUN" not in origin:
        return "their io_uring rings plain (no COOP_TASKRUN: the server's core pays IPIs to wake them)"
    return f"their io_uring rings MIXED (client cooperative: {sorted(map(str, client))}; origin: {origin or '?'})"


def metric(raw, s, test, getter, rate, runs):
    ds = raw.get(s, {}).get(test, [])
    m = summarize([getter(d) for d in ds])
    if m is None:
        return None
    fl = set()
    for d in ds:
        fl |= flags_of(d, test, rate)
    if len(ds) < runs:
        fl.add("M")
    m["flags"] = "".join(sorted(fl))
    return m


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


# Flags shown in every cell are stated once above the tables instead (set by build()).
HIDDEN_FLAGS = set()


def cell(m, digits=1):
    if m is None:
        return "–"
    s = fmt(m["median"], digits)
    shown = "".join(f for f in m.get("flags", "") if f not in HIDDEN_FLAGS)
    return s + (f" ⚑{shown}" if shown else "")


def ratio(a, b):
    if a is None or b is None or not b["median"]:
        return None
    return a["median"] / b["median"]


def rfmt(r):
    return "–" if r is None else f"{r:.2f}×"


def build(work, out, stamp):
    meta = read_meta(work)
    servers = [s for s in PEERS_ORDER if s in meta.get("servers", "").split()]
    peers = [s for s in servers if s != "tlsterm"]
    runs = int(meta.get("runs", "1"))
    rate = float(meta["rate"]) if meta.get("rate", "auto") not in ("auto", "") else None
    raw = load_raw(work, servers, runs)
    meta["instrument_rings"] = instrument_rings(meta, raw)
    try:
        ceiling = json.loads((work / "ceiling.json").read_text()).get("results", {})
    except (OSError, ValueError):
        ceiling = {}

    result = {"meta": meta, "servers": servers, "ceiling": ceiling, "cost": [], "throughput": [],
              "latency_ms": [], "idle_kib_per_conn": {}}
    for test, label, unit, field, ckey in COSTS:
        row = {"test": test, "label": label, "unit": unit, "values": {}, "ratios": {}}
        row["user"], row["kernel"], row["ipis"] = {}, {}, {}
        for s in servers:
            row["values"][s] = metric(raw, s, test, lambda d, f=field: d.get(f), rate, runs)
            row["user"][s] = metric(raw, s, test, lambda d, f=field: user_part(d, f), rate, runs)
            row["kernel"][s] = metric(raw, s, test, lambda d, f=field: kernel_part(d, f), rate, runs)
            row["ipis"][s] = metric(
                raw, s, test, lambda d, f=field: in_row_unit(d, f, "server_resched_ipis_per_op"), rate, runs)
        c = ceiling.get(ckey) if ckey else None
        row["ceiling"] = c["median"] if c else None
        t = row["values"].get("tlsterm")
        for p in peers:
            row["ratios"][p] = ratio(t, row["values"][p])
        row["ceiling_over_tlsterm"] = (row["ceiling"] / t["median"]) if (t and row["ceiling"]) else None
        if test == "ka_open" and rate:
            row["label"] = f"{label} at {rate:,.0f} req/s"
        result["cost"].append(row)
    for test, label, unit, field in THROUGHPUTS:
        row = {"test": test, "label": label, "unit": unit, "values": {}, "ratios": {}}
        for s in servers:
            row["values"][s] = metric(raw, s, test, lambda d, f=field: d.get(f), rate, runs)
        t = row["values"].get("tlsterm")
        for p in peers:
            row["ratios"][p] = ratio(t, row["values"][p])
        result["throughput"].append(row)
    for test, pct, label in LATENCIES:
        row = {"test": test, "percentile": pct, "label": label, "values": {}}
        for s in servers:
            row["values"][s] = metric(raw, s, test, lambda d, p=pct: (d.get("latency_ms") or {}).get(p), rate, runs)
        result["latency_ms"].append(row)
    for s in servers:
        result["idle_kib_per_conn"][s] = {
            "script_vmrss": metric(raw, s, "idle", idle_kib, rate, runs),
            "loadtest": metric(raw, s, "idle", lambda d: d.get("server_rss_per_conn_kib"), rate, runs),
            "connections_up": metric(raw, s, "idle", lambda d: d.get("idle_up"), rate, runs),
        }
    result["open_loop_achieved"] = {
        s: metric(raw, s, "ka_open", lambda d: d.get("throughput_per_s"), rate, runs) for s in servers
    }

    cells = [m for sect in ("cost", "throughput", "latency_ms") for row in result[sect]
             for m in row["values"].values() if m is not None]
    if cells and sum("N" in m["flags"] for m in cells) >= 0.8 * len(cells):
        HIDDEN_FLAGS.add("N")
    md = render_md(result, meta, servers, peers, rate)
    svg = render_svg(result, servers, meta)
    out.mkdir(parents=True, exist_ok=True)
    for ext, text in (("md", md), ("json", json.dumps(result, indent=1, ensure_ascii=False) + "\n"), ("svg", svg)):
        p = out / f"{stamp}.{ext}"
        p.write_text(text)
        shutil.copyfile(p, out / f"latest.{ext}")
    print(md)


def staples(meta, servers):
    """'on (stapled by all)' or which server/certificate did not staple, from check_staple."""
    if meta.get("ocsp") != "on":
        return "off (generation failed)"
    if not any(k.startswith("staple_") for k in meta):
        return "on (not checked)"
    missing = [f"{LABEL[s]} {c}" for s in servers for c in ("ecdsa", "rsa")
               if meta.get(f"staple_{s}_{c}", "yes") != "yes"]
    return "on, stapled by every server" if not missing else "on, but not stapled by " + ", ".join(missing)


def render_md(r, meta, servers, peers, rate):
    L = []
    L.append(f"# tlsterm side by side — {meta.get('date', '?')}")
    L.append("")
    vers = [f"tlsterm {meta.get('tlsterm', '?')}"] + [f"{LABEL[p]} {meta.get(p, '?')}" for p in peers]
    L.append(f"- Machine: {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, kernel {meta.get('kernel', '?')}; "
             f"load average {meta.get('load_before', '?')} before, {meta.get('load_after', '?')} after.")
    openssl_peers = [LABEL[p] for p in peers if p != "sozu"]
    tls = f"{', '.join(openssl_peers)} on OpenSSL {meta.get('openssl', '?')}; " if openssl_peers else ""
    tls += "Sōzu on its own rustls + ring; " if "sozu" in peers else ""
    L.append(f"- Versions: {', '.join(vers)}; {tls}tlsterm and the ceiling on rustls 0.23 + ring; "
             "every client sends SNI `localhost`.")
    L.append(f"- Setup: server on CPU 1, loadtest and `loadtest origin` on CPU 0, loopback, "
             f"{meta['instrument_rings']}; "
             f"{meta.get('runs')} run(s) × {meta.get('duration_s')} s (+{meta.get('warmup_s')} s warm-up), medians; "
             f"OCSP staples {staples(meta, servers)}; access logs off; open-loop rate {fmt(rate, 0)} req/s; "
             f"idle at {meta.get('idle_conns')} connections; {meta.get('elapsed_s', '?')} s in all"
             + (" (`--quick`: indicative only)." if meta.get("quick") == "1" else "."))
    if "N" in HIDDEN_FLAGS:
        L.append("- **Shared machine:** in most measurements CPU 1 was more than 15% busy with processes other "
                 "than the server (⚑N, left out of the cells below). CPU time per operation holds up best; "
                 "throughput and latency are depressed by the other load.")
    L.append("")
    L.append("## 1. Server-core µs per operation (lower is better)")
    L.append("")
    L.append("CPU time of the server process on its core divided by the operations completed: the figure that "
             "compares servers fairly when the client core saturates first. Ratio columns: tlsterm ÷ peer "
             "(below 1.00× = tlsterm is cheaper). *of ceiling*: the rustls+ring in-memory cost ÷ tlsterm's "
             "(100% = tlsterm adds nothing over the library).")
    L.append("")
    head = ["operation", "unit", "ceiling"] + [LABEL[s] for s in servers] + [f"tlsterm/{LABEL[p]}" for p in peers] + ["of ceiling"]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * 2 + "---:|" * (len(head) - 2))
    for row in r["cost"]:
        c = row["ceiling"]
        cells = [row["label"], row["unit"], fmt(c)] + [cell(row["values"][s]) for s in servers]
        cells += [rfmt(row["ratios"][p]) for p in peers]
        oc = row["ceiling_over_tlsterm"]
        cells.append("–" if oc is None else f"{oc * 100:.0f}%")
        L.append("| " + " | ".join(cells) + " |")

    def split(u, k):
        return "–" if u is None or k is None else f"{fmt(u['median'])} / {fmt(k['median'])}"

    extra_tables = [  # key, title, text, columns, unit, value
        ("user", "User space and kernel",
         "The same figures split by the process's utime and stime ticks (`/proc/PID/stat`): "
         "user-space µs / kernel µs per operation, medians of the runs. The kernel part "
         "includes the loopback softirq work that ran while the server was on the CPU.",
         [f"{LABEL[s]} user / kernel" for s in servers],
         lambda row: row["unit"],
         lambda row, s: split(row["user"][s], row["kernel"][s])),
        ("ipis", "Reschedule IPIs taken by the server's core",
         "`RES` in /proc/interrupts on CPU 1 over the window ÷ operations (per MB in the bulk row), "
         "medians: how often another CPU had to interrupt the server's core, to wake it or to "
         "make it run io_uring task work. On a VM each one is a VM exit.",
         [LABEL[s] for s in servers],
         lambda row: "IPIs/" + row["unit"].split("/", 1)[1],
         lambda row, s: cell(row["ipis"][s], 2)),
    ]
    for key, title, text, columns, unit, value in extra_tables:
        if not any(row[key][s] for row in r["cost"] for s in servers):
            continue  # raw files from a loadtest without these figures
        L += ["", f"### {title}", "", text, ""]
        L.append("| " + " | ".join(["operation", "unit"] + columns) + " |")
        L.append("|---|---|" + "---:|" * len(columns))
        for row in r["cost"]:
            L.append("| " + " | ".join([row["label"], unit(row)] + [value(row, s) for s in servers]) + " |")
    L.append("")
    L.append("## 2. Throughput (higher is better)")
    L.append("")
    L.append("On two cores the client (one core, also carrying the origin) usually runs out first: these "
             "figures say which side gave up, not how far the server could go. Ratio: tlsterm ÷ peer.")
    L.append("")
    head = ["measurement", "unit"] + [LABEL[s] for s in servers] + [f"tlsterm/{LABEL[p]}" for p in peers]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * 2 + "---:|" * (len(head) - 2))
    for row in r["throughput"]:
        cells = [row["label"], row["unit"]] + [cell(row["values"][s]) for s in servers]
        cells += [rfmt(row["ratios"][p]) for p in peers]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append("## 3. Keep-alive latency, ms (lower is better)")
    L.append("")
    L.append(f"Closed loop: 16 connections as fast as they go (percentiles understate the tail). Open loop: "
             f"{fmt(rate, 0)} req/s on 64 connections, latency from the intended send time (coordinated omission "
             f"corrected).")
    L.append("")
    head = ["percentile"] + [LABEL[s] for s in servers]
    L.append("| " + " | ".join(head) + " |")
    L.append("|---|" + "---:|" * len(servers))
    for row in r["latency_ms"]:
        L.append("| " + " | ".join([row["label"]] + [cell(row["values"][s], 3) for s in servers]) + " |")
    ach = r["open_loop_achieved"]
    L.append("| open loop achieved req/s | " + " | ".join(cell(ach[s], 0) for s in servers) + " |")
    L.append("")
    L.append(f"## 4. Memory per idle TLS connection at {meta.get('idle_conns')} connections, KiB (lower is better)")
    L.append("")
    L.append("VmRSS of the measured process (a fresh instance) sampled every 100 ms while loadtest holds the "
             "connections: (peak − before) ÷ connections up. Kernel socket buffers are not in RSS.")
    L.append("")
    L.append("| | " + " | ".join(LABEL[s] for s in servers) + " |")
    L.append("|---|" + "---:|" * len(servers))
    idle = r["idle_kib_per_conn"]
    L.append("| KiB per connection (VmRSS peak) | " + " | ".join(cell(idle[s]["script_vmrss"]) for s in servers) + " |")
    L.append("| KiB per connection (loadtest, window end) | " + " | ".join(cell(idle[s]["loadtest"]) for s in servers) + " |")
    L.append("| connections up | " + " | ".join(cell(idle[s]["connections_up"], 0) for s in servers) + " |")
    t = idle.get("tlsterm", {}).get("script_vmrss")
    if t:
        L.append("| tlsterm ÷ peer | " + " | ".join(
            "–" if s == "tlsterm" else rfmt(ratio(t, idle[s]["script_vmrss"])) for s in servers) + " |")
    L.append("")
    used = set()
    for sect in ("cost", "throughput", "latency_ms"):
        for row in r[sect]:
            for m in row["values"].values():
                if m and m.get("flags"):
                    used |= set(m["flags"])
    for v in r["idle_kib_per_conn"].values():
        for m in v.values():
            if m and m.get("flags"):
                used |= set(m["flags"])
    used -= HIDDEN_FLAGS
    if used:
        L.append("Flags (a median carries the flags of any of its runs): "
                 + "; ".join(f"⚑{k} {FLAG_TEXT[k]}" for k in sorted(used)) + ".")
        L.append("")
    spread = []
    for row in r["cost"]:
        for s, m in row["values"].items():
            if m and len(m["runs"]) > 1 and m["median"]:
                spread.append(((m["max"] - m["min"]) / m["median"], row["label"], s))
    if spread:
        w = max(spread)
        L.append(f"Largest run-to-run spread of a cost figure: {w[0] * 100:.0f}% ({LABEL[w[2]]}, {w[1]}). "
                 "Per-run values are in the JSON.")
        L.append("")
    return "\n".join(L)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_svg(r, servers, meta):
    """Small multiples: one panel per operation, a bar per server (and the ceiling)."""
    cols, pw, ph = 3, 320, 150
    rows_n = (len(r["cost"]) + cols - 1) // cols
    width, top = cols * pw + 20, 60
    height = top + rows_n * ph + 40
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="10" y="20" font-size="15" font-weight="bold">Server-core µs per operation (lower is better)</text>',
         f'<text x="10" y="38" fill="#555">{esc(meta.get("cpu", ""))}, kernel {esc(meta.get("kernel", ""))}, '
         f'{esc(meta.get("date", ""))}, {meta.get("runs")} run(s) × {meta.get("duration_s")} s, medians</text>']
    # legend
    x = 10
    for s in ["ceiling"] + servers:
        name = "rustls+ring ceiling" if s == "ceiling" else LABEL[s]
        o.append(f'<rect x="{x}" y="46" width="10" height="10" fill="{COLOR[s]}"/>')
        o.append(f'<text x="{x + 14}" y="55">{esc(name)}</text>')
        x += 14 + 7 * len(name) + 18
    for i, row in enumerate(r["cost"]):
        px = 10 + (i % cols) * pw
        py = top + (i // cols) * ph + 10
        o.append(f'<text x="{px}" y="{py + 10}" font-weight="bold">{esc(row["label"])}</text>')
        bars = []
        if row["ceiling"] is not None:
            bars.append(("ceiling", row["ceiling"]))
        for s in servers:
            m = row["values"][s]
            if m is not None:
                bars.append((s, m["median"]))
        if not bars:
            o.append(f'<text x="{px}" y="{py + 30}" fill="#999">no data</text>')
            continue
        vmax = max(v for _, v in bars) or 1.0
        bw_max, bh, label_w = pw - 140, 18, 60
        for j, (s, v) in enumerate(bars):
            y = py + 18 + j * (bh + 4)
            w = max(1.0, bw_max * v / vmax)
            name = "ceiling" if s == "ceiling" else LABEL[s]
            o.append(f'<text x="{px}" y="{y + 13}" fill="#333">{esc(name)}</text>')
            o.append(f'<rect x="{px + label_w}" y="{y}" width="{w:.1f}" height="{bh}" fill="{COLOR[s]}"/>')
            o.append(f'<text x="{px + label_w + w + 4:.1f}" y="{y + 13}">{fmt(v)} {esc(row["unit"].split("/")[0])}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--stamp", default=os.environ.get("STAMP", "run"))
    a = ap.parse_args()
    build(a.work, a.out, a.stamp)


if __name__ == "__main__":
    main()
