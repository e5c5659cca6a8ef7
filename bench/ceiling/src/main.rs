//! `ceiling`: the rustls+ring in-memory ceiling on this machine.
//!
//! Job: measure what the TLS library tlsterm is built on spends on the server side for one full
//! handshake (ECDSA P-256 and RSA-2048, TLS 1.3 and 1.2), one resumption (TLS 1.3 ticket, TLS 1.2
//! ticket) and one MB (10^6 bytes) of AES-128-GCM application data, with client and server in one
//! process and no sockets ([`pair`]). bench/compare.sh divides tlsterm's server-core µs per
//! operation by these figures: how far the terminator sits above the library's own limit.
//!
//! ```text
//! ceiling [--ecdsa CHAIN_KEY.pem] [--rsa CHAIN_KEY.pem] [--runs N] [--seconds S] [--json]
//! ```
//!
//! Each PEM holds the certificate chain (leaf first) and the private key, as the servers under
//! comparison load them. Without `--ecdsa` a self-signed P-256 certificate is made with rcgen;
//! without `--rsa` the RSA rows are absent. Every measurement runs `--runs` times (default 5),
//! interleaved, each for at least `--seconds` (default 1) of wall time; the median is reported
//! with the smallest and largest run. Pin it to the server's core (`taskset -c 1`).
//!
//! The figure is CPU time, not wall time: the thread's on-CPU time over a run
//! (`/proc/thread-self/schedstat`) apportioned by the server calls' share of the run's wall time
//! ([`pair::per_op`]), so a busy machine that preempts the benchmark does not inflate it. The
//! plain wall-time median is reported next to it (`wall_median`).
//!
//! What it does not do: count the kernel, HTTP, or the client; it is a floor, not a forecast.
//! Output: a table on stdout, or with `--json` one JSON object on stdout.

mod pair;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pair::{Error, Version};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Command-line choices.
struct Args {
    ecdsa: Option<String>,
    rsa: Option<String>,
    runs: usize,
    seconds: f64,
    json: bool,
}

const USAGE: &str = "usage: ceiling [--ecdsa CHAIN_KEY.pem] [--rsa CHAIN_KEY.pem] \
[--runs N] [--seconds S] [--json]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        ecdsa: None,
        rsa: None,
        runs: 5,
        seconds: 1.0,
        json: false,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--ecdsa" => a.ecdsa = Some(value()?),
            "--rsa" => a.rsa = Some(value()?),
            "--runs" => {
                a.runs = value()?
                    .parse()
                    .map_err(|_| "--runs: not a count".to_string())?;
            }
            "--seconds" => {
                a.seconds = value()?
                    .parse()
                    .map_err(|_| "--seconds: not a number".to_string())?;
            }
            "--json" => a.json = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.runs == 0 || !(a.seconds > 0.0 && a.seconds <= 60.0) {
        return Err("--runs must be at least 1 and --seconds in (0, 60]".into());
    }
    Ok(a)
}

/// Chain and key from one PEM file.
fn load(path: &str) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(format!("{path}: no certificate").into());
    }
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("{path}: key: {e}"))?;
    Ok((chain, key))
}

fn self_signed_ecdsa() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
    Ok((vec![c.cert.der().clone()], key))
}

/// One measured figure: its name, unit and the per-run values.
struct Row {
    name: &'static str,
    unit: &'static str,
    what: &'static str,
    runs: Vec<f64>,
    /// The same runs in wall time inside the server calls (preemption included).
    wall: Vec<f64>,
}

/// A measurement: the server's cost per operation for one run of `budget`.
type Measure = Box<dyn FnMut(Duration) -> Result<pair::Cost, Error>>;

fn handshake_rows(
    key: &'static str,
    server: &Arc<rustls::ServerConfig>,
    rows: &mut Vec<(Row, Measure)>,
) -> Result<(), Error> {
    for (v, vname) in [(Version::Tls13, "tls13"), (Version::Tls12, "tls12")] {
        let client = pair::client_config(v, false)?;
        let s = Arc::clone(server);
        let name: &'static str = match (key, vname) {
            ("ecdsa", "tls13") => "ecdsa_tls13_full",
            ("ecdsa", _) => "ecdsa_tls12_full",
            (_, "tls13") => "rsa_tls13_full",
            _ => "rsa_tls12_full",
        };
        let what = match v {
            Version::Tls13 => "full handshake, TLS 1.3, X25519",
            Version::Tls12 => "full handshake, TLS 1.2, ECDHE X25519",
        };
        let m: Measure =
            Box::new(move |b| pair::per_op(b, 20, || pair::full_handshake(&s, &client)));
        rows.push((
            Row {
                name,
                unit: "us/handshake",
                what,
                runs: vec![],
                wall: vec![],
            },
            m,
        ));
    }
    Ok(())
}

