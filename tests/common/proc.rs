//! The processes the end-to-end tests drive: the `tlsterm` binary under test, curl and
//! `openssl s_client`.
//!
//! Job: start tlsterm with a config file, wait for its `tlsterm: ready` line (deadline), collect
//! its access log (stdout) and diagnostics (stderr) on background threads, check that it runs
//! its io_uring rings with COOP_TASKRUN (the `tlsterm: io_uring:` line), stop it with SIGTERM;
//! run clients with deadlines and capture their output.
//!
//! Does not: parse what the clients print (see [`super::wire`]).
use super::{require_tool, stop_child, Certs, LOG_DEADLINE, POLL, READY_DEADLINE};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines read from a pipe by a background thread.
#[derive(Default)]
struct Lines {
    /// (lines so far, pipe reached EOF)
    state: Mutex<(Vec<String>, bool)>,
    cv: Condvar,
}

impl Lines {
    fn collect<R: Read + Send + 'static>(pipe: R) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            loop {
                let mut buf = Vec::new();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let s = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\r', '\n'])
                            .to_string();
                        l.state.lock().expect("lines lock").0.push(s);
                        l.cv.notify_all();
                    }
                }
            }
            l.state.lock().expect("lines lock").1 = true;
            l.cv.notify_all();
        });
        lines
    }

    fn snapshot(&self) -> Vec<String> {
        self.state.lock().expect("lines lock").0.clone()
    }

    /// Waits until some line satisfies `pred` (returns it), or EOF / deadline (returns None).
    fn wait_for(&self, within: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let mut found = None;
        self.wait_until(within, |lines| {
            found = lines.iter().find(|l| pred(l)).cloned();
            found.is_some()
        });
        found
    }

    /// Waits until `done(all lines so far)` holds (true), or EOF / deadline (false).
    fn wait_until(&self, within: Duration, mut done: impl FnMut(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut st = self.state.lock().expect("lines lock");
        loop {
            if done(&st.0) {
                return true;
            }
            let now = Instant::now();
            if st.1 || now >= deadline {
                return false;
            }
            st = self
                .cv
                .wait_timeout(st, deadline - now)
                .expect("lines lock")
                .0;
        }
    }
}

/// A running `tlsterm run`, stopped with SIGTERM on drop.
pub struct Tlsterm {
    child: Child,
    /// Every `tlsterm: listening on ADDR` address, in order.
    pub listeners: Vec<SocketAddr>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
}

impl Tlsterm {
    /// `tlsterm run --config FILE`.
    pub fn start(config: &Path) -> Tlsterm {
        Tlsterm::start_args([
            OsStr::new("run"),
            OsStr::new("--config"),
            config.as_os_str(),
        ])
    }

    /// `tlsterm run --config FILE` with extra environment variables.
    pub fn start_env(config: &Path, env: &[(&str, &str)]) -> Tlsterm {
        Tlsterm::spawn(
            [
                OsStr::new("run"),
                OsStr::new("--config"),
                config.as_os_str(),
            ],
            env,
        )
    }

