//! The cache layer, seen from one shard: an upstream group of one or more backends (Unix
//! sockets or host:ports), each with its own shard-local keep-alive pool.
//!
//! Layout: [`pool`] is one backend's keep-alive pool ([`Pool`], [`Conn`], [`Slot`]);
//! [`group`] holds a shard's pools and picks a backend per request (round-robin or
//! least-outstanding, avoiding a backend that just failed); [`health`] is the one piece shared
//! by all shards (passive ejection after consecutive failures, the active checks' verdict);
//! [`check`] is the active checker thread.
//!
//! What it does not do: speak HTTP to clients or decide what a request's failure means (that
//! is `proxy`).
//!
//! Invariant: connections are never shared between shards; only [`health::Health`] (atomics)
//! is.
pub mod check;
pub mod group;
pub mod health;
pub mod pool;

pub use group::{Group, InFlight, PoolKind};
pub use health::Health;
pub use pool::{Conn, ConnectError, Pool, Slot, Stream};
