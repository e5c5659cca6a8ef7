//! Load shards: one glommio executor pinned to each `--cpus` CPU, running that CPU's share of
//! the connections, the rate and the request quota, and reporting to the main thread.
//!
//! Job: start the executors ([`start`]), hold the shard-local state ([`Ctx`]: schedule, recorder,
//! dialer), send a progress [`Msg::Tick`] once a second, [`Msg::WindowClosed`] when a request
//! quota is used up and answered, and the final [`Msg::Done`] with the shard's [`Stats`].
//!
//! Invariants: shards share nothing mutable (`Rc`/`RefCell` inside, `std::sync::mpsc` out); the
//! window (start, warm-up end, end) is fixed by the main thread before the first request, so all
//! shards use the same instants.
//!
//! What it does not do: print, or merge results (see [`crate::run`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use hdrhistogram::Histogram;
use rustls::ClientConfig;

use crate::clock;
use crate::conn::{self, Dialer, Failure};
use crate::http1;
use crate::plan::{Plan, Scenario};
use crate::scenario;
use crate::schedule::{self, Next, Schedule, Ticket, Window};
use crate::stats::{ErrorKind, Handshake, Outcome, Recorder, Stats};

/// Shard → main thread.
#[derive(Debug)]
pub enum Msg {
    /// The executor is up and waits for its window.
    Ready,
    /// Progress since the previous tick (warm-up included).
    Tick {
        seq: u64,
        ok: u64,
        errors: u64,
        live: u64,
        latency: Box<Histogram<u64>>,
    },
    /// The shard's request quota is issued and every measured request resolved.
    WindowClosed { at: Instant },
    /// The shard finished.
    Done { stats: Box<Stats> },
}

/// Why shards could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("cannot start a load shard on CPU {cpu}: {reason}")]
    Spawn { cpu: usize, reason: String },
}

/// Shard-local state shared by the shard's connection tasks.
pub struct Ctx {
    pub scenario: Scenario,
    pub dialer: Dialer,
    /// One request's bytes (`Connection: close` for one-connection-per-operation scenarios).
    pub request: Vec<u8>,
    pub pipeline: usize,
    pub timeout: Duration,
    pub send_request: bool,
    /// The HTTP/2 request (h2 only).
    pub h2: Option<crate::h2head::Head>,
    schedule: RefCell<Schedule>,
    recorder: RefCell<Recorder>,
    events: Sender<Msg>,
    window_closed: Cell<bool>,
    /// Connections currently established (for the progress line).
    pub live: Cell<u64>,
}

impl Ctx {
    pub fn window(&self) -> Window {
        *self.schedule.borrow().window()
    }

    /// The next thing to do; expired tickets are counted as timeouts here.
    pub fn next(&self, now: Instant) -> Next {
        loop {
            let next = self.schedule.borrow_mut().next(now);
            match next {
                Next::Expired(t) => {
                    let f = Failure::new(
                        ErrorKind::Timeout,
                        "waited longer than --timeout to be sent",
                    );
                    self.done(&t, Err(f), now);
                }
                other => return other,
            }
        }
    }

    /// Waits for the next ticket; `None` when the schedule is finished.
    pub async fn ticket(&self) -> Option<Ticket> {
        loop {
            match self.next(clock::now()) {
                Next::Go(t) => return Some(t),
                Next::Wait(at) => conn::sleep_until(at).await,
                Next::Stop | Next::Expired(_) => return None,
            }
        }
    }

    /// True when no more tickets will be handed out.
    pub fn finished(&self, now: Instant) -> bool {
        self.schedule.borrow().finished(now)
    }

    /// Records the end of the request of `ticket` at `now`: body bytes of a 2xx, or a failure.
    pub fn done(&self, ticket: &Ticket, result: Result<u64, Failure>, now: Instant) {
        let latency = schedule::latency(ticket, now);
        let mut rec = self.recorder.borrow_mut();
        match result {
            Ok(body_bytes) => rec.request(ticket, latency, Outcome::Ok { body_bytes }, "", now),
            Err(f) => rec.request(ticket, latency, Outcome::Failed(f.kind), &f.detail, now),
        }
        let resolved = rec.stats.resolved;
        drop(rec);
        if ticket.measured && !self.window_closed.get() {
            let s = self.schedule.borrow();
            if s.quota_done() && resolved >= s.issued_measured() {
                self.window_closed.set(true);
                let _ = self.events.send(Msg::WindowClosed { at: now });
            }
        }
    }

