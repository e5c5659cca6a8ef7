//! Pure parsers for the values of the configuration: durations, upstream addresses, socket
//! addresses and shard CPU specs.
//!
//! Job: one string in, one typed value or a human reason out. The reasons say what was
//! expected, with an example, because an operator reads them at 3 a.m.
//!
//! Does not: know which key a value came from (the caller adds it), touch the filesystem
//! (relative paths are only joined to a base directory), or check CPUs against /sys
//! (`topology` does that when shards start).
use super::{ShardSpec, UpstreamAddr};
use crate::topology::parse_cpu_list;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses `"120s"`, `"500ms"`, `"3m"`, `"1h"`, `"2.5s"`. A unit is required; decimals are
/// exact to the nanosecond (digits beyond that are dropped).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    if num.is_empty() {
        return Err(format!(
            "\"{s}\" is not a duration; write a number and a unit, e.g. \"10s\" or \"500ms\""
        ));
    }
    let unit_ns: u128 = match unit {
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        "" => {
            return Err(format!(
                "\"{s}\" needs a unit: ms, s, m or h (e.g. \"{num}s\")"
            ))
        }
        other => {
            return Err(format!(
                "\"{s}\": unknown unit \"{other}\" (use ms, s, m or h)"
            ))
        }
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(format!("\"{s}\": \"{num}\" is not a number"));
    }
    let too_long = || format!("\"{s}\" is too long");
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| too_long())?
    };
    let frac = &frac[..frac.len().min(9)];
    let frac_ns = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().map_err(|_| too_long())?;
        digits * unit_ns / 10u128.pow(frac.len() as u32)
    };
    let total = int
        .checked_mul(unit_ns)
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(too_long)?;
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_long())?;
    // The remainder of a division by 1e9 always fits in u32.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way the file writes it: "180s", "500ms", "2.5s".
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_nanos() % 1_000_000 == 0 && d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// `"unix:/path"` (relative paths joined to `base`) or an IP socket address.
pub fn parse_upstream(s: &str, base: &Path) -> Result<UpstreamAddr, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("\"unix:\" needs a socket path, e.g. unix:/run/varnish.socket".into());
        }
        return Ok(UpstreamAddr::Unix(base.join(path)));
    }
    s.parse::<SocketAddr>().map(UpstreamAddr::Tcp).map_err(|_| {
        format!(
            "\"{s}\" is neither unix:/path/to/socket nor an IP address with port \
             (127.0.0.1:6081 or [::1]:6081)"
        )
    })
}

/// An IP address with port: `"0.0.0.0:443"`, `"[::]:443"`. Host names are refused.
pub fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("\"{s}\" is not an IP address with port (e.g. 0.0.0.0:443 or [::]:443)")
    })
}

/// `"auto"`, `"auto:N"` (NUMA node N) or a CPU list `"0,1"`, `"0-3"`.
pub fn parse_shard_spec(s: &str) -> Result<ShardSpec, String> {
    let t = s.trim();
    if t == "auto" {
        return Ok(ShardSpec::Auto { node: None });
    }
    if let Some(node) = t.strip_prefix("auto:") {
        return node
            .trim()
            .parse()
            .map(|n| ShardSpec::Auto { node: Some(n) })
            .map_err(|_| format!("\"{s}\": after auto: comes a NUMA node number, e.g. auto:0"));
    }
    let mut cpus = Vec::new();
    for item in t.split(',') {
        let part = parse_cpu_list(item).map_err(|e| {
            format!("\"{s}\": {e}; expected \"auto\", \"auto:NODE\" or a list like \"0-3,5\"")
        })?;
        if part.is_empty() {
            return Err(format!(
                "\"{s}\" has an empty item; expected \"auto\", \"auto:NODE\" or a list like \"0-3,5\""
            ));
        }
        cpus.extend(part);
    }
    cpus_spec(cpus)
}

