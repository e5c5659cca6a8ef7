//! Privilege drop (`[process] user` / `group`): once every socket is bound and every key is
//! loaded, the process switches to an unprivileged user for good.
//!
//! Job: resolve the names (NSS: `/etc/passwd`, `/etc/group`, LDAP…), decide whether a switch is
//! needed or possible, do it in the only safe order — `setgroups([gid])`, `setgid(gid)`,
//! `setuid(uid)` — and prove it worked: real, effective and saved ids are the target's, the
//! supplementary groups are just the target group, `setuid(0)` now fails, and every thread of
//! the process (per `/proc/self/task/*/status`) shows the same ids and no capabilities.
//!
//! [`resolve`] alone (no switch) is also how `tlsterm check` reports the configured user and
//! group, or refuses names that do not exist on the machine.
//!
//! Does not: bind sockets or read keys (the caller does both before calling
//! [`drop_privileges`]); keep any capability across the switch (no `PR_SET_KEEPCAPS`: reloads
//! must work with plain file permissions, see tuning/README.md); or change identity per thread.
//! glibc's `setuid`/`setgid`/`setgroups` apply to all threads of the process (the "setxid"
//! broadcast), so threads started before the drop (the reloader, the OCSP fetcher, the upstream
//! checker) run as the new user too — which is intended, and checked. The shard threads start
//! afterwards.
//!
//! Invariants: the decision ([`plan`]) and the checks ([`check_ids`], [`check_thread_status`])
//! are pure functions of observed values, unit-tested without root; only [`resolve`] (NSS
//! lookups) and [`drop_privileges`] make system calls. Started as a non-root user, the drop is
//! a no-op when that user (and group) is already the target, and an error otherwise — never a
//! partial switch. An unreadable `/proc/self/task` skips only the per-thread check (the calling
//! thread's ids are always checked).

use nix::errno::Errno;
use nix::unistd::{self, Gid, Group, Uid, User};

use crate::config::ProcessSettings;

/// Who the process runs as after [`drop_privileges`] (for the startup log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub user: String,
    pub uid: u32,
    /// The group name, or the gid in decimal when the user's primary gid names no group.
    pub group: String,
    pub gid: u32,
}

/// `tlsterm (uid 998), group tlsterm (gid 998)`: the startup log line's and `tlsterm check`'s
/// wording.
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (uid {}), group {} (gid {})",
            self.user, self.uid, self.group, self.gid
        )
    }
}

/// Why the process could not (or did not provably) switch to the configured user.
/// All of them are configuration or deployment errors: startup must stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivDropError {
    #[error("process.user: no user \"{0}\" on this system")]
    UnknownUser(String),
    #[error("process.group: no group \"{0}\" on this system")]
    UnknownGroup(String),
    #[error("looking up {kind} \"{name}\": {errno}")]
    Lookup {
        kind: &'static str,
        name: String,
        errno: Errno,
    },
    #[error(
        "not running as root (uid {uid}, gid {gid}); cannot switch to user \"{}\" (uid {}), \
         group \"{}\" (gid {}): start tlsterm as root, or as that user and group",
        .target.user, .target.uid, .target.group, .target.gid
    )]
    NotRoot { uid: u32, gid: u32, target: Dropped },
    #[error("switching to user \"{user}\": {call} failed: {errno}")]
    Call {
        user: String,
        call: String,
        errno: Errno,
    },
    #[error("after switching to user \"{user}\": {what}")]
    NotSwitched { user: String, what: String },
    #[error("after switching to user \"{0}\", setuid(0) succeeded: the process could regain root")]
    CouldRegainRoot(String),
}

/// Real, effective and saved ids of the calling thread (as `getresuid`/`getresgid` report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Effective uid 0: set groups, gid and uid.
    Switch,
    /// Already running as the target user and group (e.g. systemd `User=`): nothing to do.
    AlreadyThere,
}