    /// Records a response: 2xx counts as success, anything else as a status error.
    pub fn response(&self, ticket: &Ticket, r: http1::Response, now: Instant) {
        let result = if (200..300).contains(&r.status) {
            Ok(r.body_bytes)
        } else {
            Err(Failure::new(
                ErrorKind::Status,
                format!("HTTP status {}", r.status),
            ))
        };
        self.done(ticket, result, now);
    }

    /// A failure not tied to a request.
    pub fn connection_failure(&self, f: &Failure, now: Instant) {
        self.recorder
            .borrow_mut()
            .connection_error(f.kind, &f.detail, now);
    }

    pub fn handshake(&self, h: Handshake, now: Instant) {
        self.recorder.borrow_mut().handshake(h, now);
    }

    pub fn idle_survivor(&self) {
        self.recorder.borrow_mut().stats.idle_up += 1;
    }
}

/// What each shard needs to start.
pub struct ShardSetup {
    pub plan: Arc<Plan>,
    pub configs: Vec<Arc<ClientConfig>>,
    pub name: rustls::pki_types::ServerName<'static>,
}

/// Running shards: where to send their window, and their executors.
pub struct Started {
    pub windows: Vec<Sender<Window>>,
    pub handles: Vec<glommio::ExecutorJoinHandle<()>>,
}

/// Starts one executor per CPU. Each sends `Ready`, then waits for its [`Window`] on
/// `Started::windows`, runs, and sends `Done`.
pub fn start(setup: ShardSetup, events: &Sender<Msg>) -> Result<Started, ShardError> {
    let mut windows = Vec::new();
    let mut handles = Vec::new();
    for (k, (&cpu, config)) in setup.plan.cpus.iter().zip(setup.configs).enumerate() {
        let (wtx, wrx) = std::sync::mpsc::channel::<Window>();
        let plan = Arc::clone(&setup.plan);
        let name = setup.name.clone();
        let events = events.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("loadtest-{k}"))
            .spawn(move || shard_main(k, plan, config, name, wrx, events))
            .map_err(|e| ShardError::Spawn {
                cpu,
                reason: e.to_string(),
            })?;
        windows.push(wtx);
        handles.push(handle);
    }
    Ok(Started { windows, handles })
}

async fn shard_main(
    k: usize,
    plan: Arc<Plan>,
    config: Arc<ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    window_rx: Receiver<Window>,
    events: Sender<Msg>,
) {
    let _ = events.send(Msg::Ready);
    // Blocking here is fine: nothing else runs on this executor yet.
    let Ok(window) = window_rx.recv() else {
        return;
    };
    let one_per_conn = plan.scenario.connection_per_op();
    let ctx = Rc::new(Ctx {
        scenario: plan.scenario,
        dialer: Dialer::new(plan.target, config, name, plan.timeout),
        request: http1::request_bytes(&plan.request, one_per_conn),
        pipeline: plan.pipeline.get(),
        timeout: plan.timeout,
        send_request: plan.request.send,
        h2: plan.h2.clone(),
        schedule: RefCell::new(Schedule::new(
            window,
            plan.pacing_of(k),
            plan.timeout,
            plan.requests_of(k),
        )),
        recorder: RefCell::new(Recorder::new(window)),
        events: events.clone(),
        window_closed: Cell::new(false),
        live: Cell::new(0),
    });
    glommio::spawn_local(ticker(Rc::clone(&ctx), window.start)).detach();
    conn::sleep_until(window.start).await;
    let work = scenario::run(Rc::clone(&ctx), plan.connections_of(k));
    // Safety net: everything is bounded by --timeout already; this only guards against a bug
    // leaving a task behind.
    if let Some(until) = window.measure_until {
        let hard_stop = until + 2 * plan.timeout + Duration::from_secs(1);
        if conn::until(hard_stop, work).await.is_none() {
            eprintln!("loadtest: shard {k}: tasks still running at the hard stop, abandoned");
        }
    } else {
        work.await;
    }
    let stats = ctx.recorder.borrow().stats.clone();
    let _ = events.send(Msg::Done {
        stats: Box::new(stats),
    });
}

async fn ticker(ctx: Rc<Ctx>, start: Instant) {
    for seq in 1u64.. {
        conn::sleep_until(start + Duration::from_secs(seq)).await;
        let i = ctx.recorder.borrow_mut().take_interval();
        let msg = Msg::Tick {
            seq,
            ok: i.ok,
            errors: i.errors,
            live: ctx.live.get(),
            latency: Box::new(i.latency),
        };
        if ctx.events.send(msg).is_err() {
            return;
        }
    }
}
