//! End-to-end: the privilege drop (`[process] user`/`group`), with a real Varnish, curl and
//! `openssl s_client`. Must run as root (CI does); as anyone else every test FAILS saying so.
//!
//! Covers: tlsterm started as root with `user = "nobody"`, `group = "nogroup"` binds a port
//! below 1024, then every one of its threads shows uid and gid 65534 (real, effective, saved,
//! filesystem) and no supplementary group but nogroup in `/proc/PID/task/*/status`; a request
//! through curl reaches Varnish over its Unix socket. Keys live in a directory the user can only
//! read through the group (root:nogroup, 0750 directory, 0640 files), as tuning/README.md asks.
//! After the drop, a SIGHUP reload of a replaced certificate and key (0640 root:nogroup) puts the
//! new certificate in service; a key made unreadable to the user (0600 root:root) makes the next
//! reload fail with "Permission denied" naming the file, and the previous certificate keeps
//! being served. An unknown user or group stops tlsterm at startup, exit status non-zero, with
//! a message naming it.
//!
//! Does not: exercise the `CAP_NET_BIND_SERVICE` (systemd `User=`) deployment, where tlsterm
//! is started unprivileged and the drop is a no-op (unit tests in src/privdrop.rs cover that
//! decision).
mod common;

use common::ocsp::Pki;
use common::tlsops::{count_stderr, served_serial, sighup, wait_serial, wait_stderr};
use common::{require_tool, run_piped, toml_path, toml_str, StdinAfter, TempDir, Tlsterm};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long a SIGHUP may take to be in service or refused.
const RELOAD_DEADLINE: Duration = Duration::from_secs(15);
/// How long tlsterm may take to refuse a bad `[process]` section and exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// Fails (never skips) unless the test runs as root.
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "e2e_privdrop must run as root (euid is {}): it binds a port below 1024 and switches \
         to user nobody; run it as root, as CI does (ci/test.sh)",
        nix::unistd::geteuid()
    );
}

/// uid of `nobody` and gid of `nogroup` (both 65534 on Debian).
fn nobody_nogroup() -> (u32, u32) {
    let user = nix::unistd::User::from_name("nobody")
        .expect("getpwnam nobody")
        .expect("user nobody exists (Debian base image)");
    let group = nix::unistd::Group::from_name("nogroup")
        .expect("getgrnam nogroup")
        .expect("group nogroup exists (Debian base image)");
    (user.uid.as_raw(), group.gid.as_raw())
}

/// Installs `bytes` at `path` owned by `uid:gid` with `mode`, atomically (temp file beside it,
/// owner and mode set, then renamed over), as a deployment tool would.
fn install(path: &Path, bytes: &[u8], uid: u32, gid: u32, mode: u32) {
    let tmp = path.with_extension("tmp-install");
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    set_owner_mode(&tmp, uid, gid, mode);
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

fn set_owner_mode(path: &Path, uid: u32, gid: u32, mode: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A port below 1024 on 127.0.0.1 that nothing listens on right now.
fn free_privileged_port() -> u16 {
    (844..=899)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("no free port in 127.0.0.1:844-899")
}

/// One listener on `listen`, shard on CPU 0, certificate `pem` with key `key`, admin off,
/// access log on stdout, then `process` (the `[process]` table).
fn config(listen: &str, pem: &Path, key: &Path, upstream: &str, process: &str) -> String {
    format!(
        "[[listener]]\naddress = {}\n\n\
         [shards]\ncpus = [0]\n\n\
         [[certificate]]\npem = {}\nkey = {}\n\n\
         [upstream]\naddress = {}\n\n\
         [log]\naccess = \"stdout\"\n\n\
         [admin]\naddress = \"off\"\n\n{process}",
        toml_str(listen),
        toml_path(pem),
        toml_path(key),
        toml_str(upstream),
    )
}

/// (thread id, `/proc/PID/task/TID/status` text) for every thread of `pid`.
fn thread_statuses(pid: u32) -> Vec<(String, String)> {
    let dir = format!("/proc/{pid}/task");
    let mut out = Vec::new();
    for t in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir}: {e}")) {
        let t = t.expect("task entry");
        if let Ok(text) = std::fs::read_to_string(t.path().join("status")) {
            out.push((t.file_name().to_string_lossy().into_owned(), text));
        }
    }
    out
}

/// The whitespace-separated numbers after `name:` in a status text.
fn status_numbers(status: &str, name: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name}: line in\n{status}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|e| panic!("{name}: {n:?}: {e}")))
        .collect()
}

