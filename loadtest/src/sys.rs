//! The three libc calls the harness needs, each one small `unsafe` item with its reason.
//!
//! - `sysconf(_SC_CLK_TCK)`: the unit of the CPU times in /proc/PID/stat.
//! - `getrusage(RUSAGE_SELF)`: the client's own CPU time with µs resolution (all threads).
//! - `getrlimit`/`setrlimit(RLIMIT_NOFILE)`: raise the soft file-descriptor limit to the hard
//!   limit, so `idle` runs with thousands of connections are not cut short by a default of 1024.
//!
//! What it does not do: anything else. The rest of the crate is free of `unsafe`, except the
//! io_uring set-up hook it shares with tlsterm (`uring`, src/uring.rs).
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

/// Clock ticks per second of /proc CPU times (100 on every common Linux configuration, which is
/// also the fallback if `sysconf` fails).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library; it has no pointer arguments and
    // no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// User + system CPU time of this process (all threads) so far.
pub fn own_cpu() -> io::Result<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` points to writable memory of the right type and size for the duration of
    // the call; getrusage writes the whole struct when it returns 0.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: rc == 0, so getrusage initialised the struct (and it was zeroed before anyway).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(tv(usage.ru_utime) + tv(usage.ru_stime))
}

/// Raises the soft RLIMIT_NOFILE to the hard limit when it is below `wanted`; returns the soft
/// limit in force afterwards.
pub fn raise_nofile(wanted: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur >= wanted || lim.rlim_cur >= lim.rlim_max {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit read-only for the call; lowering nothing but the soft
    // limit up to the hard limit is always permitted.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(raised.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_and_own_cpu() {
        assert!(clock_ticks_per_second() >= 100);
        let a = own_cpu().unwrap();
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = own_cpu().unwrap();
        assert!(b >= a);
    }

    #[test]
    fn nofile_is_at_least_what_it_was() {
        let before = raise_nofile(0).unwrap();
        assert!(before > 0);
        assert!(raise_nofile(before).unwrap() >= before);
    }
}
