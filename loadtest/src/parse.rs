//! Small value parsers for the command line: durations, CPU lists, targets, headers.
//!
//! Job: turn the user's spelling into typed values with error messages that quote the input.
//! Pure functions, no I/O, no name resolution: a target is an IP literal or `localhost`
//! (which means 127.0.0.1) so that no DNS query ever leaves the machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Why a value could not be parsed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("bad duration {0:?}: use a number with a unit, e.g. 10s, 500ms, 2m, 250us")]
    Duration(String),
    #[error("bad CPU list {0:?}: use e.g. 0 or 0,1 or 0-3")]
    CpuList(String),
    #[error("CPU {0} listed twice")]
    CpuTwice(usize),
    #[error("bad address {0:?}: use IP:PORT (e.g. 127.0.0.1:8443, [::1]:8443) or localhost:PORT")]
    Address(String),
    #[error("bad header {0:?}: use \"Name: value\"")]
    Header(String),
}

/// Parses `10s`, `1.5s`, `500ms`, `250us`, `2m`, `1h`; a bare number means seconds.
pub fn duration(text: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::Duration(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let secs = value * scale;
    if !(0.0..=1e9).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `0`, `0,2`, `0-3`, `0-1,4`: CPU numbers in the order given, no repeats.
pub fn cpu_list(text: &str) -> Result<Vec<usize>, ParseError> {
    let bad = || ParseError::CpuList(text.to_string());
    let mut out: Vec<usize> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| bad())?;
        let hi: usize = hi.parse().map_err(|_| bad())?;
        if hi < lo || hi - lo > 4096 {
            return Err(bad());
        }
        for cpu in lo..=hi {
            if out.contains(&cpu) {
                return Err(ParseError::CpuTwice(cpu));
            }
            out.push(cpu);
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Parses `IP:PORT`, `[v6]:PORT` or `localhost:PORT` (→ 127.0.0.1). Never resolves names.
pub fn address(text: &str) -> Result<SocketAddr, ParseError> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    match text.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => {
            let port: u16 = port
                .parse()
                .map_err(|_| ParseError::Address(text.to_string()))?;
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        }
        _ => Err(ParseError::Address(text.to_string())),
    }
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

/// Parses `Name: value` into a header line without CR/LF (so nothing can be smuggled in).
pub fn header(text: &str) -> Result<(String, String), ParseError> {
    let bad = || ParseError::Header(text.to_string());
    let (name, value) = text.split_once(':').ok_or_else(bad)?;
    let name = name.trim();
    let value = value.trim();
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(bad());
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(bad());
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "s", "10x", "-1s", "1.2.3s", "ten"] {
            assert_eq!(duration(bad), Err(ParseError::Duration(bad.to_string())));
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0"), Ok(vec![0]));
        assert_eq!(cpu_list("1,0"), Ok(vec![1, 0]));
        assert_eq!(cpu_list("0-3"), Ok(vec![0, 1, 2, 3]));
        assert_eq!(cpu_list("0-1, 4"), Ok(vec![0, 1, 4]));
        assert_eq!(cpu_list("0,0"), Err(ParseError::CpuTwice(0)));
        assert_eq!(cpu_list("0-2,1"), Err(ParseError::CpuTwice(1)));
        for bad in ["", "a", "3-1", "1,", "-1"] {
            assert_eq!(cpu_list(bad), Err(ParseError::CpuList(bad.to_string())));
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address("127.0.0.1:8443"),
            Ok("127.0.0.1:8443".parse().unwrap())
        );
        assert_eq!(address("[::1]:9"), Ok("[::1]:9".parse().unwrap()));
        assert_eq!(
            address("localhost:18443"),
            Ok("127.0.0.1:18443".parse().unwrap())
        );
        for bad in ["example.com:443", "127.0.0.1", "localhost:x", ":1"] {
            assert_eq!(address(bad), Err(ParseError::Address(bad.to_string())));
        }
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("127.9.8.7".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!is_loopback("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn headers() {
        assert_eq!(
            header("X-Test:  a b "),
            Ok(("X-Test".to_string(), "a b".to_string()))
        );
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\r\nEvil: 1"] {
            assert_eq!(header(bad), Err(ParseError::Header(bad.to_string())));
        }
    }
}