/// Switches to `settings.user` (and `settings.group`, default the user's primary group).
/// `Ok(None)` when no user is configured. Call it once, after binding and loading keys, before
/// the shard threads start.
pub fn drop_privileges(settings: &ProcessSettings) -> Result<Option<Dropped>, PrivDropError> {
    let Some(user) = settings.user.as_deref() else {
        return Ok(None);
    };
    let target = resolve(user, settings.group.as_deref())?;
    let call = |call: &str| {
        let user = target.user.clone();
        let call = call.to_string();
        move |errno| PrivDropError::Call { user, call, errno }
    };
    let before = current_ids().map_err(call("getresuid/getresgid"))?;
    match plan(before, &target)? {
        Plan::AlreadyThere => return Ok(Some(target)),
        Plan::Switch => {}
    }
    let (uid, gid) = (Uid::from_raw(target.uid), Gid::from_raw(target.gid));
    // Groups first, then the gid, then the uid: after setuid nothing else may be changed.
    unistd::setgroups(&[gid]).map_err(call(&format!("setgroups([{gid}])")))?;
    unistd::setgid(gid).map_err(call(&format!("setgid({gid})")))?;
    unistd::setuid(uid).map_err(call(&format!("setuid({uid})")))?;

    let after = current_ids().map_err(call("getresuid/getresgid"))?;
    let groups = unistd::getgroups().map_err(call("getgroups"))?;
    let groups: Vec<u32> = groups.iter().map(|g| g.as_raw()).collect();
    check_ids(&target, after, &groups)?;
    if target.uid != 0 && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivDropError::CouldRegainRoot(target.user));
    }
    if target.gid != 0 && unistd::setgid(Gid::from_raw(0)).is_ok() {
        return Err(PrivDropError::NotSwitched {
            user: target.user,
            what: "setgid(0) succeeded: the process could regain group root".into(),
        });
    }
    check_all_threads(&target)?;
    Ok(Some(target))
}

/// Resolves the user, and the group (given, else the user's primary group).
pub fn resolve(user: &str, group: Option<&str>) -> Result<Dropped, PrivDropError> {
    let lookup = |kind: &'static str, name: &str| {
        let name = name.to_string();
        move |errno| PrivDropError::Lookup { kind, name, errno }
    };
    let u = User::from_name(user)
        .map_err(lookup("user", user))?
        .ok_or_else(|| PrivDropError::UnknownUser(user.to_string()))?;
    let (group, gid) = match group {
        Some(g) => {
            let gr = Group::from_name(g)
                .map_err(lookup("group", g))?
                .ok_or_else(|| PrivDropError::UnknownGroup(g.to_string()))?;
            (gr.name, gr.gid)
        }
        // The primary gid is used even if no group entry names it (the name is only for logs).
        None => match Group::from_gid(u.gid) {
            Ok(Some(gr)) => (gr.name, u.gid),
            Ok(None) | Err(_) => (u.gid.to_string(), u.gid),
        },
    };
    Ok(Dropped {
        user: u.name,
        uid: u.uid.as_raw(),
        group,
        gid: gid.as_raw(),
    })
}

fn current_ids() -> Result<Ids, Errno> {
    let u = unistd::getresuid()?;
    let g = unistd::getresgid()?;
    Ok(Ids {
        uid: [u.real, u.effective, u.saved].map(Uid::as_raw),
        gid: [g.real, g.effective, g.saved].map(Gid::as_raw),
    })
}

/// Root (effective uid 0) switches; anyone else must already be the target.
pub fn plan(current: Ids, target: &Dropped) -> Result<Plan, PrivDropError> {
    if current.uid[1] == 0 {
        return Ok(Plan::Switch);
    }
    if current.uid.iter().all(|&u| u == target.uid) && current.gid.iter().all(|&g| g == target.gid)
    {
        return Ok(Plan::AlreadyThere);
    }
    Err(PrivDropError::NotRoot {
        uid: current.uid[0],
        gid: current.gid[0],
        target: target.clone(),
    })
}

