//! Admission limits, shard-local: connection slots per listener (`maxconn`, split evenly over
//! the shards, with a low-water mark) and the per-client-IP concurrency cap with its penalty
//! period and trusted-network exemptions.
//!
//! Both are shard-local approximations by design: a client spread by SO_REUSEPORT hashing over
//! N shards may hold up to N × the per-shard share before every shard refuses it; in exchange
//! nothing here is shared between shards (no locks, no atomics).
//!
//! [`Cidr`] and the decisions of [`PerIp`] are pure (time passed in); [`Slots`] wraps a glommio
//! semaphore used as a wake-up for the paused accept loop.
//!
//! What it does not do: close sockets or answer requests (the driver does, on the verdict).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use glommio::sync::Semaphore;

/// An IP network, e.g. `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// 127.0.0.0/8.
    pub fn loopback_v4() -> Self {
        Cidr {
            addr: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)),
            prefix: 8,
        }
    }

    /// ::1/128.
    pub fn loopback_v6() -> Self {
        Cidr {
            addr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            prefix: 128,
        }
    }

    /// The address is inside this network (IPv4-mapped IPv6 clients match IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{s}\": not an IP address or network (e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{s}\": prefix length must be 0..={max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

/// Settings of the per-IP cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerIpSettings {
    /// Concurrent requests per client IP on one shard; 0 = no cap. Default 500.
    pub max_concurrent: u32,
    /// How long an IP that exceeded the cap has its new connections closed. Default 300 s.
    pub penalty: Duration,
    /// Networks exempt from the cap (load balancers, internal networks).
    pub trusted: Vec<Cidr>,
}

impl Default for PerIpSettings {
    fn default() -> Self {
        PerIpSettings {
            max_concurrent: 500,
            penalty: Duration::from_secs(300),
            trusted: Vec::new(),
        }
    }
}

/// Verdict on a new request from an IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the cap: the IP is now penalized; close this connection silently.
    OverCap,
}

/// Per-client-IP concurrent-request counts and penalties of one shard.
#[derive(Debug)]
pub struct PerIp {
    settings: PerIpSettings,
    active: RefCell<HashMap<IpAddr, u32>>,
    penalized: RefCell<HashMap<IpAddr, Instant>>,
}

impl PerIp {
    pub fn new(settings: PerIpSettings) -> Self {
        PerIp {
            settings,
            active: RefCell::new(HashMap::new()),
            penalized: RefCell::new(HashMap::new()),
        }
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.settings.max_concurrent == 0 || self.settings.trusted.iter().any(|n| n.contains(ip))
    }

    /// A new connection from `ip` may be served (false: penalized, close it silently).
    pub fn connection_allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut penalized = self.penalized.borrow_mut();
        match penalized.get(&ip) {
            Some(until) if *until > now => false,
            Some(_) => {
                penalized.remove(&ip);
                true
            }
            None => true,
        }
    }

    /// A request from `ip` starts. When admitted, [`PerIp::end_request`] must follow.
    pub fn begin_request(&self, ip: IpAddr, now: Instant) -> Admission {
        if self.exempt(ip) {
            return Admission::Admitted;
        }
        let mut active = self.active.borrow_mut();
        let n = active.entry(ip).or_insert(0);
        if *n >= self.settings.max_concurrent {
            self.penalized
                .borrow_mut()
                .insert(ip, now + self.settings.penalty);
            return Admission::OverCap;
        }
        *n += 1;
        Admission::Admitted
    }

    /// An admitted request from `ip` ended.
    pub fn end_request(&self, ip: IpAddr) {
        if self.exempt(ip) {
            return;
        }
        let mut active = self.active.borrow_mut();
        if let Some(n) = active.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(&ip);
            }
        }
    }

    /// Forgets penalties that ended (called from a low-priority task).
    pub fn prune(&self, now: Instant) {
        self.penalized.borrow_mut().retain(|_, until| *until > now);
    }

    /// Number of IPs currently penalized.
    pub fn penalized_len(&self) -> usize {
        self.penalized.borrow().len()
    }
}

/// Connection slots of one listener on one shard: accepting pauses at `max` open connections
/// (the kernel backlog holds new ones) and resumes at `low`.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    low: usize,
    open: Cell<usize>,
    paused: Cell<bool>,
    resume: Semaphore,
}

impl Slots {
    /// `max` = this shard's share; resumes below 90 % of it.
    pub fn new(max: usize) -> Rc<Self> {
        Rc::new(Slots {
            max,
            low: max - max / 10,
            open: Cell::new(0),
            paused: Cell::new(false),
            resume: Semaphore::new(0),
        })
    }

    pub fn open(&self) -> usize {
        self.open.get()
    }

    /// Waits until a connection may be accepted. Returns `true` if accepting had paused.
    pub async fn ready(&self) -> bool {
        if self.open.get() < self.max {
            return false;
        }
        self.paused.set(true);
        while self.open.get() >= self.low {
            // `release` signals once the count falls below the low-water mark.
            if self.resume.acquire(1).await.is_err() {
                break;
            }
        }
        self.paused.set(false);
        true
    }

    /// A connection was accepted; the returned guard gives the slot back when dropped.
    pub fn take(self: &Rc<Self>) -> SlotGuard {
        self.open.set(self.open.get() + 1);
        SlotGuard(Rc::clone(self))
    }

    fn release(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        if self.paused.get() && self.open.get() < self.low {
            self.resume.signal(1);
        }
    }
}

/// Holds one connection slot.
#[derive(Debug)]
pub struct SlotGuard(Rc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_matching() {
        let n: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.9.9.9".parse().unwrap()));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cap_penalizes_then_forgives() {
        let t0 = Instant::now();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let p = PerIp::new(PerIpSettings {
            max_concurrent: 2,
            penalty: Duration::from_secs(300),
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
        });
        assert_eq!(p.begin_request(ip, t0), Admission::Admitted);
        assert_eq!(p.begin_request(ip, t0), Admission::Admitted);
        assert_eq!(p.begin_request(ip, t0), Admission::OverCap);
        assert!(!p.connection_allowed(ip, t0 + Duration::from_secs(299)));
        assert!(p.connection_allowed(ip, t0 + Duration::from_secs(300)));
        // Requests that ended free their share.
        p.end_request(ip);
        assert_eq!(
            p.begin_request(ip, t0 + Duration::from_secs(301)),
            Admission::Admitted
        );
        // Other IPs are not affected; trusted networks are exempt.
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(p.begin_request(other, t0), Admission::Admitted);
        let lb: IpAddr = "10.2.3.4".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(p.begin_request(lb, t0), Admission::Admitted);
        }
    }

    #[test]
    fn prune_forgets_expired_penalties() {
        let t0 = Instant::now();
        let p = PerIp::new(PerIpSettings {
            max_concurrent: 1,
            penalty: Duration::from_secs(1),
            trusted: vec![],
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        p.begin_request(ip, t0);
        assert_eq!(p.begin_request(ip, t0), Admission::OverCap);
        assert_eq!(p.penalized_len(), 1);
        p.prune(t0 + Duration::from_secs(2));
        assert_eq!(p.penalized_len(), 0);
    }
}
