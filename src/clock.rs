//! The one module that reads the clock. Everything else takes `now` as an argument.

use std::time::{Instant, SystemTime};

/// Monotonic time, for timers and deadlines.
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time, for certificate validity and log timestamps.
pub fn wall() -> SystemTime {
    SystemTime::now()
}
