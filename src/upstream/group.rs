//! A shard's view of the upstream group: one keep-alive [`Pool`] per backend (and one reserved
//! health-check pool per backend when configured), and the choice of a backend per request.
//!
//! Choice ([`choose`], pure): among the backends that are available (checks up, not ejected,
//! see [`Health`]), round-robin takes the next in turn; least-outstanding takes the one with the
//! fewest requests in flight on this shard, ties broken in turn. A retry after a failed
//! connect avoids the backend that failed. When no backend is available the choice fails open
//! (all backends are candidates again): with one Varnish per host, refusing every request for
//! the ejection period because of a restart would be worse than trying it.
//!
//! What it does not do: speak HTTP, connect (that is [`Pool`]), or judge health (the proxy
//! reports outcomes to [`Health`]).
//!
//! Invariants: shard-local (`Rc`, `Cell`); the in-flight count of a backend equals the number
//! of live [`InFlight`] guards for it.
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::health::Health;
use super::pool::Pool;
use crate::config::{Balance, UpstreamConfig};

/// Which of a backend's pools an exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Main,
    /// The small pool reserved for load-balancer health checks.
    Health,
}

/// One backend, on one shard.
#[derive(Debug)]
pub struct Backend {
    pub pool: Pool,
    /// Reserved for load-balancer health checks, when `upstream.health_path` is set.
    pub reserved: Option<Pool>,
    in_flight: Rc<Cell<u32>>,
}

