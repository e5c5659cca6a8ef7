//! Building the `[upstream]`, `[process]` and `[debug]` sections: the cache backends (one
//! `address` or a `backends` group), balancing, passive and active health, the reserved
//! health-check pool; the user to run as; the networks trusted with the debug header.
//!
//! Does not: resolve user or group names (`tlsterm check` and the privilege drop do, with
//! `privdrop::resolve`; building a configuration needs no user database), or open any
//! socket.
//!
//! Invariants of the result: at least one backend, no backend twice, every duration non-zero,
//! `check_rise`/`check_fall` at least 1.
use std::path::Path;
use std::time::Duration;

use super::build::{bad, non_negative, Bad};
use super::file::{FileDebug, FileProcess, FileUpstream};
use super::values::parse_duration;
use super::{
    parse_upstream, ActiveCheck, Balance, Eject, HealthRoute, ProcessSettings, UpstreamConfig,
};
use crate::limits::Cidr;

/// Idle keep-alive connections per shard (per backend) when `max_idle_per_shard` is absent.
pub(crate) const DEFAULT_MAX_IDLE: usize = 1024;

/// The `[upstream]` section; relative socket paths are joined to `base`.
pub(crate) fn upstream(up: Option<FileUpstream>, base: &Path) -> Result<UpstreamConfig, Bad> {
    let up = up.ok_or_else(|| {
        bad(
            "upstream",
            "missing section [upstream] with address = ... (or backends = [...])",
        )
    })?;
    let backends = match (up.address, up.backends) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "upstream.backends",
                "give either address (one backend) or backends (a group), not both",
            ))
        }
        (None, None) => {
            return Err(bad(
                "upstream.address",
                "missing (unix:/path or host:port; or backends = [...] for a group)",
            ))
        }
        (Some(a), None) => vec![parse_upstream(&a, base).map_err(|r| bad("upstream.address", r))?],
        (None, Some(list)) => {
            if list.is_empty() {
                return Err(bad("upstream.backends", "empty; give at least one backend"));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, a) in list.iter().enumerate() {
                let key = format!("upstream.backends[{i}]");
                let addr = parse_upstream(a, base).map_err(|r| bad(&key, r))?;
                if out.contains(&addr) {
                    return Err(bad(key, format!("{addr} is listed twice")));
                }
                out.push(addr);
            }
            out
        }
    };
    let balance = match up.balance.as_deref() {
        None | Some("round-robin") => Balance::RoundRobin,
        Some("least-outstanding") => Balance::LeastOutstanding,
        Some(other) => {
            return Err(bad(
                "upstream.balance",
                format!("\"{other}\": use \"round-robin\" or \"least-outstanding\""),
            ))
        }
    };
    let mut eject = Eject::default();
    if let Some(n) = up.eject_after_failures {
        eject.after_failures = u32::try_from(n)
            .map_err(|_| bad("upstream.eject_after_failures", "must be 0 (never) or more"))?;
    }
    if let Some(d) = &up.eject_duration {
        eject.duration = positive_duration("upstream.eject_duration", d)?;
    }
    let check = match up.check_path {
        None => {
            for (key, given) in [
                ("check_host", up.check_host.is_some()),
                ("check_interval", up.check_interval.is_some()),
                ("check_timeout", up.check_timeout.is_some()),
                ("check_rise", up.check_rise.is_some()),
                ("check_fall", up.check_fall.is_some()),
            ] {
                if given {
                    return Err(bad(
                        format!("upstream.{key}"),
                        "has no effect without upstream.check_path",
                    ));
                }
            }
            None
        }
        Some(path) if path.starts_with('/') && !path.contains([' ', '\r', '\n']) => {
            Some(ActiveCheck {
                path,
                host: match up.check_host {
                    None => "localhost".to_string(),
                    Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()) => h,
                    Some(_) => return Err(bad("upstream.check_host", "not a host name")),
                },
                interval: match &up.check_interval {
                    None => Duration::from_secs(2),
                    Some(d) => positive_duration("upstream.check_interval", d)?,
                },
                timeout: match &up.check_timeout {
                    None => Duration::from_secs(1),
                    Some(d) => positive_duration("upstream.check_timeout", d)?,
                },
                rise: at_least_one("upstream.check_rise", up.check_rise, 2)?,
                fall: at_least_one("upstream.check_fall", up.check_fall, 3)?,
            })
        }
        Some(_) => {
            return Err(bad(
                "upstream.check_path",
                "must start with / and contain no spaces",
            ))
        }
    };
    Ok(UpstreamConfig {
        backends,
        balance,
        eject,
        check,
        max_idle_per_shard: match up.max_idle_per_shard {
            None => DEFAULT_MAX_IDLE,
            Some(n) => non_negative("upstream.max_idle_per_shard", n)?,
        },
        max_connections_per_shard: match up.max_connections_per_shard {
            None => 0,
            Some(n) => non_negative("upstream.max_connections_per_shard", n)?,
        },
        health: match up.health_path {
            None => None,
            Some(path) if path.starts_with('/') => Some(HealthRoute {
                path,
                host_prefix: up.health_host_prefix.unwrap_or_default(),
                connections_per_shard: match up.health_connections_per_shard {
                    None => 2,
                    Some(n) if n > 0 => non_negative("upstream.health_connections_per_shard", n)?,
                    Some(_) => {
                        return Err(bad(
                            "upstream.health_connections_per_shard",
                            "must be greater than zero",
                        ))
                    }
                },
            }),
            Some(_) => return Err(bad("upstream.health_path", "must start with /")),
        },
    })
}

