//! Shards: one glommio executor per CPU, pinned, each with its own listeners (one socket per
//! configured address in a SO_REUSEPORT group, accepted through io_uring), its own upstream
//! pool, access log and drain signal.
//!
//! Task queues per shard: `requests` (`Latency::Matters`, all connection tasks) and
//! `background` (`Latency::NotImportant`: log flushing, the control watcher).
//!
//! Control: the process-wide [`Control`] holds an atomic stop flag set by the signal thread;
//! each shard's background task polls it every 100 ms (off the request path) and starts the
//! shard-local drain. Nothing mutable is shared between shards on the request path.
//!
//! What it does not do: parse configuration, or speak TLS/HTTP (that is [`crate::proxy`]).

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::Duration;

use glommio::sync::Gate;
use glommio::{
    executor, ExecutorJoinHandle, Latency, LocalExecutorBuilder, Placement, Shares, TaskQueueHandle,
};

use crate::config::Config;
use crate::limits::{PerIp, Slots};
use crate::log::{AccessLog, Sink};
use crate::metrics::{ReloadCounters, ShardMetrics};
use crate::proxy::{serve_connection, serve_plain, Front, Latch, ShardCtx, ShardTls};
use crate::reload::{Publisher, ReloadTrigger, TlsState};
use crate::rt;
use crate::tls::{server_config_with, ServerOptions};
use crate::upstream::Group;

/// Connection slots per shard on a plain-HTTP (redirect) listener.
const DEFAULT_PLAIN_SHARE: usize = 10_000;

/// Process-wide control flags, written by the signal thread or the admin listener and polled
/// by every shard's low-priority watcher (never read on the request path, except
/// `access_log`, a plain load).
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    drain: AtomicBool,
    access_log: AtomicBool,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            stop: AtomicBool::new(false),
            drain: AtomicBool::new(false),
            access_log: AtomicBool::new(true),
        }
    }
}

impl Control {
    /// Asks every shard to stop accepting, finish in-flight requests and exit.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Asks every shard to end keep-alive (the load balancer sees `/healthz` fail and moves
    /// traffic away; new connections are still served).
    pub fn request_drain(&self) {
        self.drain.store(true, Ordering::Release);
    }

    pub fn drain_requested(&self) -> bool {
        self.drain.load(Ordering::Acquire) || self.stop_requested()
    }

    /// Turns the access log on or off at run time.
    pub fn set_access_log(&self, on: bool) {
        self.access_log.store(on, Ordering::Relaxed);
    }

    pub fn access_log_enabled(&self) -> bool {
        self.access_log.load(Ordering::Relaxed)
    }
}

/// What the shards share, immutably.
#[derive(Debug, Clone)]
pub struct Shared {
    pub cfg: Arc<Config>,
    /// The current TLS state (certificates, staples, ticket keys); replaced whole on reload.
    pub publisher: Arc<Publisher>,
    /// Where reload requests go (the admin listener's `POST /reload`).
    pub reload: Sender<ReloadTrigger>,
    pub reload_counters: Arc<ReloadCounters>,
    /// Per-shard heartbeats read by the systemd watchdog thread.
    pub heartbeats: Arc<crate::sdnotify::Heartbeats>,
    /// OCSP fetch outcomes, when `ocsp.fetch` is on.
    pub ocsp_fetch: Option<Arc<crate::reload::FetchStatus>>,
    pub control: Arc<Control>,
    /// Health of the cache backends, shared by every shard and the checker.
    pub upstream_health: Arc<crate::upstream::Health>,
    /// Access-log file, opened once by the main thread (cloned per shard).
    pub log_file: Option<Arc<std::fs::File>>,
}

/// Running shards.
#[derive(Debug)]
pub struct Running {
    /// The address each configured listener is bound to (port 0 resolved).
    pub addresses: Vec<SocketAddr>,
    /// The plain-HTTP (redirect) listeners' addresses.
    pub redirects: Vec<SocketAddr>,
    /// The admin listener's address, when configured.
    pub admin: Option<SocketAddr>,
    pub handles: Vec<ExecutorJoinHandle<()>>,
}

