//! The command line as typed: clap structs and nothing else.
//!
//! Job: describe every flag (the `--help` text is the reference; loadtest/README.md repeats it
//! with the reasoning). Values stay as the user spelled them (strings for durations and CPU
//! lists); [`crate::plan`] turns them into a checked [`crate::plan::Plan`].
//!
//! What it does not do: validation beyond what clap's types give for free.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for TLS terminators (glommio + rustls/ring), with honest latency.
#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A fast HTTP/1.1 keep-alive origin to put behind the terminator under test.
    Origin(OriginArgs),
}

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioArg {
    /// New TCP + TLS connection per request, full handshake, no resumption.
    Handshake,
    /// New connection per request, resuming the session of an earlier one.
    Resume,
    /// HTTP/1.1 keep-alive: requests on long-lived connections, optional pipelining.
    Keepalive,
    /// Keep-alive GETs of a large path; reports MB/s.
    Bulk,
    /// Open `--connections`, finish the handshakes, hold them for `--duration`.
    Idle,
    /// HTTP/2 (ALPN h2): GETs on `--streams` concurrent streams per kept connection.
    H2,
}

/// TLS protocol versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsArg {
    #[value(name = "1.2")]
    V12,
    #[value(name = "1.3")]
    V13,
    /// Offer both; the server picks (normally 1.3).
    Auto,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Scenario to run.
    #[arg(long, value_enum, default_value = "keepalive")]
    pub scenario: ScenarioArg,
    /// Server to load, `IP:PORT` or `localhost:PORT`. Must be loopback unless --allow-remote.
    #[arg(long)]
    pub target: Option<String>,
    /// Allow a target that is not a loopback address (you are loading someone's machine).
    #[arg(long)]
    pub allow_remote: bool,
    /// CPUs to run load shards on, one pinned glommio executor each: `0`, `0,2`, `0-3`.
    #[arg(long, default_value = "0")]
    pub cpus: String,
    /// Concurrent connections in total (split over the shards); for `idle`, connections to hold.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Requests in flight per connection (HTTP/1.1 pipelining; keepalive and bulk only).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Concurrent HTTP/2 streams (requests in flight) per connection (h2 only; default 10).
    #[arg(long)]
    pub streams: Option<usize>,
    /// Open loop: send this many requests per second in total, on schedule, and measure latency
    /// from the intended send time. Without it: closed loop (each connection as fast as it can).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Length of the measured window, e.g. `10s`, `500ms`, `2m`. Default 10s unless --requests.
    #[arg(long)]
    pub duration: Option<String>,
    /// Stop after this many measured requests (operations) in total.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Load before the measured window that is not counted, e.g. `2s`.
    #[arg(long, default_value = "0s")]
    pub warmup: String,
    /// Give up on a connect, handshake or response after this long (counted as a timeout).
    #[arg(long, default_value = "5s")]
    pub timeout: String,
    /// Request path. Default `/`, for bulk `/bytes/1048576`.
    #[arg(long)]
    pub path: Option<String>,
    /// Host header. Default: --sni if given, else the target address.
    #[arg(long)]
    pub host: Option<String>,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// handshake/resume: no HTTP request, only the handshake and a clean close.
    #[arg(long)]
    pub no_request: bool,
    /// TLS versions to offer.
    #[arg(long, value_enum, default_value = "auto")]
    pub tls: TlsArg,
    /// ALPN protocols to offer, comma-separated, or `none`. Default `http/1.1` (h2: `h2`).
    #[arg(long)]
    pub alpn: Option<String>,
    /// Server name to send (SNI) and to verify. Default: none sent; the target IP is verified.
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM file of CA certificates to verify the server against.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// BENCHMARK ONLY: accept any certificate and skip signature checks, so the client does not
    /// spend more on verification than the server spends on signing.
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Exit with code 2 when more than this many errors occurred.
    #[arg(long, default_value_t = 0)]
    pub max_errors: u64,
    /// Machine-readable result on stdout (the human table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write the latency distribution in HdrHistogram percentile format (ms) to this file.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Write a latency-by-percentile SVG chart to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Server process to charge CPU time to (repeatable); enables server-core µs per operation.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Cores the server may use (for the client-bound warning).
    #[arg(long, default_value_t = 1)]
    pub server_cores: u32,
    /// CPUs the server is pinned to: their busy time (from /proc/stat, softirq included) is
    /// reported and used for the client-bound verdict.
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// glommio's plain io_uring rings, without COOP_TASKRUN: the server's core then pays an
    /// IPI for much of what it sends to loadtest (the instrument before 2026-12-08).
    #[arg(long)]
    pub plain_rings: bool,
}

#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// CPUs to run origin shards on (one pinned executor each, SO_REUSEPORT listeners).
    #[arg(long, default_value = "0")]
    pub cpus: String,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// glommio's plain io_uring rings, without COOP_TASKRUN (see `loadtest --plain-rings`).
    #[arg(long)]
    pub plain_rings: bool,
}