/// A request in flight on a backend; dropping it ends the count.
#[derive(Debug)]
pub struct InFlight(Rc<Cell<u32>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The shard's pools and the selection state.
#[derive(Debug)]
pub struct Group {
    backends: Vec<Backend>,
    balance: Balance,
    /// Where the next round-robin turn (or tie-break) starts.
    cursor: Cell<usize>,
    health: Arc<Health>,
}

impl Group {
    /// Pools for every backend of `cfg` (shard-local), sharing `health` with the other shards.
    pub fn new(cfg: &UpstreamConfig, connect_timeout: Duration, health: Arc<Health>) -> Self {
        let backends = cfg
            .backends
            .iter()
            .map(|addr| Backend {
                pool: Pool::new(
                    addr.clone(),
                    cfg.max_idle_per_shard,
                    cfg.max_connections_per_shard,
                    connect_timeout,
                ),
                reserved: cfg.health.as_ref().map(|h| {
                    Pool::new(
                        addr.clone(),
                        h.connections_per_shard,
                        h.connections_per_shard,
                        connect_timeout,
                    )
                }),
                in_flight: Rc::new(Cell::new(0)),
            })
            .collect();
        Group {
            backends,
            balance: cfg.balance,
            cursor: Cell::new(0),
            health,
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The backend for the next request; `avoid` (a backend that just failed) is taken only
    /// when it is the only one.
    pub fn pick(&self, now: Instant, avoid: Option<usize>) -> usize {
        let n = self.backends.len();
        if n <= 1 {
            return 0;
        }
        let (i, next) = choose(
            self.balance,
            n,
            self.cursor.get(),
            |i| self.health.available(i, now),
            |i| self.backends[i].in_flight.get(),
            avoid,
        );
        self.cursor.set(next);
        i
    }

    /// The pool of backend `i` for an exchange of `kind` (the main pool when no pool is
    /// reserved for health checks).
    pub fn pool(&self, i: usize, kind: PoolKind) -> &Pool {
        let b = &self.backends[i.min(self.backends.len() - 1)];
        match (kind, &b.reserved) {
            (PoolKind::Health, Some(p)) => p,
            _ => &b.pool,
        }
    }

    /// Counts a request in flight on backend `i` until the guard is dropped.
    pub fn in_flight(&self, i: usize) -> InFlight {
        let c = &self.backends[i.min(self.backends.len() - 1)].in_flight;
        c.set(c.get() + 1);
        InFlight(Rc::clone(c))
    }

    /// Idle connections of the main pools.
    pub fn idle_len(&self) -> usize {
        self.backends.iter().map(|b| b.pool.idle_len()).sum()
    }

    /// Open connections (idle and busy) of the main pools.
    pub fn open_len(&self) -> usize {
        self.backends.iter().map(|b| b.pool.open_len()).sum()
    }

    /// Closes the idle connections of every pool that are too old to be reused.
    pub fn prune_idle(&self, now: Instant) {
        for b in &self.backends {
            b.pool.prune_idle(now);
            if let Some(r) = &b.reserved {
                r.prune_idle(now);
            }
        }
    }

    /// Closes every idle connection of every pool (drain).
    pub fn clear(&self) {
        for b in &self.backends {
            b.pool.clear();
            if let Some(r) = &b.reserved {
                r.clear();
            }
        }
    }
}

/// The choice among `n` backends (`n` ≥ 1), starting the turn at `cursor`: returns the index
/// and the next cursor. Candidates are the available backends other than `avoid`; if there
/// are none, every backend other than `avoid`; if there are none either, `avoid` itself.
pub fn choose(
    balance: Balance,
    n: usize,
    cursor: usize,
    available: impl Fn(usize) -> bool,
    in_flight: impl Fn(usize) -> u32,
    avoid: Option<usize>,
) -> (usize, usize) {
    let order = (0..n).map(|k| (cursor + k) % n);
    let healthy = order.clone().filter(|&i| Some(i) != avoid && available(i));
    let pick = match balance {
        Balance::RoundRobin => healthy.clone().next(),
        Balance::LeastOutstanding => healthy.clone().min_by_key(|&i| in_flight(i)),
    };
    let pick = pick
        .or_else(|| {
            // Fail open: nothing available, so every backend but the one to avoid.
            let any = order.clone().filter(|&i| Some(i) != avoid);
            match balance {
                Balance::RoundRobin => any.clone().next(),
                Balance::LeastOutstanding => any.min_by_key(|&i| in_flight(i)),
            }
        })
        .or(avoid)
        .unwrap_or(0)
        % n;
    let next = match balance {
        Balance::RoundRobin => (pick + 1) % n,
        Balance::LeastOutstanding => (cursor + 1) % n,
    };
    (pick, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr_sequence(n: usize, available: &[bool], count: usize) -> Vec<usize> {
        let mut cursor = 0;
        (0..count)
            .map(|_| {
                let (i, next) = choose(
                    Balance::RoundRobin,
                    n,
                    cursor,
                    |i| available[i],
                    |_| 0,
                    None,
                );
                cursor = next;
                i
            })
            .collect()
    }

    #[test]
    fn round_robin_takes_turns_and_skips_unavailable() {
        assert_eq!(rr_sequence(3, &[true; 3], 6), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(rr_sequence(3, &[true, false, true], 4), vec![0, 2, 0, 2]);
    }

    #[test]
    fn nothing_available_fails_open() {
        assert_eq!(rr_sequence(2, &[false, false], 4), vec![0, 1, 0, 1]);
    }

    #[test]
    fn avoid_is_taken_only_when_alone() {
        let all = |_| true;
        assert_eq!(choose(Balance::RoundRobin, 3, 1, all, |_| 0, Some(1)).0, 2);
        assert_eq!(choose(Balance::RoundRobin, 1, 0, all, |_| 0, Some(0)).0, 0);
        // The only available backend failed: try an ejected one rather than it again.
        let only0 = |i| i == 0;
        assert_eq!(
            choose(Balance::RoundRobin, 2, 0, only0, |_| 0, Some(0)).0,
            1
        );
        assert_eq!(
            choose(
                Balance::LeastOutstanding,
                3,
                0,
                all,
                |i| [0, 5, 9][i],
                Some(0)
            )
            .0,
            1
        );
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_and_rotates_ties() {
        let load = [3u32, 1, 1];
        let all = |_| true;
        let (a, next) = choose(Balance::LeastOutstanding, 3, 0, all, |i| load[i], None);
        assert_eq!(a, 1);
        let (b, _) = choose(Balance::LeastOutstanding, 3, next, all, |i| load[i], None);
        assert_eq!(b, 1, "cursor 1: backend 1 first among the tied");
        let (c, _) = choose(Balance::LeastOutstanding, 3, 2, all, |i| load[i], None);
        assert_eq!(c, 2, "cursor 2: backend 2 first among the tied");
        // The idlest but unavailable one is skipped.
        let (d, _) = choose(
            Balance::LeastOutstanding,
            3,
            0,
            |i| i != 1,
            |i| load[i],
            None,
        );
        assert_eq!(d, 2);
    }

    #[test]
    fn in_flight_guards_count() {
        let cfg = UpstreamConfig {
            backends: vec![
                crate::config::UpstreamAddr::Tcp("127.0.0.1:6081".parse().unwrap()),
                crate::config::UpstreamAddr::Tcp("127.0.0.1:6082".parse().unwrap()),
            ],
            balance: Balance::LeastOutstanding,
            ..UpstreamConfig::single(crate::config::UpstreamAddr::Unix("/x".into()))
        };
        let health = Arc::new(Health::new(&cfg, Instant::now()));
        let g = Group::new(&cfg, Duration::from_secs(1), health);
        let now = Instant::now();
        let first = g.pick(now, None);
        let a = g.in_flight(first);
        let second = g.pick(now, None);
        assert_ne!(
            first, second,
            "the busy backend is not the least outstanding"
        );
        let b = g.in_flight(second);
        let c = g.in_flight(second);
        assert_eq!(g.pick(now, None), first);
        drop((a, b, c));
        assert_eq!(g.backends.iter().map(|b| b.in_flight.get()).sum::<u32>(), 0);
        assert_eq!(
            g.pool(1, PoolKind::Health).addr().to_string(),
            "127.0.0.1:6082"
        );
    }
}
