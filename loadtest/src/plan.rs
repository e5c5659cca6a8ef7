//! The checked run description: [`Plan`] built from [`crate::cli::LoadArgs`].
//!
//! Job: refuse what must not run (a non-loopback target without `--allow-remote`, a zero
//! duration, a rate of zero, pipelining where there is no keep-alive, `--streams` outside `h2`, no
//! verification choice, an `h2` run without `h2` in ALPN or with a request HTTP/2 forbids) and
//! hand the rest of the program typed values only.
//! Code holding a `Plan` can trust it ("parse, don't validate").
//!
//! What it does not do: touch files or sockets (the CA file is read by [`crate::tls`], server
//! PIDs are checked by [`crate::run`]).

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{LoadArgs, ScenarioArg, TlsArg};
use crate::h2head::{Head, HeadError};
use crate::parse::{self, ParseError};

/// Scenarios that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Handshake,
    Resume,
    Keepalive,
    Bulk,
    Idle,
    H2,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Handshake => "handshake",
            Scenario::Resume => "resume",
            Scenario::Keepalive => "keepalive",
            Scenario::Bulk => "bulk",
            Scenario::Idle => "idle",
            Scenario::H2 => "h2",
        }
    }

    /// One operation is one new connection (rather than one request on a kept connection).
    pub fn connection_per_op(self) -> bool {
        matches!(self, Scenario::Handshake | Scenario::Resume)
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Every connection sends its next request as soon as the previous answer is in.
    Closed,
    /// Requests per second in total, on a fixed schedule (coordinated omission corrected).
    Open { rate: f64 },
}

/// Certificate checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Benchmark only: accept anything, skip signature checks.
    Skip,
    /// Verify against the CA certificates in this PEM file.
    CaFile(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    Only12,
    Only13,
    Both,
}

/// Everything about the TLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    pub verify: Verify,
    /// Name sent as SNI and verified; `None`: no SNI, the target IP is verified.
    pub sni: Option<String>,
    pub versions: TlsVersions,
    /// ALPN protocol ids, in preference order (empty: extension not sent).
    pub alpn: Vec<Vec<u8>>,
}

/// The HTTP request sent per operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    /// False for `--no-request` (handshake-only).
    pub send: bool,
}

/// Where the results go besides the human table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub json: bool,
    pub hgrm: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub quiet: bool,
}

/// A checked run description.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub scenario: Scenario,
    pub target: SocketAddr,
    pub cpus: Vec<usize>,
    /// Total connections (split over the shards, each shard gets at least one).
    pub connections: NonZeroUsize,
    /// Requests in flight per connection: `--pipeline` (keepalive/bulk), `--streams` (h2),
    /// else 1.
    pub pipeline: NonZeroUsize,
    pub pacing: Pacing,
    /// Measured window length; `None` when bounded by `requests` only.
    pub duration: Option<Duration>,
    /// Measured operations in total; `None` when bounded by time only.
    pub requests: Option<NonZeroU64>,
    pub warmup: Duration,
    pub timeout: Duration,
    pub request: RequestSpec,
    /// The checked HTTP/2 request (h2 only).
    pub h2: Option<Head>,
    pub tls: TlsSpec,
    pub outputs: Outputs,
    pub server_pids: Vec<u32>,
    pub server_cores: NonZeroU32,
    /// CPUs the server is pinned to (`--server-cpus`), empty if not given.
    pub server_cpus: Vec<usize>,
    pub max_errors: u64,
}

