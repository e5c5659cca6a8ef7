//! From the serde mirror (or the quick-start flags) to a validated [`Config`].
//!
//! Job: check every value, name the dotted key when one is wrong, resolve relative paths
//! against the configuration file's directory, and load the certificates.
//!
//! Does not: read the clock (certificate validity is `check`'s job) or look at /sys.
//!
//! Invariants of the result: at least one listener and one certificate, no two listeners on
//! the same address, every timeout except `grace` non-zero, `tls.default_name` (lower-cased)
//! is a name of some loaded certificate.
use super::file::{FileConfig, FileH2, FileTimeouts};
use super::values::{cpus_spec, parse_duration, parse_shard_spec, parse_socket_addr};
use super::{
    parse_upstream, AccessLog, Config, H2Settings, ListenerConfig, LogConfig, ProcessSettings,
    QuickStart, RedirectListener, ShardSpec, SliSettings, Steering, TestHooks, Timeouts,
    TlsSettings,
};
use crate::http::Limits;
use crate::limits::{Cidr, PerIpSettings};
use crate::tls::store::load_cert;
use crate::tls::Group;
use crate::tls::LoadedCert;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

/// `(key, reason)`; the caller adds the file name.
pub(crate) type Bad = (String, String);

pub(crate) fn bad(key: impl Into<String>, reason: impl Into<String>) -> Bad {
    (key.into(), reason.into())
}

const DEFAULT_BACKLOG: NonZeroU32 = match NonZeroU32::new(4096) {
    Some(n) => n,
    // Unreachable: 4096 is not zero (and this is evaluated at compile time).
    None => panic!("zero backlog"),
};

/// Builds the configuration; relative paths are joined to `base`.
pub(crate) fn build(f: FileConfig, base: &Path) -> Result<Config, Bad> {
    let listeners = listeners(&f)?;
    let (cpus, steering, cooperative_taskrun) = match f.shards {
        None => (None, None, None),
        Some(s) => (s.cpus, s.steering, s.cooperative_taskrun),
    };
    let shards = match cpus {
        None => ShardSpec::Auto { node: None },
        Some(v) => shard_value(&v).map_err(|r| bad("shards.cpus", r))?,
    };
    let steering = match steering.as_deref() {
        None | Some("hash") => Steering::Hash,
        Some("cpu") => Steering::Cpu,
        Some(other) => {
            return Err(bad(
                "shards.steering",
                format!("\"{other}\": use \"hash\" (default) or \"cpu\""),
            ))
        }
    };
    let upstream = super::upstream::upstream(f.upstream, base)?;
    let timeouts = timeouts(f.timeouts.unwrap_or_default())?;
    let redirects = redirects(&f.redirect, &listeners)?;
    let file_limits = f.limits.unwrap_or_default();
    let per_ip = per_ip(&file_limits)?;
    let limits = limits(file_limits)?;
    let access = match f.log.and_then(|l| l.access).as_deref() {
        None | Some("stdout") => AccessLog::Stdout,
        Some("off") => AccessLog::Off,
        Some("") => {
            return Err(bad(
                "log.access",
                "empty; use \"stdout\", \"off\" or a path",
            ))
        }
        Some(p) => AccessLog::File(base.join(p)),
    };
    let admin = match f.admin.and_then(|a| a.address).as_deref() {
        None => Some(
            DEFAULT_ADMIN
                .parse()
                .map_err(|_| bad("admin.address", "bad default"))?,
        ),
        Some("off") => None,
        Some(a) => Some(parse_socket_addr(a).map_err(|r| bad("admin.address", r))?),
    };
    if f.certificate.is_empty() {
        return Err(bad(
            "certificate",
            "no [[certificate]] given; at least one is needed",
        ));
    }
    let mut certificates = Vec::with_capacity(f.certificate.len());
    for (i, c) in f.certificate.iter().enumerate() {
        let key = format!("certificate[{i}].pem");
        let pem = c
            .pem
            .as_deref()
            .ok_or_else(|| bad(&key, "missing (the PEM file with the chain, and the key)"))?;
        let key_file = c.key.as_deref().map(|k| base.join(k));
        let mut cert = load_cert(&base.join(pem), key_file.as_deref())
            .map_err(|e| bad(&key, e.to_string()))?;
        cert.ocsp_path = c.ocsp.as_deref().map(|o| base.join(o));
        certificates.push(cert);
    }
    let sli = match f.sli.and_then(|s| s.latency_threshold) {
        None => SliSettings::default(),
        Some(t) => SliSettings {
            latency_threshold: parse_duration(&t)
                .and_then(|d| {
                    if d.is_zero() {
                        Err("must be greater than zero".to_string())
                    } else {
                        Ok(d)
                    }
                })
                .map_err(|r| bad("sli.latency_threshold", r))?,
        },
    };
    let file_tls = f.tls.unwrap_or_default();
    let mut tls = tls_settings(file_tls.default_name, &certificates, "tls.default_name")?;
    tls.ticket_keys = file_tls.ticket_keys.map(|p| base.join(p));
    if let Some(l) = file_tls.ticket_lifetime {
        tls.ticket_lifetime = parse_duration(&l)
            .and_then(|d| match d.as_secs() {
                1..=604_800 => Ok(d),
                _ => Err("must be between 1s and 7 days (RFC 8446 caps tickets at 7 days)".into()),
            })
            .map_err(|r| bad("tls.ticket_lifetime", r))?;
    }
    if let Some(n) = file_tls.session_cache_size {
        tls.session_cache_size =
            usize::try_from(n).map_err(|_| bad("tls.session_cache_size", "must be 0 or more"))?;
    }
    tls.ocsp_fetch = f.ocsp.and_then(|o| o.fetch).unwrap_or(false);
    if let Some(names) = file_tls.groups {
        tls.groups = groups(&names)?;
    }
    let h2 = h2_settings(f.h2.unwrap_or_default())?;
    let process = super::upstream::process(f.process)?;
    let debug_networks = super::upstream::debug_networks(f.debug)?;
    Ok(Config {
        listeners,
        shards,
        steering,
        cooperative_taskrun: cooperative_taskrun.unwrap_or(true),
        certificates,
        tls,
        upstream,
        timeouts,
        limits,
        log: LogConfig { access },
        admin,
        sli,
        per_ip,
        redirects,
        test: TestHooks::default(),
        h2,
        process,
        debug_networks,
    })
}