/// Binds every listener once per shard (and the admin listener), calls `after_bind` (where
/// the process drops its privileges), then starts one pinned executor per CPU. Returns when
/// all shards accept connections.
pub fn start(
    shared: Shared,
    cpus: &[usize],
    after_bind: impl FnOnce() -> io::Result<()>,
) -> io::Result<Running> {
    let n = cpus.len();
    let mut per_shard: Vec<Vec<(StdListener, usize, Front)>> = (0..n).map(|_| Vec::new()).collect();
    let mut addresses = Vec::new();
    for l in &shared.cfg.listeners {
        let group = rt::bind_group(l.address, l.backlog.get(), n)
            .map_err(|e| io::Error::new(e.kind(), format!("listen on {}: {e}", l.address)))?;
        steer(&shared.cfg, &group, cpus, l.address)?;
        addresses.push(group[0].local_addr()?);
        // Each shard's fair share of the listener's connection limit.
        let share = l.maxconn.div_ceil(n).max(1);
        for (k, sock) in group.into_iter().enumerate() {
            per_shard[k].push((sock, share, Front::Tls));
        }
    }
    let mut redirect_addresses = Vec::new();
    for r in &shared.cfg.redirects {
        let group = rt::bind_group(r.address, r.backlog.get(), n).map_err(|e| {
            io::Error::new(e.kind(), format!("listen on {} (redirect): {e}", r.address))
        })?;
        steer(&shared.cfg, &group, cpus, r.address)?;
        redirect_addresses.push(group[0].local_addr()?);
        let exempt = Arc::new(r.exempt_paths.clone());
        for (k, sock) in group.into_iter().enumerate() {
            per_shard[k].push((
                sock,
                DEFAULT_PLAIN_SHARE,
                Front::PlainRedirect(Arc::clone(&exempt)),
            ));
        }
    }
    let metrics: Vec<Arc<ShardMetrics>> = (0..n).map(|k| Arc::new(ShardMetrics::new(k))).collect();
    let mut admin_socket = match shared.cfg.admin {
        Some(addr) => Some(
            rt::bind_reuseport(addr, 128)
                .map_err(|e| io::Error::new(e.kind(), format!("admin listener on {addr}: {e}")))?,
        ),
        None => None,
    };
    let admin = admin_socket.as_ref().map(|s| s.local_addr()).transpose()?;
    after_bind()?;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut handles = Vec::with_capacity(n);
    for (id, (cpu, listeners)) in cpus.iter().zip(per_shard).enumerate() {
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let own = Arc::clone(&metrics[id]);
        // The admin listener runs on the first shard, in its low-priority queue.
        let admin = admin_socket.take().map(|sock| AdminSetup {
            socket: sock,
            all: metrics.clone(),
        });
        let handle = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("tlsterm-shard{id}"))
            .spawn(move || shard_main(id, shared, listeners, own, admin, ready))
            .map_err(|e| io::Error::other(format!("start shard {id} on CPU {cpu}: {e}")))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..n {
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("a shard exited during startup"))?;
    }
    Ok(Running {
        addresses,
        redirects: redirect_addresses,
        admin,
        handles,
    })
}

/// With `[shards] steering = "cpu"`, attaches the CPU → shard program to a listener's group
/// (its sockets are bound in shard order, so group index k is shard k on `cpus[k]`).
fn steer(cfg: &Config, group: &[StdListener], cpus: &[usize], addr: SocketAddr) -> io::Result<()> {
    if cfg.steering != crate::config::Steering::Cpu {
        return Ok(());
    }
    let Some(first) = group.first() else {
        return Ok(());
    };
    rt::steer_by_cpu(first, cpus).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("steering connections by CPU on {addr} (SO_ATTACH_REUSEPORT_CBPF): {e}"),
        )
    })
}

/// What the shard hosting the admin listener needs.
struct AdminSetup {
    socket: StdListener,
    all: Vec<Arc<ShardMetrics>>,
}

