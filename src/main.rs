//! The `tlsterm` binary: command line, startup, signals. `anyhow` lives only here.
//!
//! Subcommands: `run` (config file or quick-start flags), `check` (validate a config and
//! resolve its `[process]` user and group on this machine), `demo` (throwaway certificates +
//! built-in origin + HTTPS on 127.0.0.1:8443), and the hidden `origin` (the tiny origin alone,
//! for tests and benchmarks).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use tlsterm::config::{AccessLog, Config, QuickStart};
use tlsterm::metrics::ReloadCounters;
use tlsterm::privdrop;
use tlsterm::reload::{self, Publisher, ReloadTrigger};
use tlsterm::sdnotify::{self, Heartbeats, Notifier};
use tlsterm::shard::{self, Control, Shared};

#[derive(Parser, Debug)]
#[command(
    name = "tlsterm",
    version,
    about = "Thread-per-core TLS terminator for a CDN edge"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve: from a config file, or from the quick-start flags.
    Run(RunArgs),
    /// Validate a config file (certificates, keys, expiry, the [process] user and group
    /// included) and print a summary.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Throwaway certificates for localhost, a built-in origin, HTTPS on 127.0.0.1:8443.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
    },
    /// The built-in origin alone (stands in for the cache in tests and benchmarks).
    #[command(hide = true)]
    Origin {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// TOML configuration file.
    #[arg(long, conflicts_with_all = ["listen", "upstream", "cert", "shards", "admin", "ticket_keys", "ocsp_fetch"])]
    config: Option<PathBuf>,
    /// Address to accept TLS on (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Cache layer: `unix:/path` or `host:port`.
    #[arg(long)]
    upstream: Option<String>,
    /// PEM file with chain and key (repeatable); `<file>.ocsp` beside it is picked up.
    #[arg(long)]
    cert: Vec<PathBuf>,
    /// CPUs to run shards on: `auto`, `0,1`, `0-3`.
    #[arg(long)]
    shards: Option<String>,
    /// Admin listener address (metrics, health, reload, drain).
    #[arg(long)]
    admin: Option<SocketAddr>,
    /// HAProxy-format session-ticket key file (shared by a fleet for resumption).
    #[arg(long)]
    ticket_keys: Option<PathBuf>,
    /// Fetch OCSP responses from each certificate's responder and keep them fresh.
    #[arg(long)]
    ocsp_fetch: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_args(args),
        Command::Check { config } => check(&config),
        Command::Demo { listen } => demo(listen),
        Command::Origin { listen } => origin(listen),
    };
    if let Err(e) = result {
        eprintln!("tlsterm: {e:#}");
        std::process::exit(1);
    }
}

fn run_args(args: RunArgs) -> Result<()> {
    let cfg = match args.config {
        Some(path) => Config::from_file(&path)?,
        None => {
            let Some(upstream) = args.upstream else {
                bail!("run needs --config FILE, or --listen, --upstream and --cert");
            };
            Config::quick(&QuickStart {
                listen: args.listen,
                upstream,
                certs: args.cert,
                shards: args.shards,
                admin: args.admin,
                ticket_keys: args.ticket_keys,
                ocsp_fetch: args.ocsp_fetch,
            })?
        }
    };
    serve(cfg)
}

fn check(path: &std::path::Path) -> Result<()> {
    let cfg = Config::from_file(path)?;
    // Name the config file first, then the certificate at fault.
    let summary = cfg
        .check(tlsterm::clock::wall())
        .map_err(|e| anyhow::anyhow!("{}: {}: {}: {}", path.display(), e.key, e.file, e.reason))?;
    // `[process] user`/`group` must exist on this machine: resolved as `run` resolves them
    // before dropping privileges (nothing is switched here).
    let runs_as = match cfg.process.user.as_deref() {
        Some(user) => Some(
            privdrop::resolve(user, cfg.process.group.as_deref())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ),
        None => None,
    };
    println!("{}", with_runs_as(&summary, runs_as.as_ref()));
    println!("{}: OK", path.display());
    Ok(())
}

