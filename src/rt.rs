//! Runtime glue: listening sockets built with socket2, handed to glommio, and deadline helpers.
//!
//! This is the only module with `unsafe` (one item: giving an owned listening fd to glommio,
//! whose API only offers `FromRawFd` for pre-built listeners). Everything else is safe.
//!
//! What it does not do: accept connections or decide anything about them.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds one listening socket with SO_REUSEADDR + SO_REUSEPORT (one per shard, same address),
/// IPV6_V6ONLY for IPv6 addresses, and the given backlog.
pub fn bind_reuseport(addr: SocketAddr, backlog: u32) -> io::Result<StdListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nodelay(true)?;
    sock.bind(&addr.into())?;
    sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(sock.into())
}

/// Binds `count` sockets for `addr` in one SO_REUSEPORT group. Port 0 is resolved by the first
/// bind and reused by the others, so every shard listens on the same port.
pub fn bind_group(addr: SocketAddr, backlog: u32, count: usize) -> io::Result<Vec<StdListener>> {
    let first = bind_reuseport(addr, backlog)?;
    let resolved = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(bind_reuseport(resolved, backlog)?);
    }
    Ok(all)
}

/// Hands an owned, bound and listening socket to the current glommio executor.
/// Must be called from inside a glommio executor.
#[allow(unsafe_code)]
pub fn into_glommio(listener: StdListener) -> glommio::net::TcpListener {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = listener.into_raw_fd();
    // SAFETY: `fd` comes from `into_raw_fd` of a listening socket we own, so it is valid, open,
    // and no other owner will close it; glommio takes over ownership here.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// Runs `fut` with a time limit; `None` when the limit passed first.
pub async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::Timer::new(limit).await;
        None
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_shares_the_resolved_port() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 3).unwrap();
        let ports: Vec<u16> = group
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports.len(), 3);
        assert_ne!(ports[0], 0);
        assert!(ports.iter().all(|p| *p == ports[0]));
    }

    #[test]
    fn ipv6_listener_is_v6only() {
        // Skipped only if the machine has no IPv6 loopback at all (checked, not assumed).
        let Ok(l) = bind_reuseport("[::1]:0".parse().unwrap(), 16) else {
            assert!(std::net::TcpListener::bind("[::1]:0").is_err());
            return;
        };
        let sock = socket2::SockRef::from(&l);
        assert!(sock.only_v6().unwrap());
    }
}