/// Builds the configuration of `tlsterm run`'s flags; relative paths stay relative to the
/// working directory. Keys are the flag names.
pub(crate) fn quick(q: &QuickStart) -> Result<Config, Bad> {
    if q.listen.is_empty() {
        return Err(bad("--listen", "at least one --listen ADDR is needed"));
    }
    let listeners: Vec<ListenerConfig> = q
        .listen
        .iter()
        .map(|&address| ListenerConfig {
            address,
            backlog: DEFAULT_BACKLOG,
            maxconn: DEFAULT_MAXCONN,
        })
        .collect();
    distinct(&listeners, |_| "--listen".to_string())?;
    let shards = match &q.shards {
        None => ShardSpec::Auto { node: None },
        Some(s) => parse_shard_spec(s).map_err(|r| bad("--shards", r))?,
    };
    if q.upstream.is_empty() {
        return Err(bad("--upstream", "missing (unix:/path or host:port)"));
    }
    let address = parse_upstream(&q.upstream, Path::new("")).map_err(|r| bad("--upstream", r))?;
    if q.certs.is_empty() {
        return Err(bad("--cert", "at least one --cert FILE.pem is needed"));
    }
    let mut certificates = Vec::with_capacity(q.certs.len());
    for pem in &q.certs {
        certificates.push(load_cert(pem, None).map_err(|e| bad("--cert", e.to_string()))?);
    }
    Ok(Config {
        listeners,
        shards,
        steering: Steering::Hash,
        cooperative_taskrun: true,
        certificates,
        tls: TlsSettings {
            ticket_keys: q.ticket_keys.clone(),
            ocsp_fetch: q.ocsp_fetch,
            ..TlsSettings::default()
        },
        upstream: super::upstream::single(address),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
        log: LogConfig {
            access: AccessLog::Stdout,
        },
        admin: q.admin,
        sli: SliSettings::default(),
        per_ip: PerIpSettings::default(),
        redirects: Vec::new(),
        test: TestHooks::default(),
        h2: H2Settings::default(),
        process: ProcessSettings::default(),
        debug_networks: super::upstream::default_debug_networks(),
    })
}