/// The summary with its `runs as` line (the configured names) replaced by the resolved user
/// and group with their ids (added at the end if the summary has no such line).
fn with_runs_as(summary: &str, runs_as: Option<&privdrop::Dropped>) -> String {
    let Some(d) = runs_as else {
        return summary.to_string();
    };
    let resolved = format!("runs as      {d}");
    let mut lines: Vec<&str> = Vec::new();
    let mut replaced = false;
    for l in summary.lines() {
        if l.starts_with("runs as ") {
            lines.push(&resolved);
            replaced = true;
        } else {
            lines.push(l);
        }
    }
    if !replaced {
        lines.push(&resolved);
    }
    lines.join("\n")
}

/// Starts the shards and blocks until they have drained after SIGTERM/SIGINT.
fn serve(mut cfg: Config) -> Result<()> {
    if let Ok(ms) = std::env::var("TLSTERM_TEST_DELAY_MS") {
        let ms: u64 = ms
            .parse()
            .context("TLSTERM_TEST_DELAY_MS must be milliseconds")?;
        eprintln!("tlsterm: TEST MODE: every request is delayed {ms} ms inside the proxy");
        cfg.test.delay = Some(std::time::Duration::from_millis(ms));
    }
    if let Ok(k) = std::env::var("TLSTERM_TEST_STALL_SHARD") {
        let k: usize = k
            .parse()
            .context("TLSTERM_TEST_STALL_SHARD must be a shard index")?;
        eprintln!("tlsterm: TEST MODE: shard {k} will stall for 10 s");
        cfg.test.stall_shard = Some(k);
    }
    // Signals are routed to the signal thread before any shard starts.
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).context("installing signal handlers")?;
    let cpus = tlsterm::topology::shard_cpus(&cfg.shards).context("choosing shard CPUs")?;
    // Stamped before the build: a file changed during or after it triggers a reload.
    let loaded_stamps = reload::stamps(&reload::watched_files(&cfg));
    let state = reload::build(
        &cfg,
        None,
        reload::GeneratedKeys::Keep,
        tlsterm::clock::wall(),
    )
    .context("loading certificates, OCSP responses and ticket keys")?;
    for s in &state.staples {
        if let Some(e) = &s.last_error {
            eprintln!("tlsterm: OCSP response for {} not stapled: {e}", s.cert);
        }
        if s.must_staple_missing {
            eprintln!("tlsterm: WARNING: {} is must-staple but has no valid OCSP staple: clients will refuse it", s.cert);
        }
    }
    let publisher = Arc::new(Publisher::new(state));
    let log_file = match &cfg.log.access {
        AccessLog::File(p) => Some(Arc::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening access log {}", p.display()))?,
        )),
        _ => None,
    };
    let control = Arc::new(Control::default());
    let upstream = cfg
        .upstream
        .backends
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let cfg_steering = cfg.steering;
    let cfg = Arc::new(cfg);
    let reload_counters = Arc::new(ReloadCounters::default());
    let reloader = reload::spawn_reloader(
        Arc::clone(&cfg),
        Arc::clone(&publisher),
        Arc::clone(&reload_counters),
        loaded_stamps,
    )
    .context("starting the reloader")?;
    let ocsp_fetch =
        reload::spawn_fetcher(&cfg, Arc::clone(&control)).context("starting the OCSP fetcher")?;
    let heartbeats = Heartbeats::new(cpus.len());
    let upstream_health = Arc::new(tlsterm::upstream::Health::new(
        &cfg.upstream,
        tlsterm::clock::now(),
    ));
    let stop_checks = Arc::clone(&control);
    tlsterm::upstream::check::spawn(&cfg.upstream, Arc::clone(&upstream_health), move || {
        stop_checks.stop_requested()
    })
    .context("starting the upstream health checker")?;
    let shared = Shared {
        upstream_health,
        heartbeats: Arc::clone(&heartbeats),
        cfg,
        ocsp_fetch,
        publisher,
        reload: reloader.clone(),
        reload_counters,
        control: Arc::clone(&control),
        log_file,
    };
    // Everything that needs root is done by now except binding, which `shard::start` does
    // before calling this closure: keys are loaded, the access log is open. The reloader, the
    // OCSP fetcher and the upstream health checker already run; the switch applies to them too
    // (glibc changes the ids of every thread; privdrop checks each one), so reloads re-read
    // keys as the unprivileged user.
    let process = shared.cfg.process.clone();
    let after_bind = move || match privdrop::drop_privileges(&process) {
        Ok(Some(d)) => {
            eprintln!(
                "tlsterm: running as user {} (uid {}), group {} (gid {})",
                d.user, d.uid, d.group, d.gid
            );
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(std::io::Error::other(format!("dropping privileges: {e}"))),
    };
    tlsterm::uring::set_enabled(shared.cfg.cooperative_taskrun);
    let running = shard::start(shared, &cpus, after_bind)?;
    for addr in &running.addresses {
        say_line(format!("tlsterm: listening on {addr}"));
    }
    for addr in &running.redirects {
        say_line(format!("tlsterm: redirecting http on {addr}"));
    }
    if let Some(addr) = running.admin {
        say_line(format!(
            "tlsterm: admin on http://{addr}/ (metrics, healthz)"
        ));
    }
    eprintln!(
        "tlsterm: {} shard(s) on CPUs {:?}, upstream {upstream}",
        cpus.len(),
        cpus
    );
    if cfg_steering == tlsterm::config::Steering::Cpu {
        eprintln!(
            "tlsterm: connections steered to the shard on the CPU that receives them (SO_ATTACH_REUSEPORT_CBPF)"
        );
    }
    let rings = tlsterm::uring::report();
    let warn = if rings.degraded() { "WARNING: " } else { "" };
    eprintln!(
        "tlsterm: {warn}{}",
        rings.describe("[shards] cooperative_taskrun = false")
    );
    eprintln!("tlsterm: ready");
    let notifier = Notifier::from_env().context("NOTIFY_SOCKET")?.map(Arc::new);
    if let Some(n) = &notifier {
        let status = format!(
            "READY=1\nSTATUS=serving on {} with {} shard(s)",
            running
                .addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            cpus.len()
        );
        if let Err(e) = n.notify(&status) {
            eprintln!("tlsterm: sd_notify failed: {e}");
        }
        let interval = sdnotify::watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        if let Some(interval) = interval {
            sdnotify::spawn_watchdog(
                Arc::clone(n),
                Arc::clone(&heartbeats),
                interval,
                Arc::clone(&control),
            )
            .context("starting the watchdog")?;
        }
    }

    let signal_control = Arc::clone(&control);
    let signal_notifier = notifier.clone();
    std::thread::Builder::new()
        .name("tlsterm-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                match sig {
                    SIGHUP => {
                        let _ = reloader.send(ReloadTrigger::Signal);
                    }
                    _ => {
                        eprintln!("tlsterm: stopping: draining connections");
                        if let Some(n) = &signal_notifier {
                            let _ = n.notify("STOPPING=1\nSTATUS=draining");
                        }
                        signal_control.request_stop();
                        let _ = reloader.send(ReloadTrigger::Stop);
                        return;
                    }
                }
            }
        })
        .context("starting the signal thread")?;

    let mut failed = false;
    for h in running.handles {
        if h.join().is_err() {
            failed = true;
        }
    }
    if failed {
        bail!("a shard stopped abnormally");
    }
    eprintln!("tlsterm: stopped");
    Ok(())
}