/// A single backend with every other setting at its default (quick-start flags, tests).
pub(crate) fn single(address: super::UpstreamAddr) -> UpstreamConfig {
    UpstreamConfig {
        backends: vec![address],
        balance: Balance::RoundRobin,
        eject: Eject::default(),
        check: None,
        max_idle_per_shard: DEFAULT_MAX_IDLE,
        max_connections_per_shard: 0,
        health: None,
    }
}

/// The `[process]` section: names are checked for shape only here.
pub(crate) fn process(p: Option<FileProcess>) -> Result<ProcessSettings, Bad> {
    let p = p.unwrap_or_default();
    let name = |key: &str, v: Option<String>| -> Result<Option<String>, Bad> {
        match v {
            None => Ok(None),
            Some(n) if !n.is_empty() && !n.contains([':', '\0', '\n', '/']) => Ok(Some(n)),
            Some(n) => Err(bad(key, format!("\"{n}\" is not a user or group name"))),
        }
    };
    let user = name("process.user", p.user)?;
    let group = name("process.group", p.group)?;
    if group.is_some() && user.is_none() {
        return Err(bad(
            "process.group",
            "needs process.user (the user to switch to)",
        ));
    }
    Ok(ProcessSettings { user, group })
}

/// Loopback: where the debug header is answered when `[debug] networks` is absent.
pub(crate) fn default_debug_networks() -> Vec<Cidr> {
    vec![Cidr::loopback_v4(), Cidr::loopback_v6()]
}

/// The `[debug]` section: the networks whose `X-Tlsterm-Debug` requests are answered.
pub(crate) fn debug_networks(d: Option<FileDebug>) -> Result<Vec<Cidr>, Bad> {
    match d.and_then(|d| d.networks) {
        None => Ok(default_debug_networks()),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.parse::<Cidr>()
                    .map_err(|r| bad(format!("debug.networks[{i}]"), r))
            })
            .collect(),
    }
}

fn positive_duration(key: &str, text: &str) -> Result<Duration, Bad> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err(bad(key, "must be greater than zero")),
        Ok(d) => Ok(d),
        Err(r) => Err(bad(key, r)),
    }
}

fn at_least_one(key: &str, v: Option<i64>, default: u32) -> Result<u32, Bad> {
    match v {
        None => Ok(default),
        Some(n) if n >= 1 => u32::try_from(n).map_err(|_| bad(key, "too large")),
        Some(_) => Err(bad(key, "must be 1 or more")),
    }
}
