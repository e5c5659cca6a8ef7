//! Merging shard metrics and writing the Prometheus text exposition format (version 0.0.4).
//!
//! Pure: takes the shards' metrics and the process facts, returns text. Families are written
//! once each, with `# HELP` and `# TYPE`, label values escaped.

use std::fmt::Write;
use std::sync::Arc;

use super::histogram::{Histogram, LATENCY_BUCKETS};
use super::{
    Counter, ShardMetrics, CAUSES, HS_KINDS, HS_RESULTS, HS_VERSIONS, PHASES, STATUS_CLASSES,
};
use crate::sli::Termination;

/// A per-shard family: name, type, help, and which counter.
type PerShard = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardMetrics) -> &Counter,
);

/// Process-level facts gathered by the admin task at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ProcessInfo {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub start_time_unix: u64,
    pub version: &'static str,
    /// Per certificate: (file name, kind, seconds until notAfter; negative when expired).
    pub certificates: Vec<(String, &'static str, i64)>,
    /// Seconds the previous scrape took to render.
    pub last_scrape_seconds: f64,
    /// The process is draining (healthz says 503).
    pub draining: bool,
    /// Reloads, staples, ticket keys, OCSP fetches.
    pub tls: TlsFacts,
    /// Per cache backend: availability, ejections, failed active checks.
    pub backends: Vec<crate::upstream::health::BackendFacts>,
}

