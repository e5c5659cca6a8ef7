//! Set-up flags for glommio's io_uring rings: cooperative task work and a single issuer.
//!
//! glommio 0.9 creates every ring without set-up flags. A socket's readiness then reaches a
//! shard as io_uring *task work*, and when the event was raised on another CPU (loopback, or a
//! NIC queue not steered to the shard's CPU) while the shard was running, the kernel sends the
//! shard's CPU a reschedule IPI to run that work at once: about 1.6 per keep-alive request in
//! `bench/compare.sh`, each one a VM exit on a virtual machine, where epoll servers take none.
//! With `IORING_SETUP_COOP_TASKRUN` the work waits for the shard's next entry into the kernel,
//! which glommio makes on every turn of its loop (a sleeping shard is woken as before), and the
//! IPIs go away. `IORING_SETUP_SINGLE_ISSUER` tells the kernel that only the thread that created
//! a ring submits to it, which holds for glommio (an executor builds its rings on its own thread
//! and is `!Send`) and lets the kernel skip some locking.
//!
//! glommio offers no way to pass ring flags, so they are added where its bundled liburing makes
//! the system call: `build.rs` links this package's binaries and tests with
//! `--wrap=__sys_io_uring_setup`, which routes liburing's call to
//! [`__wrap___sys_io_uring_setup`] here. It adds the flags ([`attempts`]) and makes the call; a
//! kernel that refuses a flag (EINVAL: COOP_TASKRUN needs 5.19, SINGLE_ISSUER 6.0) gets the ring
//! without it. [`report`] tells whether the hook ran at all, so a glommio upgrade that bypasses
//! it shows up in the startup log and in this module's test rather than as a silent slowdown.
//!
//! `[shards] cooperative_taskrun = false` turns the flags off ([`set_enabled`], before the
//! shards start), for an operator chasing a kernel problem.
//!
//! The load generator compiles this same file (`loadtest/src/main.rs`, `#[path]`; its own
//! `build.rs` carries the same two link arguments), so the instrument's rings do not make the
//! server's core pay for waking them either (`loadtest --plain-rings` turns that off).
//!
//! What it does not do: touch a ring after set-up, or anything on the request path (the
//! counters below are written once per ring, when a shard starts).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `IORING_SETUP_SQPOLL`: a kernel thread submits; incompatible with COOP_TASKRUN.
const SETUP_SQPOLL: u32 = 1 << 1;
/// `IORING_SETUP_COOP_TASKRUN`.
pub const SETUP_COOP_TASKRUN: u32 = 1 << 8;
/// `IORING_SETUP_SINGLE_ISSUER`.
pub const SETUP_SINGLE_ISSUER: u32 = 1 << 12;

static ENABLED: AtomicBool = AtomicBool::new(true);
/// Rings set up through the hook.
static RINGS: AtomicUsize = AtomicUsize::new(0);
/// Of those, rings the kernel accepted with COOP_TASKRUN.
static RINGS_COOP: AtomicUsize = AtomicUsize::new(0);
/// Of those, rings the kernel accepted with SINGLE_ISSUER.
static RINGS_SINGLE: AtomicUsize = AtomicUsize::new(0);

/// Whether rings created from now on get the flags (default: yes).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether rings created from now on get the flags.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The flag sets to try for a ring glommio asked for with `base`, best first; the last one
/// is always `base` itself.
pub fn attempts(base: u32, enabled: bool) -> Vec<u32> {
    if !enabled || base & SETUP_SQPOLL != 0 {
        return vec![base];
    }
    vec![
        base | SETUP_COOP_TASKRUN | SETUP_SINGLE_ISSUER,
        base | SETUP_COOP_TASKRUN,
        base,
    ]
}

/// What the hook did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Whether the flags were asked for ([`set_enabled`]).
    pub enabled: bool,
    /// Rings set up through the hook (0: glommio did not call it).
    pub rings: usize,
    /// Of those, with COOP_TASKRUN.
    pub cooperative: usize,
    /// Of those, with SINGLE_ISSUER.
    pub single_issuer: usize,
}

/// The rings set up so far, and with which flags.
pub fn report() -> Report {
    Report {
        enabled: enabled(),
        rings: RINGS.load(Ordering::Relaxed),
        cooperative: RINGS_COOP.load(Ordering::Relaxed),
        single_issuer: RINGS_SINGLE.load(Ordering::Relaxed),
    }
}