async fn shard_main(
    id: usize,
    shared: Shared,
    listeners: Vec<(StdListener, usize, Front)>,
    metrics: Arc<ShardMetrics>,
    admin: Option<AdminSetup>,
    ready: mpsc::Sender<()>,
) {
    let requests = executor().create_task_queue(
        Shares::Static(1000),
        Latency::Matters(Duration::from_millis(10)),
        "requests",
    );
    let background =
        executor().create_task_queue(Shares::Static(50), Latency::NotImportant, "background");
    let cfg = Arc::clone(&shared.cfg);
    let sink = match (&cfg.log.access, &shared.log_file) {
        (crate::config::AccessLog::Off, _) => Sink::Off,
        (crate::config::AccessLog::Stdout, _) => Sink::Stdout,
        (crate::config::AccessLog::File(_), Some(f)) => match f.try_clone() {
            Ok(f) => Sink::File(f),
            Err(e) => {
                eprintln!("tlsterm: shard{id}: access log unavailable: {e}");
                Sink::Off
            }
        },
        (crate::config::AccessLog::File(_), None) => Sink::Off,
    };
    let tls = match shard_tls(&shared.publisher.current(), &cfg) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tlsterm: shard{id}: cannot build the TLS configuration: {e}");
            return;
        }
    };
    let ctx = Rc::new(ShardCtx {
        id,
        upstream: Group::new(
            &cfg.upstream,
            cfg.timeouts.connect,
            Arc::clone(&shared.upstream_health),
        ),
        cfg,
        tls: std::cell::RefCell::new(tls),
        log: AccessLog::new(sink),
        draining: Latch::default(),
        stopping: Latch::default(),
        killing: Latch::default(),
        open_connections: std::cell::Cell::new(0),
        per_ip: PerIp::new(shared.cfg.per_ip.clone()),
        metrics,
        control: Arc::clone(&shared.control),
    });
    let gate = Rc::new(Gate::new());
    let mut accept_tasks = Vec::new();
    for (l, share, front) in listeners {
        // A second handle on the same socket, to shut it down at stop: that wakes the
        // in-flight io_uring accept with an error instead of cancelling it (a cancelled
        // accept can lose a connection the kernel already handed over), and hands the
        // connections still queued to the other processes of the SO_REUSEPORT group
        // (net.ipv4.tcp_migrate_req).
        match l.try_clone() {
            Ok(handle) => {
                let ctx = Rc::clone(&ctx);
                let closer = async move {
                    ctx.stopping.wait().await;
                    let _ = socket2::SockRef::from(&handle).shutdown(std::net::Shutdown::Read);
                };
                if let Ok(t) = glommio::spawn_local_into(closer, background) {
                    t.detach();
                }
            }
            Err(e) => eprintln!("tlsterm: shard{id}: cannot duplicate a listener: {e}"),
        }
        let listener = rt::into_glommio(l);
        let slots = Slots::new(share);
        let task = accept_loop(
            Rc::clone(&ctx),
            listener,
            front,
            slots,
            Rc::clone(&gate),
            requests,
        );
        match glommio::spawn_local_into(task, requests) {
            Ok(t) => accept_tasks.push(t),
            Err(e) => eprintln!("tlsterm: shard{id}: cannot start accept loop: {e}"),
        }
    }
    let watcher = control_watcher(
        Rc::clone(&ctx),
        Arc::clone(&shared.control),
        Arc::clone(&shared.publisher),
        Arc::clone(&shared.heartbeats),
    );
    if let Ok(t) = glommio::spawn_local_into(watcher, background) {
        t.detach();
    }
    if let Some(setup) = admin {
        let listener = rt::into_glommio(setup.socket);
        let server = crate::admin::serve(
            listener,
            crate::admin::AdminState {
                shards: setup.all,
                control: Arc::clone(&shared.control),
                publisher: Arc::clone(&shared.publisher),
                reload: shared.reload.clone(),
                reload_counters: Arc::clone(&shared.reload_counters),
                ocsp_fetch: shared.ocsp_fetch.clone(),
                cfg: Arc::clone(&ctx.cfg),
                upstream_health: Arc::clone(&shared.upstream_health),
                started: crate::clock::wall(),
                last_scrape: std::cell::Cell::new(0.0),
            },
            Rc::clone(&ctx),
        );
        match glommio::spawn_local_into(server, background) {
            Ok(t) => {
                t.detach();
            }
            Err(e) => eprintln!("tlsterm: shard{id}: cannot start the admin listener: {e}"),
        }
    }
    let _ = ready.send(());
    drop(ready);

    ctx.stopping.wait().await;
    // Every connection accepted before the listeners shut down is served: wait for the accept
    // loops to end before closing the gate to new connection tasks.
    for t in accept_tasks {
        t.await;
    }
    ctx.upstream.clear();
    let grace = ctx.cfg.timeouts.grace;
    // The same close future throughout: dropping a pending Gate::close and closing again is
    // not supported by glommio's Gate.
    let closing = gate.close();
    futures_lite::pin!(closing);
    if rt::within(grace, closing.as_mut()).await.is_none() {
        eprintln!(
            "tlsterm: shard{id}: grace period of {grace:?} over with {} connection(s) open; killing the requests in flight (K)",
            ctx.open_connections.get()
        );
        ctx.killing.set();
        // Killed exchanges end at once (no answer is written); give them a moment to record.
        if rt::within(KILL_WAIT, closing.as_mut()).await.is_none() {
            eprintln!("tlsterm: shard{id}: connections still open after the kill; exiting");
        }
    }
    ctx.log.flush();
}