/// TLS operations facts gathered at scrape time.
#[derive(Debug, Clone, Default)]
pub struct TlsFacts {
    /// Generation of the TLS state in service.
    pub generation: u64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Session-ticket keys in service.
    pub ticket_keys: u64,
    /// The keys come from a ticket-key file (else generated in memory).
    pub ticket_keys_from_file: bool,
    pub staples: Vec<StapleFacts>,
    /// Per certificate: (file name, fetches ok, fetches failed, label of the last outcome).
    pub fetches: Vec<(String, u64, u64, &'static str)>,
}

/// One certificate's OCSP staple.
#[derive(Debug, Clone)]
pub struct StapleFacts {
    pub cert: String,
    /// Seconds until the staple's nextUpdate; `None` = no staple served.
    pub seconds_left: Option<i64>,
    pub must_staple_missing: bool,
    /// The last read of its OCSP file was refused (validation failed).
    pub refused: bool,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sum(shards: &[Arc<ShardMetrics>], f: impl Fn(&ShardMetrics) -> &Counter) -> u64 {
    shards.iter().map(|s| f(s).get()).sum()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(micros: u64) -> String {
    format!("{}", micros as f64 / 1e6)
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    shards: &[Arc<ShardMetrics>],
    f: impl Fn(&ShardMetrics) -> &Histogram,
) {
    family(out, name, "histogram", help);
    let mut counts = [0u64; LATENCY_BUCKETS.len() + 1];
    let (mut total, mut sum_micros) = (0u64, 0u64);
    for s in shards {
        let h = f(s);
        for (acc, c) in counts.iter_mut().zip(h.bucket_counts()) {
            *acc += c;
        }
        total += h.count();
        sum_micros += h.sum_micros();
    }
    let mut cumulative = 0;
    for (bound, c) in LATENCY_BUCKETS.iter().zip(counts) {
        cumulative += c;
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            seconds(*bound)
        );
    }
    // +Inf equals the total count, whatever a racing writer did to the buckets.
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {}", seconds(sum_micros));
    let _ = writeln!(out, "{name}_count {total}");
}

/// Renders every metric of every shard, merged, plus process facts.
pub fn render(shards: &[Arc<ShardMetrics>], process: &ProcessInfo) -> String {
    let mut out = String::with_capacity(16 * 1024);

    family(
        &mut out,
        "tlsterm_requests_total",
        "counter",
        "Requests finished, by status class sent and protocol.",
    );
    for (p, proto) in super::Protocol::ALL.iter().enumerate() {
        for (c, class) in STATUS_CLASSES.iter().enumerate() {
            let v: u64 = shards.iter().map(|s| s.requests[p][c].get()).sum();
            let _ = writeln!(
                out,
                "tlsterm_requests_total{{status_class=\"{class}\",protocol=\"{}\"}} {v}",
                proto.label()
            );
        }
    }

    family(
        &mut out,
        "tlsterm_sli_requests_total",
        "counter",
        "Requests judged by the SLI.",
    );
    let _ = writeln!(
        out,
        "tlsterm_sli_requests_total {}",
        sum(shards, |s| &s.sli_requests)
    );
    family(
        &mut out,
        "tlsterm_sli_good_total",
        "counter",
        "Requests under the internal-latency threshold and not a proxy error.",
    );
    let _ = writeln!(
        out,
        "tlsterm_sli_good_total {}",
        sum(shards, |s| &s.sli_good)
    );
    family(
        &mut out,
        "tlsterm_sli_bad_total",
        "counter",
        "Requests failing the SLI, by reason.",
    );
    let _ = writeln!(
        out,
        "tlsterm_sli_bad_total{{reason=\"latency\"}} {}",
        sum(shards, |s| &s.sli_bad_latency)
    );
    let _ = writeln!(
        out,
        "tlsterm_sli_bad_total{{reason=\"error\"}} {}",
        sum(shards, |s| &s.sli_bad_error)
    );

    family(
        &mut out,
        "tlsterm_termination_states_total",
        "counter",
        "Requests by HAProxy-style two-letter termination state.",
    );
    for (ci, cause) in CAUSES.iter().enumerate() {
        for (pi, phase) in PHASES.iter().enumerate() {
            let idx = ci * PHASES.len() + pi;
            let v: u64 = shards.iter().map(|s| s.terminations[idx].get()).sum();
            if v > 0 {
                let state = Termination::new(*cause, *phase);
                let _ = writeln!(
                    out,
                    "tlsterm_termination_states_total{{state=\"{state}\"}} {v}"
                );
            }
        }
    }

    histogram(
        &mut out,
        "tlsterm_internal_latency_seconds",
        "Time the proxy itself held each request (see SLO.md).",
        shards,
        |s| &s.internal_latency,
    );
    histogram(
        &mut out,
        "tlsterm_upstream_response_seconds",
        "Cache response time: request sent to response head received (Tr).",
        shards,
        |s| &s.upstream_response,
    );
    histogram(
        &mut out,
        "tlsterm_handshake_duration_seconds",
        "TLS handshake duration, accept to finished, successful handshakes.",
        shards,
        |s| &s.handshake_duration,
    );

    family(
        &mut out,
        "tlsterm_handshakes_total",
        "counter",
        "TLS handshakes by version, certificate kind, resumption and result.",
    );
    for (v, version) in HS_VERSIONS.iter().enumerate() {
        for (k, kind) in HS_KINDS.iter().enumerate() {
            for (r, resumed) in ["false", "true"].iter().enumerate() {
                let n: u64 = shards.iter().map(|s| s.handshakes_ok[v][k][r].get()).sum();
                let _ = writeln!(
                    out,
                    "tlsterm_handshakes_total{{version=\"{version}\",cert_kind=\"{kind}\",resumed=\"{resumed}\",result=\"ok\"}} {n}"
                );
            }
        }
    }
    for (i, result) in HS_RESULTS[1..].iter().enumerate() {
        let n: u64 = shards.iter().map(|s| s.handshakes_bad[i].get()).sum();
        let _ = writeln!(
            out,
            "tlsterm_handshakes_total{{version=\"unknown\",cert_kind=\"unknown\",resumed=\"false\",result=\"{result}\"}} {n}"
        );
    }

    let per_shard: [PerShard; 4] = [
        (
            "tlsterm_connections_accepted_total",
            "counter",
            "TCP connections accepted, per shard.",
            |s| &s.connections_accepted,
        ),
        (
            "tlsterm_connections_open",
            "gauge",
            "Client connections open, per shard.",
            |s| &s.connections_open,
        ),
        (
            "tlsterm_upstream_pool_idle",
            "gauge",
            "Idle keep-alive connections to the cache, per shard.",
            |s| &s.upstream_idle,
        ),
        (
            "tlsterm_upstream_pool_open",
            "gauge",
            "Open connections (idle and busy) of the main upstream pool, per shard.",
            |s| &s.upstream_open,
        ),
    ];
    for (name, kind, help, f) in per_shard {
        family(&mut out, name, kind, help);
        for s in shards {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, f(s).get());
        }
    }