fn listeners(f: &FileConfig) -> Result<Vec<ListenerConfig>, Bad> {
    if f.listener.is_empty() {
        return Err(bad(
            "listener",
            "no [[listener]] given; at least one is needed",
        ));
    }
    let mut out = Vec::with_capacity(f.listener.len());
    for (i, l) in f.listener.iter().enumerate() {
        let key = format!("listener[{i}].address");
        let a = l.address.as_deref().ok_or_else(|| bad(&key, "missing"))?;
        let address = parse_socket_addr(a).map_err(|r| bad(&key, r))?;
        let backlog = match l.backlog {
            None => DEFAULT_BACKLOG,
            Some(b) => u32::try_from(b)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| {
                    bad(
                        format!("listener[{i}].backlog"),
                        "must be a positive number (default 4096)",
                    )
                })?,
        };
        let maxconn = match l.maxconn {
            None => DEFAULT_MAXCONN,
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                return Err(bad(
                    format!("listener[{i}].maxconn"),
                    format!("must be a positive number (default {DEFAULT_MAXCONN})"),
                ))
            }
        };
        out.push(ListenerConfig {
            address,
            backlog,
            maxconn,
        });
    }
    distinct(&out, |i| format!("listener[{i}].address"))?;
    Ok(out)
}

/// No two listeners on the same address.
fn distinct(listeners: &[ListenerConfig], key: impl Fn(usize) -> String) -> Result<(), Bad> {
    for (i, l) in listeners.iter().enumerate() {
        if let Some(j) = listeners[..i].iter().position(|o| o.address == l.address) {
            return Err(bad(
                key(i),
                format!("{} is already used by listener {j}", l.address),
            ));
        }
    }
    Ok(())
}

fn shard_value(v: &toml::Value) -> Result<ShardSpec, String> {
    match v {
        toml::Value::String(s) => parse_shard_spec(s),
        toml::Value::Array(items) => {
            let mut cpus = Vec::with_capacity(items.len());
            for item in items {
                match item.as_integer().map(usize::try_from) {
                    Some(Ok(c)) => cpus.push(c),
                    _ => return Err(format!("{item} is not a CPU number")),
                }
            }
            cpus_spec(cpus)
        }
        other => Err(format!(
            "{other} is not a CPU spec; use \"auto\", \"auto:NODE\", \"0-3\" or [0, 1]"
        )),
    }
}

fn timeouts(t: FileTimeouts) -> Result<Timeouts, Bad> {
    let d = Timeouts::default();
    let get = |name: &str, v: Option<String>, default: Duration, zero_ok: bool| {
        let key = format!("timeouts.{name}");
        let Some(v) = v else { return Ok(default) };
        let dur = parse_duration(&v).map_err(|r| bad(&key, r))?;
        if dur.is_zero() && !zero_ok {
            return Err(bad(&key, "must be greater than zero"));
        }
        Ok(dur)
    };
    Ok(Timeouts {
        client: get("client", t.client, d.client, false)?,
        keepalive: get("keepalive", t.keepalive, d.keepalive, false)?,
        header: get("header", t.header, d.header, false)?,
        handshake: get("handshake", t.handshake, d.handshake, false)?,
        server: get("server", t.server, d.server, false)?,
        connect: get("connect", t.connect, d.connect, false)?,
        // Zero grace is meaningful: stop at once.
        grace: get("grace", t.grace, d.grace, true)?,
        queue: get("queue", t.queue, d.queue, false)?,
    })
}