/// Why the command line was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("--target is required (e.g. --target 127.0.0.1:8443)")]
    NoTarget,
    #[error("target {0} is not a loopback address; pass --allow-remote if you mean it")]
    RemoteTarget(SocketAddr),
    #[error("--{0} must be greater than zero")]
    Zero(&'static str),
    #[error("--rate must be a positive number of requests per second, got {0}")]
    BadRate(f64),
    #[error("--{flag} is not meaningful for the {scenario} scenario")]
    NotFor {
        flag: &'static str,
        scenario: &'static str,
    },
    #[error("give --cacert FILE or --insecure-skip-verify (benchmark only)")]
    NoVerifyChoice,
    #[error("--cacert and --insecure-skip-verify exclude each other")]
    BothVerifyChoices,
    #[error("--connections {connections} is fewer than the {cpus} CPUs given with --cpus")]
    FewerConnectionsThanCpus { connections: usize, cpus: usize },
    #[error("bad --alpn {0:?}: a comma-separated list of protocol ids, or `none`")]
    Alpn(String),
    #[error("--path must start with '/' and contain no spaces or control characters")]
    Path,
    #[error("bad --sni/--host {0:?}")]
    Name(String),
    #[error("the h2 scenario needs `h2` among the --alpn protocols")]
    H2Alpn,
    #[error(transparent)]
    H2Request(#[from] HeadError),
}

impl Plan {
    pub fn from_args(a: &LoadArgs) -> Result<Plan, PlanError> {
        let scenario = match a.scenario {
            ScenarioArg::Handshake => Scenario::Handshake,
            ScenarioArg::Resume => Scenario::Resume,
            ScenarioArg::Keepalive => Scenario::Keepalive,
            ScenarioArg::Bulk => Scenario::Bulk,
            ScenarioArg::Idle => Scenario::Idle,
            ScenarioArg::H2 => Scenario::H2,
        };
        let not_for = |flag| PlanError::NotFor {
            flag,
            scenario: scenario.name(),
        };
        let target = parse::address(a.target.as_deref().ok_or(PlanError::NoTarget)?)?;
        if !a.allow_remote && !parse::is_loopback(target.ip()) {
            return Err(PlanError::RemoteTarget(target));
        }
        let cpus = parse::cpu_list(&a.cpus)?;
        let connections = NonZeroUsize::new(a.connections).ok_or(PlanError::Zero("connections"))?;
        if connections.get() < cpus.len() {
            return Err(PlanError::FewerConnectionsThanCpus {
                connections: connections.get(),
                cpus: cpus.len(),
            });
        }
        let pipeline = NonZeroUsize::new(a.pipeline).ok_or(PlanError::Zero("pipeline"))?;
        if pipeline.get() > 1 && !matches!(scenario, Scenario::Keepalive | Scenario::Bulk) {
            return Err(not_for("pipeline"));
        }
        let pipeline = match (scenario, a.streams) {
            (Scenario::H2, streams) => {
                NonZeroUsize::new(streams.unwrap_or(10)).ok_or(PlanError::Zero("streams"))?
            }
            (_, Some(_)) => return Err(not_for("streams")),
            (_, None) => pipeline,
        };
        let pacing = match a.rate {
            None => Pacing::Closed,
            Some(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Pacing::Open { rate: r },
            Some(r) => return Err(PlanError::BadRate(r)),
        };
        let duration = match &a.duration {
            Some(d) => Some(non_zero(parse::duration(d)?, "duration")?),
            None if a.requests.is_none() => Some(Duration::from_secs(10)),
            None => None,
        };
        let requests = match a.requests {
            Some(n) => Some(NonZeroU64::new(n).ok_or(PlanError::Zero("requests"))?),
            None => None,
        };
        let warmup = parse::duration(&a.warmup)?;
        let timeout = non_zero(parse::duration(&a.timeout)?, "timeout")?;
        if scenario == Scenario::Idle {
            if a.rate.is_some() {
                return Err(not_for("rate"));
            }
            if a.requests.is_some() {
                return Err(not_for("requests"));
            }
            if !warmup.is_zero() {
                return Err(not_for("warmup"));
            }
        }
        if a.no_request && !scenario.connection_per_op() {
            return Err(not_for("no-request"));
        }
        let tls = tls_spec(a, scenario)?;
        if scenario == Scenario::H2 && !tls.alpn.iter().any(|p| p == b"h2") {
            return Err(PlanError::H2Alpn);
        }
        let request = request_spec(a, scenario, target, &tls)?;
        let h2 = match scenario {
            Scenario::H2 => Some(Head::new(&request)?),
            _ => None,
        };
        Ok(Plan {
            scenario,
            target,
            cpus,
            connections,
            pipeline,
            pacing,
            duration,
            requests,
            warmup,
            timeout,
            request,
            h2,
            tls,
            outputs: Outputs {
                json: a.json,
                hgrm: a.hgrm.clone(),
                plot: a.plot.clone(),
                quiet: a.quiet,
            },
            server_pids: a.server_pids.clone(),
            server_cores: NonZeroU32::new(a.server_cores).ok_or(PlanError::Zero("server-cores"))?,
            server_cpus: match &a.server_cpus {
                Some(list) => parse::cpu_list(list)?,
                None => Vec::new(),
            },
            max_errors: a.max_errors,
        })
    }

    /// Connections of shard `k` (of `self.cpus.len()`): an even split, the first shards take the
    /// remainder.
    pub fn connections_of(&self, k: usize) -> usize {
        split(self.connections.get() as u64, self.cpus.len(), k) as usize
    }

    /// Measured requests of shard `k`, when bounded by `--requests`.
    pub fn requests_of(&self, k: usize) -> Option<u64> {
        self.requests.map(|n| split(n.get(), self.cpus.len(), k))
    }

    /// Request rate of shard `k` (open loop): the total rate split like the connections.
    pub fn pacing_of(&self, k: usize) -> Pacing {
        match self.pacing {
            Pacing::Closed => Pacing::Closed,
            Pacing::Open { rate } => Pacing::Open {
                rate: rate * self.connections_of(k) as f64 / self.connections.get() as f64,
            },
        }
    }
}

fn split(total: u64, parts: usize, k: usize) -> u64 {
    let parts = parts.max(1) as u64;
    total / parts + u64::from((k as u64) < total % parts)
}

fn non_zero(d: Duration, flag: &'static str) -> Result<Duration, PlanError> {
    if d.is_zero() {
        Err(PlanError::Zero(flag))
    } else {
        Ok(d)
    }
}

fn tls_spec(a: &LoadArgs, scenario: Scenario) -> Result<TlsSpec, PlanError> {
    let verify = match (&a.cacert, a.insecure_skip_verify) {
        (Some(_), true) => return Err(PlanError::BothVerifyChoices),
        (Some(p), false) => Verify::CaFile(p.clone()),
        (None, true) => Verify::Skip,
        (None, false) => return Err(PlanError::NoVerifyChoice),
    };
    let versions = match a.tls {
        TlsArg::V12 => TlsVersions::Only12,
        TlsArg::V13 => TlsVersions::Only13,
        TlsArg::Auto => TlsVersions::Both,
    };
    let alpn_arg = match (&a.alpn, scenario) {
        (Some(s), _) => s.as_str(),
        (None, Scenario::H2) => "h2",
        (None, _) => "http/1.1",
    };
    let alpn = if alpn_arg.trim() == "none" {
        Vec::new()
    } else {
        let list: Vec<Vec<u8>> = alpn_arg
            .split(',')
            .map(|p| p.trim().as_bytes().to_vec())
            .collect();
        if list.iter().any(|p| p.is_empty() || p.len() > 255) {
            return Err(PlanError::Alpn(alpn_arg.to_string()));
        }
        list
    };
    if let Some(s) = &a.sni {
        check_name(s)?;
    }
    Ok(TlsSpec {
        verify,
        sni: a.sni.clone(),
        versions,
        alpn,
    })
}

fn request_spec(
    a: &LoadArgs,
    scenario: Scenario,
    target: SocketAddr,
    tls: &TlsSpec,
) -> Result<RequestSpec, PlanError> {
    let default_path = if scenario == Scenario::Bulk {
        "/bytes/1048576"
    } else {
        "/"
    };
    let path = a.path.clone().unwrap_or_else(|| default_path.to_string());
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PlanError::Path);
    }
    let host = match (&a.host, &tls.sni) {
        (Some(h), _) => h.clone(),
        (None, Some(s)) => s.clone(),
        (None, None) => target.to_string(),
    };
    check_name(&host)?;
    let headers = a
        .headers
        .iter()
        .map(|h| parse::header(h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RequestSpec {
        path,
        host,
        headers,
        send: !a.no_request,
    })
}

fn check_name(s: &str) -> Result<(), PlanError> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PlanError::Name(s.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