    family(
        &mut out,
        "tlsterm_upstream_connections_opened_total",
        "counter",
        "Connections opened to the cache layer.",
    );
    let _ = writeln!(
        out,
        "tlsterm_upstream_connections_opened_total {}",
        sum(shards, |s| &s.upstream_opened)
    );
    family(
        &mut out,
        "tlsterm_upstream_connect_failures_total",
        "counter",
        "Failed connection attempts to the cache layer (each attempt, retries included).",
    );
    let _ = writeln!(
        out,
        "tlsterm_upstream_connect_failures_total {}",
        sum(shards, |s| &s.upstream_connect_failures)
    );

    render_backends(&mut out, &process.backends);

    family(
        &mut out,
        "tlsterm_accept_paused_total",
        "counter",
        "Times a shard stopped accepting at its share of the listener's maxconn.",
    );
    let _ = writeln!(
        out,
        "tlsterm_accept_paused_total {}",
        sum(shards, |s| &s.accept_paused)
    );
    family(
        &mut out,
        "tlsterm_limit_rejections_total",
        "counter",
        "Connections or requests refused by the per-client-IP cap.",
    );
    let _ = writeln!(
        out,
        "tlsterm_limit_rejections_total{{kind=\"per_ip_penalty\"}} {}",
        sum(shards, |s| &s.per_ip_refused)
    );
    let _ = writeln!(
        out,
        "tlsterm_limit_rejections_total{{kind=\"per_ip_cap\"}} {}",
        sum(shards, |s| &s.per_ip_over_cap)
    );

    family(
        &mut out,
        "tlsterm_certificate_expiry_seconds",
        "gauge",
        "Seconds until the certificate's notAfter (negative: expired).",
    );
    for (name, kind, secs) in &process.certificates {
        let _ = writeln!(
            out,
            "tlsterm_certificate_expiry_seconds{{cert=\"{}\",kind=\"{kind}\"}} {secs}",
            escape(name)
        );
    }

    family(
        &mut out,
        "haproxy_frontend_http_responses_total",
        "counter",
        "HAProxy-compatible responses by status class (for existing alerts).",
    );
    for (c, class) in STATUS_CLASSES.iter().enumerate() {
        let v: u64 = shards
            .iter()
            .map(|s| (0..3).map(|p| s.requests[p][c].get()).sum::<u64>())
            .sum();
        let code = if c == 0 { "other" } else { class };
        let _ = writeln!(
            out,
            "haproxy_frontend_http_responses_total{{proxy=\"tlsterm\",code=\"{code}\"}} {v}"
        );
    }