/// `tls.groups`: known names, no repeats, at least one group TLS 1.2 clients can use.
fn groups(names: &[String]) -> Result<Vec<Group>, Bad> {
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let g = Group::from_name(n).ok_or_else(|| {
            bad(
                format!("tls.groups[{i}]"),
                format!("unknown group \"{n}\" (known: X25519MLKEM768, X25519, P-256)"),
            )
        })?;
        if out.contains(&g) {
            return Err(bad(
                format!("tls.groups[{i}]"),
                format!("\"{n}\" listed twice"),
            ));
        }
        out.push(g);
    }
    if !out.iter().any(|g| *g != Group::X25519MLKEM768) {
        return Err(bad(
            "tls.groups",
            "needs X25519 or P-256 too (TLS 1.2 clients and clients without ML-KEM)",
        ));
    }
    Ok(out)
}

fn redirects(
    f: &[super::file::FileRedirect],
    tls: &[ListenerConfig],
) -> Result<Vec<RedirectListener>, Bad> {
    let mut out: Vec<RedirectListener> = Vec::with_capacity(f.len());
    for (i, r) in f.iter().enumerate() {
        let key = format!("redirect[{i}].address");
        let a = r.address.as_deref().ok_or_else(|| bad(&key, "missing"))?;
        let address = parse_socket_addr(a).map_err(|e| bad(&key, e))?;
        // Port 0 (ephemeral, tests) never collides.
        let taken =
            tls.iter().any(|l| l.address == address) || out.iter().any(|o| o.address == address);
        if address.port() != 0 && taken {
            return Err(bad(
                &key,
                format!("{address} is already used by another listener"),
            ));
        }
        let backlog = match r.backlog {
            None => DEFAULT_BACKLOG,
            Some(b) => u32::try_from(b)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| {
                    bad(
                        format!("redirect[{i}].backlog"),
                        "must be a positive number",
                    )
                })?,
        };
        for (j, p) in r.exempt_paths.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(bad(
                    format!("redirect[{i}].exempt_paths[{j}]"),
                    "must start with /",
                ));
            }
        }
        out.push(RedirectListener {
            address,
            backlog,
            exempt_paths: r.exempt_paths.clone(),
        });
    }
    Ok(out)
}

/// The admin listener of a configuration file without `[admin]`.
pub(crate) const DEFAULT_ADMIN: &str = "127.0.0.1:9422";

/// Connections per listener when `maxconn` is not given (split evenly over the shards).
pub(crate) const DEFAULT_MAXCONN: usize = 100_000;

fn per_ip(l: &super::file::FileLimits) -> Result<PerIpSettings, Bad> {
    let mut s = PerIpSettings::default();
    if let Some(n) = l.per_ip_max_concurrent {
        s.max_concurrent = u32::try_from(n)
            .map_err(|_| bad("limits.per_ip_max_concurrent", "must be 0 (no cap) or more"))?;
    }
    if let Some(p) = &l.per_ip_penalty {
        s.penalty = parse_duration(p).map_err(|r| bad("limits.per_ip_penalty", r))?;
    }
    for (i, n) in l.trusted_networks.iter().enumerate() {
        let cidr = n
            .parse::<Cidr>()
            .map_err(|r| bad(format!("limits.trusted_networks[{i}]"), r))?;
        s.trusted.push(cidr);
    }
    Ok(s)
}

fn limits(l: super::file::FileLimits) -> Result<Limits, Bad> {
    let d = Limits::default();
    let positive = |name: &str, v: Option<i64>, default: usize| -> Result<usize, Bad> {
        let key = format!("limits.{name}");
        match v {
            None => Ok(default),
            Some(n) if n > 0 => non_negative(&key, n),
            Some(_) => Err(bad(key, "must be greater than zero")),
        }
    };
    let limits = Limits {
        max_head_bytes: positive("max_head_bytes", l.max_head_bytes, d.max_head_bytes)?,
        max_uri_bytes: positive("max_uri_bytes", l.max_uri_bytes, d.max_uri_bytes)?,
        max_headers: positive("max_headers", l.max_headers, d.max_headers)?,
        max_body_bytes: match l.max_body_bytes {
            None => d.max_body_bytes,
            Some(n) => u64::try_from(n)
                .map_err(|_| bad("limits.max_body_bytes", "must not be negative"))?,
        },
    };
    if limits.max_uri_bytes > limits.max_head_bytes {
        return Err(bad(
            "limits.max_uri_bytes",
            format!(
                "{} is larger than limits.max_head_bytes ({}); the URI is part of the head",
                limits.max_uri_bytes, limits.max_head_bytes
            ),
        ));
    }
    Ok(limits)
}

