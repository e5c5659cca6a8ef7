//! Configuration: a TOML file (or the quick-start flags) parsed into a validated [`Config`].
//!
//! INTERFACE CONTRACT (used by `main`, `shard`, `proxy`): the types below, [`Config::from_file`],
//! [`Config::quick`], [`Config::check`].

mod file;

use crate::http::Limits;
use crate::tls::LoadedCert;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A validated configuration: code that holds one can trust every field.
#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Vec<ListenerConfig>,
    pub shards: ShardSpec,
    /// Loaded certificates (chain + key), at least one.
    pub certificates: Vec<LoadedCert>,
    pub tls: TlsSettings,
    pub upstream: UpstreamConfig,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub log: LogConfig,
    /// Admin listener (metrics, health); `None` = off.
    pub admin: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub address: SocketAddr,
    /// listen(2) backlog. Default 4096.
    pub backlog: NonZeroU32,
}

/// Which CPUs run shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardSpec {
    /// All CPUs of one NUMA node; `None` = the node of the first online CPU.
    Auto { node: Option<usize> },
    /// These CPUs, one shard each.
    Cpus(Vec<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Name whose certificates serve clients without SNI; `None` = first certificate.
    pub default_name: Option<String>,
}

/// Where the cache layer listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            UpstreamAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub address: UpstreamAddr,
    /// Idle keep-alive connections kept per shard. Default 128.
    pub max_idle_per_shard: usize,
}

/// Timeouts. Defaults: client 120 s, keepalive 120 s, header 10 s, handshake 10 s,
/// server 180 s, connect 3 s, grace 30 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Inactivity while receiving a request body from / sending a response to the client.
    pub client: Duration,
    /// Idle time between two requests on a keep-alive connection.
    pub keepalive: Duration,
    /// From the first byte of a request to its complete head (→ 408).
    pub header: Duration,
    /// TCP accept to finished TLS handshake.
    pub handshake: Duration,
    /// Waiting for the upstream's response head, or inactivity of its body (→ 504).
    pub server: Duration,
    /// Connecting to the upstream (one retry on failure).
    pub connect: Duration,
    /// Shutdown grace period for in-flight requests.
    pub grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            client: Duration::from_secs(120),
            keepalive: Duration::from_secs(120),
            header: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            server: Duration::from_secs(180),
            connect: Duration::from_secs(3),
            grace: Duration::from_secs(30),
        }
    }
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub access: AccessLog,
}

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

/// Quick-start flags of `tlsterm run` (hitch style), turned into the same [`Config`].
#[derive(Debug, Clone, Default)]
pub struct QuickStart {
    pub listen: Vec<SocketAddr>,
    pub upstream: String,
    pub certs: Vec<PathBuf>,
    /// "auto" or a comma list like "0,1" or "0-3".
    pub shards: Option<String>,
    pub admin: Option<SocketAddr>,
}

impl Config {
    /// Reads, parses and validates a TOML file, loading every certificate it names.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let _ = path;
        todo!()
    }

    /// Builds a configuration from the quick-start flags (defaults for everything else).
    pub fn quick(q: &QuickStart) -> Result<Config, ConfigError> {
        let _ = q;
        todo!()
    }

    /// Checks beyond parsing: every certificate currently valid at `now`, key matching.
    /// Returns a human summary on success.
    pub fn check(&self, now: SystemTime) -> Result<String, ConfigError> {
        let _ = now;
        todo!()
    }
}
