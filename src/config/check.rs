//! `tlsterm check`: certificate validity at a given `now`, and the human summary.
//!
//! Job: refuse certificates that are expired or not yet valid at `now`, and describe the
//! configuration in a few lines an operator can compare with what they meant.
//!
//! Does not: read the clock (`now` is passed in), re-parse anything, or check key/cert
//! matching (`load_cert` already refused mismatches).
use super::values::format_duration;
use super::{AccessLog, Config, ShardSpec};
use crate::log::{civil, unix_secs};
use crate::tls::LoadedCert;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

const DAY: u64 = 86_400;

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(t: SystemTime) -> String {
    let c = civil(unix_secs(t));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `Ok(())` when `not_before <= now < not_after`, else the reason.
pub(crate) fn validity(cert: &LoadedCert, now: SystemTime) -> Result<(), String> {
    if now < cert.not_before {
        return Err(format!(
            "not yet valid (valid from {})",
            format_utc(cert.not_before)
        ));
    }
    if now >= cert.not_after {
        return Err(format!("expired on {}", format_utc(cert.not_after)));
    }
    Ok(())
}

/// Whole days from `now` until `t` (0 when less than a day is left).
fn days_left(now: SystemTime, t: SystemTime) -> u64 {
    t.duration_since(now).unwrap_or(Duration::ZERO).as_secs() / DAY
}

/// The certificate checks of [`Config::check`]; `Err((index, reason))`.
pub(crate) fn check(cfg: &Config, now: SystemTime) -> Result<String, (usize, String)> {
    for (i, c) in cfg.certificates.iter().enumerate() {
        validity(c, now).map_err(|r| (i, r))?;
    }
    Ok(summary(cfg, now))
}

/// The multi-line human description of `cfg`.
pub(crate) fn summary(cfg: &Config, now: SystemTime) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail; the results are ignored with `let _`.
    for l in &cfg.listeners {
        let _ = writeln!(s, "listener     {} (backlog {})", l.address, l.backlog);
    }
    let shards = match &cfg.shards {
        ShardSpec::Auto { node: None } => "auto (all CPUs of the first CPU's NUMA node)".into(),
        ShardSpec::Auto { node: Some(n) } => format!("auto (all CPUs of NUMA node {n})"),
        ShardSpec::Cpus(c) => {
            let list: Vec<String> = c.iter().map(usize::to_string).collect();
            format!("CPUs {}", list.join(","))
        }
    };
    let rings = if cfg.cooperative_taskrun {
        ""
    } else {
        ", plain io_uring rings (cooperative_taskrun = false)"
    };
    let _ = writeln!(s, "shards       {shards}{rings}");
    for c in &cfg.certificates {
        let _ = writeln!(
            s,
            "certificate  {} ({}) names {}\n             serial {}, expires {} ({} days left)",
            c.path.display(),
            c.kind.as_str(),
            c.names.join(", "),
            c.serial,
            format_utc(c.not_after),
            days_left(now, c.not_after)
        );
    }
    if let Some(n) = &cfg.tls.default_name {
        let _ = writeln!(s, "default name {n}");
    }
    let up = &cfg.upstream;
    let backends: Vec<String> = up.backends.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        s,
        "upstream     {} (max {} idle connections per shard and backend{})",
        backends.join(", "),
        up.max_idle_per_shard,
        match up.balance {
            _ if up.backends.len() == 1 => "",
            super::Balance::RoundRobin => ", round-robin",
            super::Balance::LeastOutstanding => ", least-outstanding",
        }
    );
    if let Some(c) = &up.check {
        let _ = writeln!(
            s,
            "checks       GET {} Host {} every {}, timeout {}, rise {}, fall {}",
            c.path,
            c.host,
            format_duration(c.interval),
            format_duration(c.timeout),
            c.rise,
            c.fall
        );
    }
    if let Some(user) = &cfg.process.user {
        let _ = writeln!(
            s,
            "runs as      {user}{}",
            cfg.process
                .group
                .as_deref()
                .map(|g| format!(":{g}"))
                .unwrap_or_default()
        );
    }
    let t = &cfg.timeouts;
    let _ = writeln!(
        s,
        "timeouts     client {}, keepalive {}, header {}, handshake {}, server {}, connect {}, grace {}",
        format_duration(t.client),
        format_duration(t.keepalive),
        format_duration(t.header),
        format_duration(t.handshake),
        format_duration(t.server),
        format_duration(t.connect),
        format_duration(t.grace)
    );
    let l = &cfg.limits;
    let _ = writeln!(
        s,
        "limits       head {} B, URI {} B, {} headers, body {} B",
        l.max_head_bytes, l.max_uri_bytes, l.max_headers, l.max_body_bytes
    );
    let access = match &cfg.log.access {
        AccessLog::Off => "off".to_string(),
        AccessLog::Stdout => "stdout".to_string(),
        AccessLog::File(p) => p.display().to_string(),
    };
    let _ = writeln!(s, "access log   {access}");
    let admin = cfg.admin.map_or("off".to_string(), |a| a.to_string());
    let _ = write!(s, "admin        {admin}");
    s
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    fn civil_days(days: i64) -> (i64, u32, u32) {
        let c = crate::log::civil(days * 86_400);
        (c.year, c.month, c.day)
    }

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_days(0), (1970, 1, 1));
        assert_eq!(civil_days(-1), (1969, 12, 31));
        assert_eq!(civil_days(11_016), (2000, 2, 29));
        assert_eq!(civil_days(19_782), (2024, 2, 29));
        assert_eq!(civil_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn utc_format() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(at(1_700_000_000)), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(at(253_402_300_799)), "9999-12-31 23:59:59 UTC");
        assert_eq!(
            format_utc(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31 23:59:59 UTC"
        );
    }

    #[test]
    fn whole_days_left() {
        assert_eq!(days_left(at(0), at(DAY * 3 - 1)), 2);
        assert_eq!(days_left(at(DAY * 5), at(0)), 0);
    }
}
