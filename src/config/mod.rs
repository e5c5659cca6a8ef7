//! Configuration: a TOML file (or the quick-start flags) parsed into a validated [`Config`].
//!
//! INTERFACE CONTRACT (used by `main`, `shard`, `proxy`): the types below, [`Config::from_file`],
//! [`Config::quick`], [`Config::check`].
//!
//! Layout: `file` is the serde mirror of the TOML (strings and integers as written), `values`
//! the pure value parsers ([`parse_duration`], [`parse_upstream`], ...), `build` turns the
//! mirror or the quick-start flags into a [`Config`] (loading certificates), `check` decides
//! certificate validity at a given `now` and writes the human summary.
//!
//! Does not: read the clock, look at /sys (`topology` resolves [`ShardSpec`] when shards
//! start), or watch files for reloads.
//!
//! Invariants: a [`Config`] has at least one listener and one certificate, distinct listener
//! addresses, non-zero timeouts (except `grace`), and absolute or config-relative paths
//! already resolved: relative paths in a file are relative to the file's directory, so a
//! configuration anywhere on disk works. Every error is a [`ConfigError`] naming the file
//! (or "(command line)"), the dotted key (`certificate[1].pem`, `timeouts.server`) or flag
//! (`--cert`), and what is wrong.

mod build;
mod check;
mod file;
mod upstream;
mod values;

pub use check::format_utc;
pub use values::{
    format_duration, parse_duration, parse_shard_spec, parse_socket_addr, parse_upstream,
};

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
    /// Which shard a new connection goes to (`[shards] steering`). Default: the kernel's hash.
    pub steering: Steering,
    /// Whether shards create their io_uring rings with COOP_TASKRUN and SINGLE_ISSUER
    /// (`[shards] cooperative_taskrun`, default true; see [`crate::uring`]).
    pub cooperative_taskrun: bool,
    /// Loaded certificates (chain + key), at least one.
    pub certificates: Vec<LoadedCert>,
    pub tls: TlsSettings,
    pub upstream: UpstreamConfig,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub log: LogConfig,
    /// Admin listener (metrics, health). From a file: default 127.0.0.1:9422, `"off"` = none;
    /// quick-start flags: only with `--admin`.
    pub admin: Option<SocketAddr>,
    pub sli: SliSettings,
    /// Per-client-IP concurrency cap, penalty and exemptions.
    pub per_ip: crate::limits::PerIpSettings,
    /// Plain-HTTP listeners (:80): redirect to https, exempt paths proxied (`[[redirect]]`).
    pub redirects: Vec<RedirectListener>,
    /// Test-only fault injection, never set from the configuration file (see [`TestHooks`]).
    pub test: TestHooks,
    /// HTTP/2 towards clients (`[h2]`).
    pub h2: H2Settings,
    /// The user and group to run as once the sockets are bound (`[process]`).
    pub process: ProcessSettings,
    /// Client networks whose `X-Tlsterm-Debug: timers` is answered (`[debug] networks`).
    /// Default: loopback only (127.0.0.0/8, ::1).
    pub debug_networks: Vec<crate::limits::Cidr>,
}

/// Which shard a new connection goes to (`[shards] steering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Steering {
    /// `"hash"`: the kernel's SO_REUSEPORT hash of the connection's addresses (default).
    #[default]
    Hash,
    /// `"cpu"`: the shard on the CPU that processes the connection's SYN (a classic BPF program
    /// on the SO_REUSEPORT group), so a NIC queue's IRQ/RPS CPU and the shard serving it are
    /// the same; other CPUs fall back to the hash. Worth it only when the NIC's queues are
    /// steered to the shards' CPUs (tuning/nic-affinity).
    Cpu,
}

/// Privilege drop (`[process]`): after binding the listeners and loading the keys as root,
/// the process switches to `user` (and `group`, default the user's primary group; the
/// supplementary groups become just that group). `None` = keep running as started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    pub user: Option<String>,
    pub group: Option<String>,
}

/// HTTP/2 towards clients (`[h2]`). Defaults are the settings deployed today; the SETTINGS
/// values are announced to every client, the rate caps are tlsterm's own abuse limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Settings {
    /// Offer `h2` by ALPN (preferred over `http/1.1`). Default true.
    pub enabled: bool,
    /// SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table the client may use, bytes. Default 4096.
    pub header_table_size: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: receive window of each stream, bytes. Default 65535.
    pub initial_window_size: u32,
    /// Receive window of the whole connection, bytes (65535 to 2^31-1). Default 1 MiB.
    pub connection_window_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS. Default 100.
    pub max_concurrent_streams: u32,
    /// SETTINGS_MAX_FRAME_SIZE, bytes (16384 to 16777215). Default 16384.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: decoded header list (names + values + 32 per field),
    /// bytes; a larger request is refused, a far larger one (HPACK bomb) ends the connection.
    /// Also bounds the buffered header block (CONTINUATION frames). Default 32768.
    pub max_header_list_size: u32,
    /// Response bytes queued per stream while the client's window is closed, bytes. Default 65536.
    pub max_send_buffer_size: u32,
    /// RST_STREAM frames a client may send per second on one connection; more → GOAWAY
    /// ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487). Default 100.
    pub max_resets_per_second: u32,
    /// PING, SETTINGS, PRIORITY, WINDOW_UPDATE on the connection and empty DATA frames a
    /// client may send per second on one connection; more → GOAWAY ENHANCE_YOUR_CALM.
    /// Default 1000.
    pub max_control_frames_per_second: u32,
    /// Streams reset by the client before tlsterm accepted them, queued at once; more → GOAWAY
    /// ENHANCE_YOUR_CALM (the h2 crate's own rapid-reset guard). Default 20.
    pub max_pending_accept_reset_streams: u32,
    /// Streams tlsterm may reset for the client's protocol errors on one connection; more →
    /// GOAWAY ENHANCE_YOUR_CALM. Default 1024.
    pub max_local_error_reset_streams: u32,
}

