//! The scenarios' connection tasks, started by a shard.
//!
//! Job: spawn the shard's share of connection tasks for the plan's scenario and wait for all of
//! them. Each submodule is one kind of task:
//! - [`oneshot`]: `handshake` and `resume`, a new connection per operation;
//! - [`keepalive`]: `keepalive` and `bulk`, requests (optionally pipelined) on kept connections;
//! - [`idle`]: open, handshake, hold;
//! - [`h2`]: HTTP/2 GETs on `--streams` concurrent streams per kept connection.
//!
//! What it does not do: decide what is due (the shard's schedule) or what counts (its recorder).

use std::rc::Rc;

use crate::plan::Scenario;
use crate::shard::Ctx;

pub mod h2;
pub mod idle;
pub mod keepalive;
pub mod oneshot;

/// Runs `connections` tasks of the scenario on the current shard until all are done.
pub async fn run(ctx: Rc<Ctx>, connections: usize) {
    let opening = Rc::new(glommio::sync::Semaphore::new(idle::MAX_OPENING as u64));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let ctx = Rc::clone(&ctx);
            let opening = Rc::clone(&opening);
            glommio::spawn_local(async move {
                match ctx.scenario {
                    Scenario::Handshake | Scenario::Resume => oneshot::task(&ctx).await,
                    Scenario::Keepalive | Scenario::Bulk => keepalive::task(&ctx).await,
                    Scenario::Idle => idle::task(&ctx, &opening).await,
                    Scenario::H2 => h2::task(&ctx).await,
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
}