    let gauges: [(&str, &str, String); 4] = [
        (
            "process_resident_memory_bytes",
            "Resident set size in bytes.",
            process.resident_bytes.to_string(),
        ),
        (
            "process_open_fds",
            "Open file descriptors.",
            process.open_fds.to_string(),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            process.start_time_unix.to_string(),
        ),
        (
            "tlsterm_scrape_duration_seconds",
            "Time spent rendering the previous scrape.",
            format!("{}", process.last_scrape_seconds),
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {v}");
    }
    render_tls(&mut out, &process.tls);
    family(
        &mut out,
        "tlsterm_draining",
        "gauge",
        "1 while the process drains.",
    );
    let _ = writeln!(out, "tlsterm_draining {}", u8::from(process.draining));
    family(
        &mut out,
        "tlsterm_build_info",
        "gauge",
        "Build information.",
    );
    let _ = writeln!(
        out,
        "tlsterm_build_info{{version=\"{}\"}} 1",
        escape(process.version)
    );
    out
}

fn render_backends(out: &mut String, backends: &[crate::upstream::health::BackendFacts]) {
    family(
        out,
        "tlsterm_upstream_backend_up",
        "gauge",
        "1 when the cache backend takes requests (active checks pass, not ejected).",
    );
    for b in backends {
        let _ = writeln!(
            out,
            "tlsterm_upstream_backend_up{{backend=\"{}\"}} {}",
            escape(&b.name),
            u8::from(b.available)
        );
    }
    family(
        out,
        "tlsterm_upstream_backend_ejections_total",
        "counter",
        "Times the backend was ejected after consecutive request failures.",
    );
    for b in backends {
        let _ = writeln!(
            out,
            "tlsterm_upstream_backend_ejections_total{{backend=\"{}\"}} {}",
            escape(&b.name),
            b.ejections
        );
    }
    family(
        out,
        "tlsterm_upstream_backend_check_failures_total",
        "counter",
        "Active health checks of the backend that failed.",
    );
    for b in backends {
        let _ = writeln!(
            out,
            "tlsterm_upstream_backend_check_failures_total{{backend=\"{}\"}} {}",
            escape(&b.name),
            b.checks_failed
        );
    }
}

fn render_tls(out: &mut String, t: &TlsFacts) {
    family(
        out,
        "tlsterm_tls_generation",
        "gauge",
        "Generation of the TLS state (certificates, staples, ticket keys) in service.",
    );
    let _ = writeln!(out, "tlsterm_tls_generation {}", t.generation);
    family(
        out,
        "tlsterm_reloads_total",
        "counter",
        "Reloads of the TLS state (SIGHUP, POST /reload, file change), by result.",
    );
    let _ = writeln!(
        out,
        "tlsterm_reloads_total{{result=\"ok\"}} {}",
        t.reloads_ok
    );
    let _ = writeln!(
        out,
        "tlsterm_reloads_total{{result=\"failed\"}} {}",
        t.reloads_failed
    );
    family(
        out,
        "tlsterm_ticket_keys",
        "gauge",
        "Session-ticket keys in service, by source (file or generated).",
    );
    let source = if t.ticket_keys_from_file {
        "file"
    } else {
        "generated"
    };
    let _ = writeln!(
        out,
        "tlsterm_ticket_keys{{source=\"{source}\"}} {}",
        t.ticket_keys
    );
    family(
        out,
        "tlsterm_ocsp_staple_seconds_remaining",
        "gauge",
        "Seconds until the served OCSP staple's nextUpdate (absent: no staple).",
    );
    for s in &t.staples {
        if let Some(left) = s.seconds_left {
            let _ = writeln!(
                out,
                "tlsterm_ocsp_staple_seconds_remaining{{cert=\"{}\"}} {left}",
                escape(&s.cert)
            );
        }
    }
    family(
        out,
        "tlsterm_ocsp_staple_refused",
        "gauge",
        "1 when the certificate's OCSP file failed validation at the last reload.",
    );
    family(
        out,
        "tlsterm_ocsp_must_staple_missing",
        "gauge",
        "1 when a must-staple certificate has no valid staple (clients will refuse it).",
    );
    for s in &t.staples {
        let _ = writeln!(
            out,
            "tlsterm_ocsp_staple_refused{{cert=\"{}\"}} {}",
            escape(&s.cert),
            u8::from(s.refused)
        );
    }
    for s in &t.staples {
        let _ = writeln!(
            out,
            "tlsterm_ocsp_must_staple_missing{{cert=\"{}\"}} {}",
            escape(&s.cert),
            u8::from(s.must_staple_missing)
        );
    }
    family(
        out,
        "tlsterm_ocsp_fetches_total",
        "counter",
        "OCSP fetches from the responder (ocsp.fetch), by result.",
    );
    for (cert, ok, failed, _) in &t.fetches {
        let cert = escape(cert);
        let _ = writeln!(
            out,
            "tlsterm_ocsp_fetches_total{{cert=\"{cert}\",result=\"ok\"}} {ok}"
        );
        let _ = writeln!(
            out,
            "tlsterm_ocsp_fetches_total{{cert=\"{cert}\",result=\"failed\"}} {failed}"
        );
    }
    family(
        out,
        "tlsterm_ocsp_last_fetch_ok",
        "gauge",
        "1 when the last OCSP fetch for the certificate succeeded.",
    );
    for (cert, _, _, last) in &t.fetches {
        let _ = writeln!(
            out,
            "tlsterm_ocsp_last_fetch_ok{{cert=\"{}\"}} {}",
            escape(cert),
            u8::from(*last == "ok")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Protocol, RequestRecord};
    use crate::sli::{Cause, Phase, Verdict};
    use std::time::Duration;

    #[test]
    fn merges_shards_and_renders_exact_lines() {
        let a = Arc::new(ShardMetrics::new(0));
        let b = Arc::new(ShardMetrics::new(1));
        let ok = RequestRecord {
            protocol: Protocol::Http11,
            status: Some(200),
            termination: Termination::NORMAL,
            verdict: Verdict::Good,
            internal_latency: Some(Duration::from_millis(1)),
            upstream_response: Some(Duration::from_millis(30)),
        };
        a.record_request(&ok);
        b.record_request(&ok);
        b.record_request(&RequestRecord {
            status: Some(503),
            termination: Termination::new(Cause::ServerAbort, Phase::Connect),
            upstream_response: None,
            ..ok
        });
        b.connections_open.set(3);
        let text = render(
            &[a, b],
            &ProcessInfo {
                version: "0.1.0",
                certificates: vec![("a.pem".into(), "ECDSA", 86_400)],
                backends: vec![crate::upstream::health::BackendFacts {
                    name: "unix:/run/varnish.sock".into(),
                    available: false,
                    ejections: 2,
                    checks_failed: 5,
                }],
                ..ProcessInfo::default()
            },
        );
        for line in [
            "tlsterm_requests_total{status_class=\"2xx\",protocol=\"http/1.1\"} 2",
            "tlsterm_requests_total{status_class=\"5xx\",protocol=\"http/1.1\"} 1",
            "tlsterm_sli_requests_total 3",
            "tlsterm_sli_good_total 3",
            "tlsterm_termination_states_total{state=\"--\"} 2",
            "tlsterm_termination_states_total{state=\"SC\"} 1",
            "tlsterm_internal_latency_seconds_bucket{le=\"0.001\"} 3",
            "tlsterm_internal_latency_seconds_bucket{le=\"0.0005\"} 0",
            "tlsterm_internal_latency_seconds_count 3",
            "tlsterm_internal_latency_seconds_sum 0.003",
            "tlsterm_upstream_response_seconds_count 2",
            "tlsterm_connections_open{shard=\"1\"} 3",
            "haproxy_frontend_http_responses_total{proxy=\"tlsterm\",code=\"5xx\"} 1",
            "haproxy_frontend_http_responses_total{proxy=\"tlsterm\",code=\"other\"} 0",
            "tlsterm_certificate_expiry_seconds{cert=\"a.pem\",kind=\"ECDSA\"} 86400",
            "tlsterm_build_info{version=\"0.1.0\"} 1",
            "tlsterm_upstream_backend_up{backend=\"unix:/run/varnish.sock\"} 0",
            "tlsterm_upstream_backend_ejections_total{backend=\"unix:/run/varnish.sock\"} 2",
            "tlsterm_upstream_backend_check_failures_total{backend=\"unix:/run/varnish.sock\"} 5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // Each family is declared exactly once.
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let unique: std::collections::HashSet<_> =
            text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        assert_eq!(types, unique.len());
    }
}