impl Default for H2Settings {
    fn default() -> Self {
        H2Settings {
            enabled: true,
            header_table_size: 4096,
            initial_window_size: 65_535,
            connection_window_size: 1 << 20,
            max_concurrent_streams: 100,
            max_frame_size: 16_384,
            max_header_list_size: 32_768,
            max_send_buffer_size: 65_536,
            max_resets_per_second: 100,
            max_control_frames_per_second: 1000,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
        }
    }
}

/// Test-only fault injection, set only from environment variables by `main`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// `TLSTERM_TEST_DELAY_MS`: a delay added inside the proxy to every request (between the
    /// complete head and writing it upstream), so tests can make the proxy itself slow.
    pub delay: Option<Duration>,
    /// `TLSTERM_TEST_STALL_SHARD=K`: shard K blocks its executor for 10 s, one second after
    /// start, so the watchdog test can see a stuck shard.
    pub stall_shard: Option<usize>,
}

/// SLI settings (see SLO.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliSettings {
    /// A request whose proxy-internal latency reaches this is bad. Default 50 ms.
    pub latency_threshold: Duration,
}

impl Default for SliSettings {
    fn default() -> Self {
        SliSettings {
            latency_threshold: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub address: SocketAddr,
    /// listen(2) backlog. Default 4096.
    pub backlog: NonZeroU32,
    /// Open connections accepted on this listener, split evenly over the shards; at the limit
    /// a shard stops accepting (the kernel backlog holds new connections) and resumes below
    /// 90 % of its share. Default 100000.
    pub maxconn: usize,
}

/// A plain-HTTP listener: GET/HEAD → 301 to https, other methods → 403, paths starting with
/// one of `exempt_paths` proxied to the cache as plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectListener {
    pub address: SocketAddr,
    pub backlog: NonZeroU32,
    pub exempt_paths: Vec<String>,
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
    /// HAProxy-format session-ticket key file; `None` = keys generated in memory and rotated,
    /// shared by all shards of the process.
    pub ticket_keys: Option<PathBuf>,
    /// Lifetime announced for session tickets. Default 2 h.
    pub ticket_lifetime: Duration,
    /// TLS 1.2 session-ID cache entries per shard. Default 20000; 0 = no session-ID cache.
    pub session_cache_size: usize,
    /// Fetch OCSP responses from the responder named in each certificate (`ocsp.fetch`).
    pub ocsp_fetch: bool,
    /// Key-exchange groups in preference order (`tls.groups`). Default X25519MLKEM768, X25519,
    /// P-256.
    pub groups: Vec<crate::tls::Group>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            default_name: None,
            ticket_keys: None,
            ticket_lifetime: Duration::from_secs(2 * 3600),
            session_cache_size: 20_000,
            ocsp_fetch: false,
            groups: crate::tls::Group::DEFAULT.to_vec(),
        }
    }
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

/// The cache layer (`[upstream]`): one backend (`address`) or an upstream group
/// (`backends`), how requests are spread over a group, and when a backend is taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The backends, at least one, distinct; index order is the order in the file.
    pub backends: Vec<UpstreamAddr>,
    /// How a backend is chosen per request. Default round-robin.
    pub balance: Balance,
    /// Passive health: consecutive failures that take a backend out, and for how long.
    pub eject: Eject,
    /// Active health checks; `None` (default) = none.
    pub check: Option<ActiveCheck>,
    /// Idle keep-alive connections kept per shard (and backend). Default 1024; idle ones hold
    /// no buffer, and `max_idle_age` closes those not reused within 4 s.
    pub max_idle_per_shard: usize,
    /// Open connections (idle + busy) per shard; at the cap requests queue up to
    /// `timeouts.queue` (then 503 `sQ`). 0 = no cap (default).
    pub max_connections_per_shard: usize,
    /// Load-balancer health checks routed to a small reserved pool, so a saturated main pool
    /// never fails them. `None` = no reserved pool.
    pub health: Option<HealthRoute>,
}