fn demo(listen: SocketAddr) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("tlsterm-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let certs = tlsterm::demo::generate_certs(&dir).context("generating demo certificates")?;
    let origin = tlsterm::origin::spawn("127.0.0.1:0").context("starting the demo origin")?;
    let ca = dir.join("demo-ca.pem");
    eprintln!("tlsterm demo: throwaway certificates in {}", dir.display());
    eprintln!("tlsterm demo: built-in origin (standing in for the cache) on {origin}");
    eprintln!("tlsterm demo: try");
    eprintln!(
        "    curl --cacert {} https://localhost:{}/",
        ca.display(),
        listen.port()
    );
    eprintln!(
        "    curl --cacert {} https://localhost:{}/headers",
        ca.display(),
        listen.port()
    );
    let cfg = Config::quick(&QuickStart {
        listen: vec![listen],
        upstream: origin.to_string(),
        certs,
        shards: None,
        admin: None,
        ticket_keys: None,
        ocsp_fetch: false,
    })?;
    serve(cfg)
}

/// Prints a start-up line that scripts parse (an address) with one write. `eprintln!` writes each
/// formatting piece separately to the unbuffered stderr, so a reader polling the file could see
/// `listening on 127.0.0.1:` before the port arrives.
fn say_line(mut line: String) {
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn origin(listen: SocketAddr) -> Result<()> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("bind {listen}"))?;
    say_line(format!(
        "tlsterm origin: listening on {}",
        listener.local_addr()?
    ));
    tlsterm::origin::run(listener)?;
    Ok(())
}