/// After the grace period: how long killed exchanges get to write their log lines.
const KILL_WAIT: Duration = Duration::from_secs(2);

async fn accept_loop(
    ctx: Rc<ShardCtx>,
    listener: glommio::net::TcpListener,
    front: Front,
    slots: Rc<Slots>,
    gate: Rc<Gate>,
    queue: TaskQueueHandle,
) {
    loop {
        // At the connection limit, stop accepting: the kernel backlog holds new connections
        // until enough close.
        let ready = futures_lite::future::or(
            async {
                if slots.ready().await {
                    ctx.metrics.accept_paused.add(1);
                }
                true
            },
            async {
                ctx.stopping.wait().await;
                false
            },
        )
        .await;
        if !ready {
            return;
        }
        // Not raced against the stop signal: at stop the socket is shut down (see
        // `shard_main`) and this accept ends with an error.
        let accepted = Some(listener.accept().await);
        if ctx.stopping.is_set() && !matches!(accepted, Some(Ok(_))) {
            return;
        }
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                // A connection whose peer address cannot be read is already gone.
                let Ok(peer) = stream.peer_addr() else {
                    continue;
                };
                if !ctx
                    .per_ip
                    .connection_allowed(peer.ip(), crate::clock::now())
                {
                    // Penalized client: closed silently (FIN, no TLS, no answer).
                    ctx.metrics.per_ip_refused.add(1);
                    drop(stream);
                    continue;
                }
                let slot = slots.take();
                let ctx = Rc::clone(&ctx);
                let front = front.clone();
                let task = gate.spawn_into(
                    async move {
                        match front {
                            Front::Tls => serve_connection(ctx, stream, peer).await,
                            Front::PlainRedirect(exempt) => {
                                serve_plain(ctx, stream, peer, exempt).await
                            }
                        }
                        drop(slot);
                    },
                    queue,
                );
                if let Ok(task) = task {
                    task.detach();
                }
            }
            Some(Err(e)) => {
                // EMFILE/ENFILE/ENOBUFS: back off briefly instead of spinning.
                eprintln!("tlsterm: shard{}: accept failed: {e}", ctx.id);
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// This shard's TLS configuration built from a published state: the shared resolver and
/// ticketer, its own TLS 1.2 session-ID cache.
fn shard_tls(state: &TlsState, cfg: &Config) -> Result<ShardTls, rustls::Error> {
    let config = server_config_with(
        Arc::clone(&state.store),
        &ServerOptions {
            alpn: if cfg.h2.enabled {
                &[b"h2", b"http/1.1"]
            } else {
                &[b"http/1.1"]
            },
            ticketer: Some(Arc::clone(&state.ticketer)),
            session_cache_size: cfg.tls.session_cache_size,
            groups: &cfg.tls.groups,
        },
    )?;
    Ok(ShardTls {
        generation: state.generation,
        config,
        store: Arc::clone(&state.store),
    })
}

/// Polls the process-wide control flags and the published TLS state, and flushes the access
/// log, at low priority.
async fn control_watcher(
    ctx: Rc<ShardCtx>,
    control: Arc<Control>,
    publisher: Arc<Publisher>,
    heartbeats: Arc<crate::sdnotify::Heartbeats>,
) {
    let mut ticks = 0u32;
    loop {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        ticks = ticks.wrapping_add(1);
        heartbeats.beat(ctx.id);
        if ticks == 10 && ctx.cfg.test.stall_shard == Some(ctx.id) {
            // Test-only (TLSTERM_TEST_STALL_SHARD): block this executor like a stuck shard.
            std::thread::sleep(Duration::from_secs(10));
        }
        if ticks % 10 == 0 {
            ctx.log.flush();
            // Idle upstream connections past their age are closed here rather than when a
            // request happens to reach them (the cache closes its side after ~5 s).
            ctx.upstream.prune_idle(crate::clock::now());
            ctx.note_pool();
        }
        if ticks % 50 == 0 {
            ctx.per_ip.prune(crate::clock::now());
        }
        let current = ctx.tls.borrow().generation;
        if publisher.generation() != current {
            match shard_tls(&publisher.current(), &ctx.cfg) {
                Ok(t) => *ctx.tls.borrow_mut() = t,
                Err(e) => eprintln!("tlsterm: shard{}: new TLS state refused: {e}", ctx.id),
            }
        }
        if control.drain_requested() {
            ctx.draining.set();
        }
        if control.stop_requested() {
            ctx.draining.set();
            ctx.stopping.set();
            return;
        }
    }
}