impl UpstreamConfig {
    /// One backend, every other setting at its default.
    pub fn single(address: UpstreamAddr) -> Self {
        upstream::single(address)
    }
}

/// How a backend of the group is chosen for a request (`upstream.balance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// `"round-robin"`: each available backend in turn (per shard).
    RoundRobin,
    /// `"least-outstanding"`: the available backend with the fewest requests in flight on
    /// this shard (ties: in turn). Shard-local counts, so no cross-core traffic per request.
    LeastOutstanding,
}

/// Passive health (`upstream.eject_after_failures`, `upstream.eject_duration`): a backend
/// that fails this many times in a row (connect refused or timed out, closed without
/// answering on a fresh connection, unparsable response) is skipped for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eject {
    /// Consecutive failures that eject; 0 = never eject. Default 3.
    pub after_failures: u32,
    /// How long an ejected backend is skipped. Default 10 s.
    pub duration: Duration,
}

impl Default for Eject {
    fn default() -> Self {
        Eject {
            after_failures: 3,
            duration: Duration::from_secs(10),
        }
    }
}

/// Active health checks (`upstream.check_*`): `GET path` with `Host: host` on a fresh
/// connection to every backend each `interval`; a 2xx or 3xx within `timeout` passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCheck {
    /// Request path, e.g. `/varnish-ping`.
    pub path: String,
    /// Host header. Default `localhost`.
    pub host: String,
    /// Time between checks of one backend. Default 2 s.
    pub interval: Duration,
    /// Connect + answer within this. Default 1 s.
    pub timeout: Duration,
    /// Consecutive passes that bring a down backend back. Default 2.
    pub rise: u32,
    /// Consecutive failures that take an up backend down. Default 3.
    pub fall: u32,
}

/// Which requests are health checks, and the reserved pool's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRoute {
    /// Exact path (query ignored), e.g. `/varnish-fe`.
    pub path: String,
    /// The Host must start with this (e.g. `healthcheck.`); empty = any host.
    pub host_prefix: String,
    /// Connections of the reserved pool per shard. Default 2.
    pub connections_per_shard: usize,
}

impl HealthRoute {
    /// The request is a health check.
    pub fn matches(&self, host: Option<&str>, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or(target);
        path == self.path
            && (self.host_prefix.is_empty()
                || host.is_some_and(|h| {
                    h.get(..self.host_prefix.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(&self.host_prefix))
                }))
    }
}

/// Timeouts. Defaults: client 120 s, keepalive 120 s, header 10 s, handshake 10 s,
/// server 180 s, connect 3 s, grace 5 min.
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
    /// Shutdown grace period for in-flight requests (SIGTERM, or the old process of an
    /// upgrade); past it they are killed and logged with termination state `K`. Default 5 min.
    pub grace: Duration,
    /// Waiting for room in a capped upstream pool (→ 503 `sQ`).
    pub queue: Duration,
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
            grace: Duration::from_secs(300),
            queue: Duration::from_secs(3),
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
    /// `--ticket-keys FILE`.
    pub ticket_keys: Option<PathBuf>,
    /// `--ocsp-fetch`.
    pub ocsp_fetch: bool,
}

impl ConfigError {
    fn new(file: &str, (key, reason): (String, String)) -> Self {
        ConfigError {
            file: file.to_string(),
            key,
            reason,
        }
    }
}

/// `file` of errors from [`Config::quick`].
pub const COMMAND_LINE: &str = "(command line)";

impl Config {
    /// Reads, parses and validates a TOML file, loading every certificate it names.
    /// Relative paths in the file are resolved against the file's directory.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&name, ("(file)".into(), e.to_string())))?;
        let parsed = file::parse(&text).map_err(|b| ConfigError::new(&name, b))?;
        let base = path.parent().unwrap_or(Path::new(""));
        build::build(parsed, base).map_err(|b| ConfigError::new(&name, b))
    }

    /// Builds a configuration from the quick-start flags (defaults for everything else).
    /// Errors name [`COMMAND_LINE`] as the file and the flag as the key.
    pub fn quick(q: &QuickStart) -> Result<Config, ConfigError> {
        build::quick(q).map_err(|b| ConfigError::new(COMMAND_LINE, b))
    }

    /// Checks beyond parsing: every certificate valid at `now` (`not_before <= now <
    /// not_after`; key matching was already checked when loading). Returns a human summary.
    /// The error's `file` is the certificate's file and its key is `certificate[i]`.
    pub fn check(&self, now: SystemTime) -> Result<String, ConfigError> {
        check::check(self, now).map_err(|(i, reason)| ConfigError {
            file: self
                .certificates
                .get(i)
                .map_or_else(String::new, |c| c.path.display().to_string()),
            key: format!("certificate[{i}]"),
            reason,
        })
    }

    /// The human summary of [`Config::check`] without the validity checks.
    pub fn summary(&self, now: SystemTime) -> String {
        check::summary(self, now)
    }
}

#[cfg(test)]
mod testutil;

#[cfg(test)]
mod tests;