fn build(args: &Args) -> Result<Vec<(Row, Measure)>, Error> {
    let (chain, key) = match &args.ecdsa {
        Some(p) => load(p)?,
        None => self_signed_ecdsa()?,
    };
    let ecdsa = pair::server_config(chain, key)?;
    let mut rows: Vec<(Row, Measure)> = Vec::new();
    handshake_rows("ecdsa", &ecdsa, &mut rows)?;
    if let Some(p) = &args.rsa {
        let (chain, key) = load(p)?;
        handshake_rows("rsa", &pair::server_config(chain, key)?, &mut rows)?;
    }
    for (v, name, what) in [
        (
            Version::Tls13,
            "ecdsa_tls13_resume",
            "resumption, TLS 1.3 ticket (psk_dhe_ke, X25519)",
        ),
        (
            Version::Tls12,
            "ecdsa_tls12_resume",
            "resumption, TLS 1.2 ticket",
        ),
    ] {
        let client = pair::client_config(v, true)?;
        pair::full_handshake(&ecdsa, &client)?; // leaves a session to resume
        let s = Arc::clone(&ecdsa);
        let m: Measure =
            Box::new(move |b| pair::per_op(b, 20, || pair::resumed_handshake(&s, &client)));
        rows.push((
            Row {
                name,
                unit: "us/handshake",
                what,
                runs: vec![],
                wall: vec![],
            },
            m,
        ));
    }
    let client = pair::client_config(Version::Tls13, false)?;
    let mut conn = pair::Pair::connect(&ecdsa, &client)?;
    if conn.suite() != Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256) {
        return Err(format!("bulk: negotiated {:?}, not AES-128-GCM", conn.suite()).into());
    }
    let data: Vec<u8> = (0..pair::BULK_BYTES).map(|i| (i % 251) as u8).collect();
    let mb = pair::BULK_BYTES as f64 / 1e6;
    let m: Measure = Box::new(move |b| {
        let c = pair::per_op(b, 4, || conn.send_bulk(&data))?;
        Ok(pair::Cost {
            wall_us: c.wall_us / mb,
            cpu_us: c.cpu_us / mb,
        })
    });
    rows.push((
        Row {
            name: "aes128gcm_bulk",
            unit: "us/MB",
            what: "TLS 1.3 AES-128-GCM, server encrypts 1 MiB (16 KiB records), per 10^6 bytes",
            runs: vec![],
            wall: vec![],
        },
        m,
    ));
    Ok(rows)
}

/// Median (mean of the middle two for an even count); `values` must not be empty.
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn render_json(args: &Args, rows: &[Row]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"tool\":\"ceiling\",\"library\":\"rustls 0.23 + ring\",\"runs\":{},\"seconds_per_run\":{},\"results\":{{",
        args.runs, args.seconds
    );
    for (i, r) in rows.iter().enumerate() {
        let (lo, hi) = min_max(&r.runs);
        let runs: Vec<String> = r.runs.iter().map(|x| format!("{x:.3}")).collect();
        let _ = write!(
            o,
            "{}\"{}\":{{\"unit\":\"{}\",\"what\":\"{}\",\"median\":{:.3},\"min\":{lo:.3},\"max\":{hi:.3},\"wall_median\":{},\"runs\":[{}]}}",
            if i == 0 { "" } else { "," },
            r.name,
            r.unit,
            r.what,
            median(&r.runs),
            if r.wall.is_empty() {
                "null".to_string()
            } else {
                format!("{:.3}", median(&r.wall))
            },
            runs.join(",")
        );
    }
    o.push_str("}}");
    o
}

fn render_table(args: &Args, rows: &[Row]) -> String {
    let mut o = format!(
        "rustls+ring in-memory ceiling, server side only ({} runs x {} s): CPU µs median [min-max], wall median\n",
        args.runs, args.seconds
    );
    for r in rows {
        let (lo, hi) = min_max(&r.runs);
        let _ = writeln!(
            o,
            "  {:<20} {:>10.2} {:<13} [{lo:.2}-{hi:.2}] {:>10.2}  {}",
            r.name,
            median(&r.runs),
            r.unit,
            median(&r.wall),
            r.what
        );
    }
    o
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(64);
        }
    };
    let mut rows = match build(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceiling: {e}");
            return ExitCode::FAILURE;
        }
    };
    let budget = Duration::from_secs_f64(args.seconds);
    for _ in 0..args.runs {
        for (row, measure) in rows.iter_mut() {
            match measure(budget) {
                Ok(c) => {
                    row.runs.push(c.cpu_us);
                    row.wall.push(c.wall_us);
                }
                Err(e) => {
                    eprintln!("ceiling: {}: {e}", row.name);
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let rows: Vec<Row> = rows.into_iter().map(|(r, _)| r).collect();
    if args.json {
        println!("{}", render_json(&args, &rows));
    } else {
        print!("{}", render_table(&args, &rows));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(min_max(&[4.0, 1.0, 3.0]), (1.0, 4.0));
    }

    #[test]
    fn arguments_are_checked() {
        let a = args(&["--runs", "3", "--seconds", "0.5", "--json"]).unwrap();
        assert_eq!((a.runs, a.seconds, a.json), (3, 0.5, true));
        assert!(args(&["--runs", "0"]).is_err());
        assert!(args(&["--seconds", "-1"]).is_err());
        assert!(args(&["--rsa"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }

    #[test]
    fn json_has_every_row() {
        let a = args(&["--runs", "2"]).unwrap();
        let rows = vec![Row {
            name: "x",
            unit: "us/handshake",
            what: "w",
            runs: vec![1.0, 3.0],
            wall: vec![],
        }];
        assert_eq!(
            render_json(&a, &rows),
            "{\"tool\":\"ceiling\",\"library\":\"rustls 0.23 + ring\",\"runs\":2,\"seconds_per_run\":1,\"results\":{\"x\":{\"unit\":\"us/handshake\",\"what\":\"w\",\"median\":2.000,\"min\":1.000,\"max\":3.000,\"wall_median\":null,\"runs\":[1.000,3.000]}}}"
        );
    }
}