#[test]
fn drops_to_nobody_after_binding_a_privileged_port_and_reloads_as_nobody() {
    require_root();
    let (uid, gid) = nobody_nogroup();
    let pki = Pki::new("privdrop");
    let first = pki.leaf("first", "1001", None);
    let second = pki.leaf("second", "1002", None);
    let ca = pki.ca();

    // Keys readable by group nogroup only: root:nogroup 0750 directory, 0640 files.
    let tmp = TempDir::new("privdrop-keys");
    let keys = tmp.join("keys");
    std::fs::create_dir(&keys).expect("mkdir keys");
    set_owner_mode(&keys, 0, gid, 0o750);
    let (crt, key) = (keys.join("site.crt"), keys.join("site.key"));
    install(&crt, &read(&first.crt), 0, gid, 0o640);
    install(&key, &read(&pki.dir.join("first.key")), 0, gid, 0o640);

    let varnish = common::Varnish::start();
    let port = free_privileged_port();
    let listen = format!("127.0.0.1:{port}");
    let cfg = tmp.write(
        "tlsterm.toml",
        config(
            &listen,
            &crt,
            &key,
            &varnish.unix_upstream(),
            "[process]\nuser = \"nobody\"\ngroup = \"nogroup\"\n",
        ),
    );
    let t = Tlsterm::start(&cfg);
    assert_eq!(t.listeners, vec![listen.parse().expect("address")]);
    let want = format!("tlsterm: running as user nobody (uid {uid}), group nogroup (gid {gid})");
    assert!(
        t.stderr_lines().contains(&want),
        "no {want:?} line; stderr:\n{}",
        t.stderr_lines().join("\n")
    );

    // Every thread (main, reloader, shard, ...) runs as nobody:nogroup, nothing else.
    let threads = thread_statuses(t.pid());
    assert!(threads.len() >= 3, "only {} threads", threads.len());
    for (tid, status) in &threads {
        assert_eq!(status_numbers(status, "Uid"), [uid; 4], "thread {tid}");
        assert_eq!(status_numbers(status, "Gid"), [gid; 4], "thread {tid}");
        assert_eq!(status_numbers(status, "Groups"), [gid], "thread {tid}");
    }

    // A request through the privileged port reaches Varnish (Unix socket) and the origin.
    let out = Command::new(require_tool("curl"))
        .args([
            "-sS",
            "--max-time",
            "30",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(&ca)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/bytes/100"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want_body = common::pattern(100);
    want_body.extend_from_slice(b"\n200");
    assert_eq!(out.stdout, want_body);
    assert_eq!(served_serial(t.addr(), &ca), "1001");

    // Reload after the drop: a new certificate and key, readable through the group.
    let by_signal = |l: &str| l.starts_with("tlsterm: reload (signal): TLS state generation ");
    let before = count_stderr(&t, by_signal);
    install(&key, &read(&pki.dir.join("second.key")), 0, gid, 0o640);
    install(&crt, &read(&second.crt), 0, gid, 0o640);
    sighup(&t);
    let line = wait_stderr(&t, "reload by SIGHUP", before, RELOAD_DEADLINE, by_signal);
    assert!(line.ends_with(" in service"), "{line}");
    wait_serial(t.addr(), &ca, "1002", 3, RELOAD_DEADLINE);

    // The key made unreadable to nobody: the reload is refused, says why, and the second
    // certificate stays in service. (chmod/chown change no mtime: only the signal reloads.)
    set_owner_mode(&key, 0, 0, 0o600);
    let refused =
        |l: &str| l.starts_with("tlsterm: reload (signal) refused, previous state kept: ");
    let seen = count_stderr(&t, refused);
    sighup(&t);
    let line = wait_stderr(&t, "refused reload", seen, RELOAD_DEADLINE, refused);
    let want = format!("{}: Permission denied", key.display());
    assert!(line.contains(&want), "{line:?} lacks {want:?}");
    for _ in 0..3 {
        assert_eq!(served_serial(t.addr(), &ca), "1002");
    }
    // Still nobody after the reloads.
    for (tid, status) in thread_statuses(t.pid()) {
        assert_eq!(status_numbers(&status, "Uid"), [uid; 4], "thread {tid}");
    }
    drop(t);
    drop(varnish);
}

/// Runs `tlsterm run --config FILE`, which must exit within [`EXIT_DEADLINE`]; its stderr.
fn run_expecting_failure(cfg: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsterm"));
    cmd.arg("run").arg("--config").arg(cfg);
    let out = run_piped(cmd, b"", StdinAfter::Close, EXIT_DEADLINE);
    let stderr = out.stderr_text();
    let status = out
        .status
        .unwrap_or_else(|| panic!("tlsterm still running after {EXIT_DEADLINE:?}:\n{stderr}"));
    assert!(!status.success(), "tlsterm exited {status}:\n{stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.contains("tlsterm: ready"),
        "became ready with a bad [process] section:\n{stderr}"
    );
    stderr
}

#[test]
fn unknown_user_or_group_stops_startup_naming_it() {
    require_root();
    let pki = Pki::new("privdrop-unknown");
    let leaf = pki.leaf("site", "1001", None);
    let key = pki.dir.join("site.key");
    let upstream = "127.0.0.1:9";

    let cfg = pki.dir.write(
        "user.toml",
        config(
            "127.0.0.1:0",
            &leaf.crt,
            &key,
            upstream,
            "[process]\nuser = \"tlsterm-no-such-user\"\n",
        ),
    );
    let stderr = run_expecting_failure(&cfg);
    let want = "tlsterm: dropping privileges: process.user: no user \"tlsterm-no-such-user\" \
                on this system";
    assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");

    let cfg = pki.dir.write(
        "group.toml",
        config(
            "127.0.0.1:0",
            &leaf.crt,
            &key,
            upstream,
            "[process]\nuser = \"nobody\"\ngroup = \"tlsterm-no-such-group\"\n",
        ),
    );
    let stderr = run_expecting_failure(&cfg);
    let want = "tlsterm: dropping privileges: process.group: no group \"tlsterm-no-such-group\" \
                on this system";
    assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");
}
