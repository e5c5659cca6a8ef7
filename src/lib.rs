//! tlsterm: a thread-per-core TLS terminator for the edge of a CDN.
//!
//! Layout (see ARCHITECTURE.md for the full code map):
//! - [`config`]: TOML file or quick-start flags → validated [`config::Config`].
//! - [`topology`]: CPUs and NUMA nodes from /sys.
//! - [`shard`]: one glommio executor per CPU, its listeners, its control loop.
//! - [`tls`]: certificate store, resolver, rustls `ServerConfig`, connection properties.
//! - [`http`]: sans-IO HTTP/1.1 request/response heads, body framing, header rewriting.
//! - [`limits`]: connection slots per listener and the per-client-IP cap.
//! - [`proxy`]: the connection driver (the only code that reads and writes client sockets).
//! - [`redirect`]: the plain-HTTP listener's redirect/403/exempt decisions.
//! - [`upstream`]: the upstream group: per-shard keep-alive pools per backend, balancing, health.
//! - [`sli`]: per-request timers, termination state, SLI verdict.
//! - [`log`]: access-log lines, buffered per shard.
//! - [`metrics`]: shard-local counters and histograms, Prometheus text on scrape.
//! - [`admin`]: the admin HTTP listener (`/metrics`, `/healthz`, drain).
//! - [`reload`]: live TLS state (certificates, staples, ticket keys) and the reloader thread.
//! - [`sdnotify`]: systemd readiness and the per-shard-heartbeat watchdog.
//! - [`privdrop`]: the switch to `[process] user`/`group` once sockets are bound and keys read.
//! - [`clock`]: the one place that reads the clock.
//! - [`rt`]: runtime glue (socket creation, the `unsafe` fd hand-over to glommio and the
//!   steering `setsockopt`).
//! - [`uring`]: the set-up flags of glommio's io_uring rings (COOP_TASKRUN, SINGLE_ISSUER),
//!   added by a link-time hook on liburing's set-up call.
//! - [`demo`] and [`origin`]: the embedded quick-start and a tiny HTTP origin.
#![deny(unsafe_code)]

pub mod admin;
pub mod clock;
pub mod config;
pub mod demo;
pub mod http;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod origin;
pub mod privdrop;
pub mod proxy;
pub mod redirect;
pub mod reload;
pub mod rt;
pub mod sdnotify;
pub mod shard;
pub mod sli;
pub mod tls;
pub mod topology;
pub mod upstream;
pub mod uring;