impl Report {
    /// One line for the startup log; `off_switch` names the setting that turns the flags off.
    pub fn describe(&self, off_switch: &str) -> String {
        if self.rings == 0 {
            return "io_uring: ring set-up hook not reached (glommio changed?): rings run \
                    without COOP_TASKRUN, expect reschedule IPIs"
                .into();
        }
        if !self.enabled {
            return format!(
                "io_uring: {} rings without COOP_TASKRUN ({off_switch})",
                self.rings
            );
        }
        let refused = if self.cooperative < self.rings {
            " (the kernel refused COOP_TASKRUN: it needs Linux 5.19)"
        } else {
            ""
        };
        format!(
            "io_uring: {} rings, {} with COOP_TASKRUN, {} with SINGLE_ISSUER{refused}",
            self.rings, self.cooperative, self.single_issuer
        )
    }

    /// Whether some ring ran without COOP_TASKRUN although it was asked for.
    pub fn degraded(&self) -> bool {
        self.rings == 0 || (self.enabled && self.cooperative < self.rings)
    }
}

/// The start of `struct io_uring_params` (linux/io_uring.h): the hook only reads and writes
/// `flags`; the rest of the structure is the kernel's and liburing's.
#[repr(C)]
pub struct ParamsHead {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
}

/// Stands in for liburing's `__sys_io_uring_setup` (see the module documentation): the same
/// contract (the system call's result: a descriptor, or -1 with `errno` set), with the flags
/// of [`attempts`] tried in turn while the kernel answers EINVAL.
///
/// # Safety
///
/// Called by liburing only, with `p` pointing to a writable `struct io_uring_params`.
#[allow(unsafe_code)]
#[no_mangle]
pub unsafe extern "C" fn __wrap___sys_io_uring_setup(
    entries: libc::c_uint,
    p: *mut ParamsHead,
) -> libc::c_int {
    // SAFETY: liburing passes the `io_uring_params` it is about to hand to the kernel, valid
    // and writable for the duration of this call (its first three fields are `ParamsHead`).
    // The system call takes the same two arguments liburing would pass.
    unsafe {
        let base = (*p).flags;
        let tries = attempts(base, enabled());
        let mut fd = -1;
        for (i, flags) in tries.iter().enumerate() {
            (*p).flags = *flags;
            fd = libc::syscall(libc::SYS_io_uring_setup, entries, p) as libc::c_int;
            let last = i + 1 == tries.len();
            if fd >= 0
                || last
                || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
            {
                break;
            }
        }
        if fd >= 0 {
            RINGS.fetch_add(1, Ordering::Relaxed);
            if (*p).flags & SETUP_COOP_TASKRUN != 0 {
                RINGS_COOP.fetch_add(1, Ordering::Relaxed);
            }
            if (*p).flags & SETUP_SINGLE_ISSUER != 0 {
                RINGS_SINGLE.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            (*p).flags = base;
        }
        fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_tried_best_first_and_end_with_what_glommio_asked() {
        let iopoll = 1;
        assert_eq!(
            attempts(0, true),
            vec![
                SETUP_COOP_TASKRUN | SETUP_SINGLE_ISSUER,
                SETUP_COOP_TASKRUN,
                0
            ]
        );
        assert_eq!(
            attempts(iopoll, true),
            vec![
                iopoll | SETUP_COOP_TASKRUN | SETUP_SINGLE_ISSUER,
                iopoll | SETUP_COOP_TASKRUN,
                iopoll
            ]
        );
        assert_eq!(attempts(iopoll, false), vec![iopoll]);
        assert_eq!(attempts(SETUP_SQPOLL, true), vec![SETUP_SQPOLL]);
    }

    #[test]
    fn glommio_rings_go_through_the_hook_with_the_flags() {
        let before = report();
        let executor = glommio::LocalExecutorBuilder::default()
            .make()
            .expect("an executor");
        assert_eq!(executor.run(async { 7 }), 7);
        let after = report();
        assert!(
            after.rings > before.rings,
            "glommio set up its rings without calling __sys_io_uring_setup: {after:?}"
        );
        // Every machine this runs on has Linux 6.x (README), which knows both flags.
        assert_eq!(after.cooperative, after.rings, "{after:?}");
        assert_eq!(after.single_issuer, after.rings, "{after:?}");
        assert!(!after.degraded());
        assert!(after.describe("off").contains("with COOP_TASKRUN"));
    }

    #[test]
    fn the_log_line_says_when_the_hook_was_missed() {
        let none = Report {
            enabled: true,
            rings: 0,
            cooperative: 0,
            single_issuer: 0,
        };
        assert!(none.degraded());
        assert!(none.describe("off").contains("not reached"));
        let old_kernel = Report { rings: 3, ..none };
        assert!(old_kernel.degraded());
        assert!(old_kernel.describe("off").contains("needs Linux 5.19"));
        let turned_off = Report {
            enabled: false,
            ..old_kernel
        };
        assert!(!turned_off.degraded());
        assert!(turned_off
            .describe("cooperative_taskrun = false")
            .ends_with("(cooperative_taskrun = false)"));
    }
}