/// After a switch: all three uids and gids are the target's, the only supplementary group is
/// the target group.
pub fn check_ids(target: &Dropped, ids: Ids, groups: &[u32]) -> Result<(), PrivDropError> {
    let fail = |what: String| {
        Err(PrivDropError::NotSwitched {
            user: target.user.clone(),
            what,
        })
    };
    if ids.uid.iter().any(|&u| u != target.uid) {
        return fail(format!(
            "uids (real, effective, saved) are {:?}, expected {}",
            ids.uid, target.uid
        ));
    }
    if ids.gid.iter().any(|&g| g != target.gid) {
        return fail(format!(
            "gids (real, effective, saved) are {:?}, expected {}",
            ids.gid, target.gid
        ));
    }
    if groups.iter().any(|&g| g != target.gid) {
        return fail(format!(
            "supplementary groups are {groups:?}, expected [{}]",
            target.gid
        ));
    }
    Ok(())
}

/// Checks every thread of the process (glibc switches them all, see the module doc).
fn check_all_threads(target: &Dropped) -> Result<(), PrivDropError> {
    // Without /proc (unusual) only the calling thread was checked, by `check_ids`.
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Ok(());
    };
    for task in tasks.flatten() {
        // A thread that ended meanwhile has no status left to check.
        let Ok(text) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        if let Err(what) = check_thread_status(target, &text) {
            return Err(PrivDropError::NotSwitched {
                user: target.user.clone(),
                what: format!("thread {}: {what}", task.file_name().to_string_lossy()),
            });
        }
    }
    Ok(())
}