/// `[h2]`: every value within the range HTTP/2 (RFC 9113 §6.5.2) or the h2 crate allows.
fn h2_settings(f: FileH2) -> Result<H2Settings, Bad> {
    let d = H2Settings::default();
    let get = |name: &str, v: Option<i64>, default: u32, min: u32, max: u32| {
        let Some(n) = v else { return Ok(default) };
        u32::try_from(n)
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                bad(
                    format!("h2.{name}"),
                    format!(
                        "{n} is out of range: must be between {min} and {max} (default {default})"
                    ),
                )
            })
    };
    const WINDOW_MAX: u32 = (1 << 31) - 1;
    Ok(H2Settings {
        enabled: f.enabled.unwrap_or(d.enabled),
        header_table_size: get(
            "header_table_size",
            f.header_table_size,
            d.header_table_size,
            0,
            1 << 20,
        )?,
        initial_window_size: get(
            "initial_window_size",
            f.initial_window_size,
            d.initial_window_size,
            1,
            WINDOW_MAX,
        )?,
        connection_window_size: get(
            "connection_window_size",
            f.connection_window_size,
            d.connection_window_size,
            65_535,
            WINDOW_MAX,
        )?,
        max_concurrent_streams: get(
            "max_concurrent_streams",
            f.max_concurrent_streams,
            d.max_concurrent_streams,
            1,
            10_000,
        )?,
        max_frame_size: get(
            "max_frame_size",
            f.max_frame_size,
            d.max_frame_size,
            16_384,
            16_777_215,
        )?,
        max_header_list_size: get(
            "max_header_list_size",
            f.max_header_list_size,
            d.max_header_list_size,
            1024,
            1 << 24,
        )?,
        max_send_buffer_size: get(
            "max_send_buffer_size",
            f.max_send_buffer_size,
            d.max_send_buffer_size,
            1024,
            1 << 26,
        )?,
        max_resets_per_second: get(
            "max_resets_per_second",
            f.max_resets_per_second,
            d.max_resets_per_second,
            1,
            u32::MAX,
        )?,
        max_control_frames_per_second: get(
            "max_control_frames_per_second",
            f.max_control_frames_per_second,
            d.max_control_frames_per_second,
            1,
            u32::MAX,
        )?,
        max_pending_accept_reset_streams: get(
            "max_pending_accept_reset_streams",
            f.max_pending_accept_reset_streams,
            d.max_pending_accept_reset_streams,
            1,
            100_000,
        )?,
        max_local_error_reset_streams: get(
            "max_local_error_reset_streams",
            f.max_local_error_reset_streams,
            d.max_local_error_reset_streams,
            1,
            1_000_000,
        )?,
    })
}

pub(crate) fn non_negative(key: &str, n: i64) -> Result<usize, Bad> {
    usize::try_from(n).map_err(|_| bad(key, "must not be negative"))
}

/// Checks `default_name` against the loaded certificates' names (wildcards count literally).
pub(crate) fn tls_settings(
    default_name: Option<String>,
    certs: &[LoadedCert],
    key: &str,
) -> Result<TlsSettings, Bad> {
    let Some(name) = default_name else {
        return Ok(TlsSettings::default());
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if certs.iter().any(|c| c.names.contains(&name)) {
        return Ok(TlsSettings {
            default_name: Some(name),
            ..TlsSettings::default()
        });
    }
    let mut known: Vec<&str> = certs
        .iter()
        .flat_map(|c| c.names.iter().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    Err(bad(
        key,
        format!(
            "\"{name}\" is not a name of any certificate (names: {})",
            known.join(", ")
        ),
    ))
}
