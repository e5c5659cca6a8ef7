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
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use glommio::sync::Gate;
use glommio::{
    executor, ExecutorJoinHandle, Latency, LocalExecutorBuilder, Placement, Shares,
    TaskQueueHandle,
};

use crate::config::Config;
use crate::log::{AccessLog, Sink};
use crate::proxy::{serve_connection, Drain, ShardCtx};
use crate::rt;
use crate::tls::CertStore;
use crate::upstream::Pool;

/// Process-wide control flags, written by the signal thread and polled by every shard.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
}

impl Control {
    /// Asks every shard to stop accepting, finish in-flight requests and exit.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// What the shards share, immutably.
#[derive(Debug, Clone)]
pub struct Shared {
    pub cfg: Arc<Config>,
    pub tls: Arc<rustls::ServerConfig>,
    pub store: Arc<CertStore>,
    pub control: Arc<Control>,
    /// Access-log file, opened once by the main thread (cloned per shard).
    pub log_file: Option<Arc<std::fs::File>>,
}

/// Running shards.
#[derive(Debug)]
pub struct Running {
    /// The address each configured listener is bound to (port 0 resolved).
    pub addresses: Vec<SocketAddr>,
    pub handles: Vec<ExecutorJoinHandle<()>>,
}

/// Binds every listener once per shard and starts one pinned executor per CPU. Returns when
/// all shards accept connections.
pub fn start(shared: Shared, cpus: &[usize]) -> io::Result<Running> {
    let n = cpus.len();
    let mut per_shard: Vec<Vec<StdListener>> = (0..n).map(|_| Vec::new()).collect();
    let mut addresses = Vec::new();
    for l in &shared.cfg.listeners {
        let group = rt::bind_group(l.address, l.backlog.get(), n).map_err(|e| {
            io::Error::new(e.kind(), format!("listen on {}: {e}", l.address))
        })?;
        addresses.push(group[0].local_addr()?);
        for (k, sock) in group.into_iter().enumerate() {
            per_shard[k].push(sock);
        }
    }
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut handles = Vec::with_capacity(n);
    for (id, (cpu, listeners)) in cpus.iter().zip(per_shard).enumerate() {
        let shared = shared.clone();
        let ready = ready_tx.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("tlsterm-shard{id}"))
            .spawn(move || shard_main(id, shared, listeners, ready))
            .map_err(|e| io::Error::other(format!("start shard {id} on CPU {cpu}: {e}")))?;
        handles.push(handle);
    }
    drop(ready_tx);
    for _ in 0..n {
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("a shard exited during startup"))?;
    }
    Ok(Running { addresses, handles })
}

async fn shard_main(
    id: usize,
    shared: Shared,
    listeners: Vec<StdListener>,
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
    let ctx = Rc::new(ShardCtx {
        id,
        pool: Pool::new(
            cfg.upstream.address.clone(),
            cfg.upstream.max_idle_per_shard,
            cfg.timeouts.connect,
        ),
        cfg,
        tls: shared.tls,
        store: shared.store,
        log: AccessLog::new(sink),
        drain: Drain::default(),
        open_connections: std::cell::Cell::new(0),
    });
    let gate = Rc::new(Gate::new());
    for l in listeners {
        let listener = rt::into_glommio(l);
        let task = accept_loop(Rc::clone(&ctx), listener, Rc::clone(&gate), requests);
        match glommio::spawn_local_into(task, requests) {
            Ok(t) => {
                t.detach();
            }
            Err(e) => eprintln!("tlsterm: shard{id}: cannot start accept loop: {e}"),
        }
    }
    let watcher = control_watcher(Rc::clone(&ctx), Arc::clone(&shared.control));
    if let Ok(t) = glommio::spawn_local_into(watcher, background) {
        t.detach();
    }
    let _ = ready.send(());
    drop(ready);

    ctx.drain.wait().await;
    ctx.pool.clear();
    let grace = ctx.cfg.timeouts.grace;
    if rt::within(grace, gate.close()).await.is_none() {
        eprintln!(
            "tlsterm: shard{id}: grace period of {grace:?} over with {} connection(s) open; closing them",
            ctx.open_connections.get()
        );
    }
    ctx.log.flush();
}

async fn accept_loop(
    ctx: Rc<ShardCtx>,
    listener: glommio::net::TcpListener,
    gate: Rc<Gate>,
    queue: TaskQueueHandle,
) {
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            ctx.drain.wait().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                if let Ok(task) = gate.spawn_into(serve_connection(Rc::clone(&ctx), stream), queue)
                {
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

/// Polls the process-wide control flags and flushes the access log, at low priority.
async fn control_watcher(ctx: Rc<ShardCtx>, control: Arc<Control>) {
    let mut ticks = 0u32;
    loop {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        ticks = ticks.wrapping_add(1);
        if ticks % 10 == 0 {
            ctx.log.flush();
        }
        if control.stop_requested() {
            ctx.drain.start();
            return;
        }
    }
}
