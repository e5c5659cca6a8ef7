//! The one module that reads the clock. Everything else takes `now` as an argument.

use std::time::Instant;

/// Monotonic time, for schedules, latencies and deadlines.
pub fn now() -> Instant {
    Instant::now()
}