    /// `tlsterm ARGS...`; waits for `tlsterm: ready` on stderr.
    pub fn start_args<I, S>(args: I) -> Tlsterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Tlsterm::spawn(args, &[])
    }

    fn spawn<I, S>(args: I, env: &[(&str, &str)]) -> Tlsterm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tlsterm"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tlsterm");
        let stdout = Lines::collect(child.stdout.take().expect("piped stdout"));
        let stderr = Lines::collect(child.stderr.take().expect("piped stderr"));
        let mut t = Tlsterm {
            child,
            listeners: Vec::new(),
            stdout,
            stderr,
        };
        if t.stderr
            .wait_for(READY_DEADLINE, |l| l == "tlsterm: ready")
            .is_none()
        {
            let status = t.child.try_wait().ok().flatten();
            panic!(
                "tlsterm did not print `tlsterm: ready` within {READY_DEADLINE:?} (exit: {status:?}); stderr:\n{}",
                t.stderr.snapshot().join("\n")
            );
        }
        t.listeners = t
            .stderr
            .snapshot()
            .iter()
            .filter_map(|l| l.strip_prefix("tlsterm: listening on "))
            .map(|a| {
                a.parse()
                    .unwrap_or_else(|e| panic!("bad listen address {a:?}: {e}"))
            })
            .collect();
        assert!(
            !t.listeners.is_empty(),
            "no `tlsterm: listening on` line before ready"
        );
        // The binary is linked with the io_uring set-up hook and the kernel took the flags
        // (src/uring.rs); a glommio that bypassed the hook would print a WARNING instead.
        let lines = t.stderr.snapshot();
        assert!(
            lines.iter().any(|l| l.starts_with("tlsterm: io_uring: ")
                && l.contains("with COOP_TASKRUN")
                && !l.contains(" 0 with COOP_TASKRUN")),
            "no `tlsterm: io_uring: ... with COOP_TASKRUN` line before ready; stderr:\n{}",
            lines.join("\n")
        );
        t
    }

    /// The admin listener's address (from `tlsterm: admin on http://ADDR/ ...`).
    pub fn admin(&self) -> SocketAddr {
        self.stderr_lines()
            .iter()
            .find_map(|l| l.strip_prefix("tlsterm: admin on http://"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .expect("tlsterm printed no admin address (is [admin] configured?)")
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.listeners[0]
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `https://localhost:PORT{path}`
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port())
    }

    /// Access-log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Waits (up to [`LOG_DEADLINE`]) for an access-log line satisfying `pred`; panics with
    /// every log line when none appears.
    pub fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stdout.wait_for(LOG_DEADLINE, pred).unwrap_or_else(|| {
            panic!(
                "no access-log line {what} within {LOG_DEADLINE:?}; stdout:\n{}\nstderr:\n{}",
                self.log_lines().join("\n"),
                self.stderr_lines().join("\n")
            )
        })
    }

    /// Waits (up to `within`) for a diagnostics (stderr) line satisfying `pred`; panics with
    /// every line when none appears.
    pub fn wait_stderr(&self, what: &str, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.stderr.wait_for(within, pred).unwrap_or_else(|| {
            panic!(
                "no stderr line {what} within {within:?}; stderr:\n{}",
                self.stderr_lines().join("\n")
            )
        })
    }

    /// Waits (up to [`LOG_DEADLINE`]) until at least `n` access-log lines exist; returns all
    /// lines so far (fewer than `n` if the deadline passed).
    pub fn wait_log_count(&self, n: usize) -> Vec<String> {
        self.stdout
            .wait_until(LOG_DEADLINE, |lines| lines.len() >= n);
        self.log_lines()
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit within `within`; `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tlsterm {
    fn drop(&mut self) {
        if stop_child(&mut self.child, Duration::from_secs(10)).is_none() {
            eprintln!("tlsterm did not stop within 10 s of SIGTERM; killed");
        }
        if std::thread::panicking() {
            eprintln!(
                "--- tlsterm stderr ---\n{}\n--- tlsterm stdout ---\n{}",
                self.stderr_lines().join("\n"),
                self.log_lines().join("\n")
            );
        }
    }
}

/// Runs curl against `t` trusting the test CA, `localhost` resolved to 127.0.0.1.
pub fn curl(t: &Tlsterm, certs: &Certs, args: &[&str]) -> Output {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--max-time", "30", "--cacert"])
        .arg(&certs.ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", t.port()))
        .args(args)
        .stdin(Stdio::null());
    cmd.output().expect("run curl")
}

/// What a client run with [`run_piped`] produced.
#[derive(Debug)]
pub struct Piped {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit status, or `None` when it was still running at the deadline (then killed).
    pub status: Option<ExitStatus>,
}

impl Piped {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// What happens to a client's stdin after the input was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinAfter {
    /// Closed: the client sees EOF.
    Close,
    /// Kept open until the client exits: it only ends when its peer closes the connection.
    KeepOpen,
}

/// Runs `cmd`, writes `input` to its stdin, closes or keeps stdin open as `after` says, waits
/// until it exits or `within` passes (then kills it).
pub fn run_piped(mut cmd: Command, input: &[u8], after: StdinAfter, within: Duration) -> Piped {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = read_all(Box::new(out));
    let err = read_all(Box::new(err));
    let mut stdin: ChildStdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).expect("write client stdin");
    stdin.flush().expect("flush client stdin");
    let mut stdin = Some(stdin);
    if after == StdinAfter::Close {
        stdin = None;
    }
    let deadline = Instant::now() + within;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    drop(stdin);
    Piped {
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        status,
    }
}

/// `openssl s_client -connect 127.0.0.1:PORT -servername localhost -CAfile ca.pem
/// -verify_hostname localhost` plus `extra` (which may replace `-servername localhost` by its
/// own `-servername X` or `-noservername`), fed `input`.
pub fn s_client(
    t: &Tlsterm,
    certs: &Certs,
    extra: &[&str],
    input: &[u8],
    after: StdinAfter,
    within: Duration,
) -> Piped {
    let mut cmd = Command::new(require_tool("openssl"));
    cmd.arg("s_client")
        .arg("-connect")
        .arg(t.addr().to_string())
        .arg("-CAfile")
        .arg(&certs.ca)
        .args(["-verify_hostname", "localhost"])
        .args(extra);
    if !extra.contains(&"-noservername") && !extra.contains(&"-servername") {
        cmd.args(["-servername", "localhost"]);
    }
    run_piped(cmd, input, after, within)
}