/// One thread's `/proc/.../status` after the switch: `Uid:` and `Gid:` (real, effective,
/// saved, filesystem) are the target's, `Groups:` is just the target group, and for a
/// non-root target `CapPrm:` and `CapEff:` are empty.
pub fn check_thread_status(target: &Dropped, status: &str) -> Result<(), String> {
    let field = |name: &str| -> Result<&str, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .ok_or_else(|| format!("no {name} line"))
    };
    let numbers = |name: &str| -> Result<Vec<u32>, String> {
        field(name)?
            .split_whitespace()
            .map(|n| n.parse().map_err(|_| format!("bad {name} line")))
            .collect()
    };
    for (name, want) in [("Uid", target.uid), ("Gid", target.gid)] {
        let ids = numbers(name)?;
        if ids.len() != 4 || ids.iter().any(|&i| i != want) {
            return Err(format!("{name} {ids:?}, expected {want} four times"));
        }
    }
    let groups = numbers("Groups")?;
    if groups.iter().any(|&g| g != target.gid) {
        return Err(format!("Groups {groups:?}, expected [{}]", target.gid));
    }
    if target.uid != 0 {
        for name in ["CapPrm", "CapEff"] {
            let caps =
                u64::from_str_radix(field(name)?, 16).map_err(|_| format!("bad {name} line"))?;
            if caps != 0 {
                return Err(format!("{name} {caps:016x}, expected no capabilities"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nobody() -> Dropped {
        Dropped {
            user: "nobody".into(),
            uid: 65534,
            group: "nogroup".into(),
            gid: 65534,
        }
    }

    fn ids(uid: u32, gid: u32) -> Ids {
        Ids {
            uid: [uid; 3],
            gid: [gid; 3],
        }
    }

    const STATUS: &str = "Name:\ttlsterm-reload\nUmask:\t0022\nState:\tS (sleeping)\n\
        Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nFDSize:\t64\n\
        Groups:\t65534 \nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";

    #[test]
    fn no_user_is_a_no_op() {
        let settings = ProcessSettings::default();
        assert_eq!(drop_privileges(&settings), Ok(None));
    }

    #[test]
    fn unknown_user_is_named() {
        let settings = ProcessSettings {
            user: Some("tlsterm-no-such-user-7".into()),
            group: None,
        };
        let err = drop_privileges(&settings).unwrap_err();
        assert_eq!(
            err,
            PrivDropError::UnknownUser("tlsterm-no-such-user-7".into())
        );
        assert_eq!(
            err.to_string(),
            "process.user: no user \"tlsterm-no-such-user-7\" on this system"
        );
    }

    #[test]
    fn unknown_group_is_named() {
        let err = resolve("root", Some("tlsterm-no-such-group-7")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "process.group: no group \"tlsterm-no-such-group-7\" on this system"
        );
    }

    #[test]
    fn resolves_root_with_its_primary_group() {
        let root = resolve("root", None).unwrap();
        assert_eq!(
            root,
            Dropped {
                user: "root".into(),
                uid: 0,
                group: "root".into(),
                gid: 0,
            }
        );
    }

    #[test]
    fn display_names_user_and_group_with_ids() {
        assert_eq!(
            nobody().to_string(),
            "nobody (uid 65534), group nogroup (gid 65534)"
        );
    }

    #[test]
    fn root_switches_even_to_itself() {
        assert_eq!(plan(ids(0, 0), &nobody()), Ok(Plan::Switch));
        // Real uid 1000 with effective 0 (a setuid binary) is root too.
        let setuid_root = Ids {
            uid: [1000, 0, 0],
            gid: [1000; 3],
        };
        assert_eq!(plan(setuid_root, &nobody()), Ok(Plan::Switch));
    }

    #[test]
    fn already_the_target_is_a_no_op() {
        assert_eq!(plan(ids(65534, 65534), &nobody()), Ok(Plan::AlreadyThere));
    }

    #[test]
    fn non_root_cannot_switch_user_or_group() {
        let err = plan(ids(1000, 1000), &nobody()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not running as root (uid 1000, gid 1000); cannot switch to user \"nobody\" \
             (uid 65534), group \"nogroup\" (gid 65534): start tlsterm as root, or as that \
             user and group"
        );
        // The right user but another group is refused as well.
        let err = plan(ids(65534, 1000), &nobody()).unwrap_err();
        assert!(matches!(
            err,
            PrivDropError::NotRoot {
                uid: 65534,
                gid: 1000,
                ..
            }
        ));
    }

    #[test]
    fn check_ids_accepts_the_target_only() {
        let t = nobody();
        assert_eq!(check_ids(&t, ids(65534, 65534), &[65534]), Ok(()));
        assert_eq!(check_ids(&t, ids(65534, 65534), &[]), Ok(()));
        let saved_root = Ids {
            uid: [65534, 65534, 0],
            gid: [65534; 3],
        };
        assert_eq!(
            check_ids(&t, saved_root, &[65534]).unwrap_err().to_string(),
            "after switching to user \"nobody\": uids (real, effective, saved) are \
             [65534, 65534, 0], expected 65534"
        );
        assert_eq!(
            check_ids(&t, ids(65534, 0), &[65534])
                .unwrap_err()
                .to_string(),
            "after switching to user \"nobody\": gids (real, effective, saved) are [0, 0, 0], \
             expected 65534"
        );
        assert_eq!(
            check_ids(&t, ids(65534, 65534), &[65534, 0])
                .unwrap_err()
                .to_string(),
            "after switching to user \"nobody\": supplementary groups are [65534, 0], \
             expected [65534]"
        );
    }

    #[test]
    fn thread_status_of_a_dropped_thread_passes() {
        assert_eq!(check_thread_status(&nobody(), STATUS), Ok(()));
    }

    #[test]
    fn thread_status_problems_are_named() {
        let t = nobody();
        let fs_root = STATUS.replace(
            "Uid:\t65534\t65534\t65534\t65534",
            "Uid:\t65534\t65534\t65534\t0",
        );
        assert_eq!(
            check_thread_status(&t, &fs_root),
            Err("Uid [65534, 65534, 65534, 0], expected 65534 four times".into())
        );
        let root_group = STATUS.replace("Groups:\t65534 ", "Groups:\t0 65534 ");
        assert_eq!(
            check_thread_status(&t, &root_group),
            Err("Groups [0, 65534], expected [65534]".into())
        );
        let caps = STATUS.replace("CapEff:\t0000000000000000", "CapEff:\t0000000000000400");
        assert_eq!(
            check_thread_status(&t, &caps),
            Err("CapEff 0000000000000400, expected no capabilities".into())
        );
        let no_gid = STATUS.replace("Gid:", "Xid:");
        assert_eq!(check_thread_status(&t, &no_gid), Err("no Gid line".into()));
    }

    #[test]
    fn root_target_may_keep_capabilities() {
        let root = Dropped {
            user: "root".into(),
            uid: 0,
            group: "root".into(),
            gid: 0,
        };
        let status = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0\n\
                      CapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
        assert_eq!(check_thread_status(&root, status), Ok(()));
    }
}
