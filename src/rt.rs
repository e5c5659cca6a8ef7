//! Runtime glue: listening sockets built with socket2, handed to glommio, and deadline helpers.
//!
//! Two of the crate's three `unsafe` items are here (the third is [`crate::uring`]'s ring
//! set-up hook): giving an owned listening fd to glommio (whose API only offers `FromRawFd` for
//! pre-built listeners), and attaching the connection-steering program to a SO_REUSEPORT group
//! (`setsockopt` with a `sock_fprog`, which neither socket2 nor nix wraps). Everything else is
//! safe.
//!
//! What it does not do: accept connections or decide anything about them.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds one listening socket with SO_REUSEADDR + SO_REUSEPORT (one per shard, same address),
/// IPV6_V6ONLY for IPv6 addresses, TCP_NODELAY (inherited by every accepted socket), and the
/// given backlog.
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

/// The classic BPF program of `[shards] steering = "cpu"`: for a new connection, the index in
/// the SO_REUSEPORT group of the shard running on the CPU that processes it (`cpus[k]` → `k`,
/// the group's sockets being bound in shard order); on any other CPU an index past the group,
/// which makes the kernel fall back to its hash.
pub fn cpu_steering_program(cpus: &[usize]) -> Vec<libc::sock_filter> {
    let op = |code: u32| u16::try_from(code).unwrap_or(u16::MAX);
    // `SKF_AD_OFF + SKF_AD_CPU` as the u32 the instruction's `k` field holds.
    let cpu_field = (libc::SKF_AD_OFF + libc::SKF_AD_CPU) as u32;
    let mut prog = vec![libc::sock_filter {
        code: op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS),
        jt: 0,
        jf: 0,
        k: cpu_field,
    }];
    for (k, &cpu) in cpus.iter().enumerate() {
        // if A == cpu: fall through to `ret k`, else skip it.
        prog.push(libc::sock_filter {
            code: op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
            jt: 0,
            jf: 1,
            k: u32::try_from(cpu).unwrap_or(u32::MAX),
        });
        prog.push(libc::sock_filter {
            code: op(libc::BPF_RET | libc::BPF_K),
            jt: 0,
            jf: 0,
            k: u32::try_from(k).unwrap_or(u32::MAX),
        });
    }
    prog.push(libc::sock_filter {
        code: op(libc::BPF_RET | libc::BPF_K),
        jt: 0,
        jf: 0,
        k: u32::MAX,
    });
    prog
}

/// `SO_ATTACH_REUSEPORT_CBPF` (asm-generic socket.h; the libc crate exports it only for some
/// targets).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// Attaches [`cpu_steering_program`] to the SO_REUSEPORT group `listener` belongs to (the
/// program is the group's: the last one attached wins).
#[allow(unsafe_code)]
pub fn steer_by_cpu(listener: &StdListener, cpus: &[usize]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut prog = cpu_steering_program(cpus);
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::other("too many shards for a steering program"))?,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fd` is a valid socket owned by `listener`, borrowed for the call; `fprog` points
    // to `prog`, which outlives the call, and its `len` is `prog`'s length; the kernel copies
    // the program and keeps no pointer to it; the option length is the size of `sock_fprog`.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::from_ref(&fprog).cast::<libc::c_void>(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    fn steering_program_maps_cpus_to_group_indices() {
        let prog = cpu_steering_program(&[2, 5]);
        let as_tuples: Vec<(u16, u8, u8, u32)> =
            prog.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            as_tuples,
            vec![
                (0x20, 0, 0, 0xffff_f024), // ld [SKF_AD_OFF + SKF_AD_CPU]
                (0x15, 0, 1, 2),           // jeq #2, next, skip
                (0x06, 0, 0, 0),           // ret #0
                (0x15, 0, 1, 5),           // jeq #5
                (0x06, 0, 0, 1),           // ret #1
                (0x06, 0, 0, u32::MAX),    // ret past the group: kernel hash
            ]
        );
    }

    #[test]
    fn steering_attaches_to_a_group() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 16, 2).unwrap();
        steer_by_cpu(&group[0], &[0, 1]).unwrap();
        // A socket that is not in a SO_REUSEPORT group refuses it.
        let lone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(steer_by_cpu(&lone, &[0]).is_err());
    }

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
    fn accepted_sockets_inherit_nodelay_from_the_listener() {
        // The proxy relies on this instead of a setsockopt per connection.
        let listener = bind_reuseport("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
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