/// A CPU list from the TOML array form; refuses an empty list and duplicates.
pub fn cpus_spec(cpus: Vec<usize>) -> Result<ShardSpec, String> {
    if cpus.is_empty() {
        return Err("the CPU list is empty".into());
    }
    for (i, c) in cpus.iter().enumerate() {
        if cpus[..i].contains(c) {
            return Err(format!("CPU {c} is listed twice"));
        }
    }
    Ok(ShardSpec::Cpus(cpus))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn durations() {
        let ok = [
            ("120s", Duration::from_secs(120)),
            ("500ms", Duration::from_millis(500)),
            ("3m", Duration::from_secs(180)),
            ("1h", Duration::from_secs(3600)),
            ("2.5s", Duration::from_millis(2500)),
            (" 10 s ", Duration::from_secs(10)),
            (".5s", Duration::from_millis(500)),
            ("0.1ms", Duration::from_micros(100)),
            ("1.5h", Duration::from_secs(5400)),
            ("0s", Duration::ZERO),
            ("1.0000000001s", Duration::from_secs(1)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
    }

    #[test]
    fn duration_errors() {
        let bad = [
            ("10", "needs a unit"),
            ("10x", "unknown unit \"x\""),
            ("s", "not a duration"),
            ("", "not a duration"),
            ("-1s", "not a duration"),
            ("1.2.3s", "is not a number"),
            (".s", "is not a number"),
            ("99999999999999999999999999999h", "too long"),
            ("10sec", "unknown unit"),
        ];
        for (s, part) in bad {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains(part), "{s}: {e}");
        }
    }

    #[test]
    fn odd_input_is_refused_not_panicked_on() {
        for s in ["1é", "١s", "1.éms", "é", "1.99999999999999999999s", "\u{0}"] {
            let _ = parse_duration(s);
            let _ = parse_shard_spec(s);
            let _ = parse_upstream(s, Path::new(""));
        }
        assert!(parse_duration("1é")
            .unwrap_err()
            .contains("unknown unit \"é\""));
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::from_secs(180)), "180s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
    }

    #[test]
    fn upstreams() {
        let base = Path::new("/etc/tlsterm");
        assert_eq!(
            parse_upstream("unix:/run/v.sock", base),
            Ok(UpstreamAddr::Unix(PathBuf::from("/run/v.sock")))
        );
        assert_eq!(
            parse_upstream("unix:run/v.sock", base),
            Ok(UpstreamAddr::Unix(PathBuf::from("/etc/tlsterm/run/v.sock")))
        );
        assert_eq!(
            parse_upstream("[::1]:6081", base),
            Ok(UpstreamAddr::Tcp("[::1]:6081".parse().unwrap()))
        );
        let e = parse_upstream("localhost:6081", base).unwrap_err();
        assert!(
            e.contains("unix:/path/to/socket") && e.contains("127.0.0.1:6081"),
            "{e}"
        );
        assert!(parse_upstream("unix:", base)
            .unwrap_err()
            .contains("needs a socket path"));
    }

    #[test]
    fn socket_addrs() {
        assert_eq!(
            parse_socket_addr("[::]:443"),
            Ok("[::]:443".parse().unwrap())
        );
        assert!(parse_socket_addr("0.0.0.0")
            .unwrap_err()
            .contains("with port"));
    }

    #[test]
    fn shard_specs() {
        assert_eq!(parse_shard_spec("auto"), Ok(ShardSpec::Auto { node: None }));
        assert_eq!(
            parse_shard_spec("auto:1"),
            Ok(ShardSpec::Auto { node: Some(1) })
        );
        assert_eq!(
            parse_shard_spec("0-3"),
            Ok(ShardSpec::Cpus(vec![0, 1, 2, 3]))
        );
        assert_eq!(parse_shard_spec("5,1"), Ok(ShardSpec::Cpus(vec![5, 1])));
        assert!(parse_shard_spec("auto:x")
            .unwrap_err()
            .contains("NUMA node number"));
        assert!(parse_shard_spec("0-3,2")
            .unwrap_err()
            .contains("CPU 2 is listed twice"));
        assert!(parse_shard_spec("").unwrap_err().contains("empty item"));
        assert!(parse_shard_spec("3-1").unwrap_err().contains("backwards"));
        assert!(parse_shard_spec("all")
            .unwrap_err()
            .contains("\"auto:NODE\""));
        assert!(cpus_spec(vec![]).unwrap_err().contains("empty"));
    }
}
