//! Tests of argument validation: what is refused, and the defaults of what is accepted.

use super::*;
use crate::cli::Cli;
use clap::Parser;

fn args(extra: &[&str]) -> LoadArgs {
    let mut argv = vec!["loadtest"];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap().load
}

fn plan(extra: &[&str]) -> Result<Plan, PlanError> {
    Plan::from_args(&args(extra))
}

const OK: &[&str] = &["--target", "127.0.0.1:8443", "--insecure-skip-verify"];

fn with(extra: &[&str]) -> Result<Plan, PlanError> {
    let mut v = OK.to_vec();
    v.extend_from_slice(extra);
    plan(&v)
}

#[test]
fn defaults() {
    let p = with(&[]).unwrap();
    assert_eq!(p.scenario, Scenario::Keepalive);
    assert_eq!(p.target, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(p.cpus, vec![0]);
    assert_eq!(p.connections.get(), 16);
    assert_eq!(p.pipeline.get(), 1);
    assert_eq!(p.pacing, Pacing::Closed);
    assert_eq!(p.duration, Some(Duration::from_secs(10)));
    assert_eq!(p.requests, None);
    assert_eq!(p.warmup, Duration::ZERO);
    assert_eq!(p.timeout, Duration::from_secs(5));
    assert_eq!(p.request.path, "/");
    assert_eq!(p.request.host, "127.0.0.1:8443");
    assert!(p.request.send);
    assert_eq!(p.tls.verify, Verify::Skip);
    assert_eq!(p.tls.sni, None);
    assert_eq!(p.tls.versions, TlsVersions::Both);
    assert_eq!(p.tls.alpn, vec![b"http/1.1".to_vec()]);
    assert_eq!(p.max_errors, 0);
    assert_eq!(p.server_cores.get(), 1);
    assert!(p.server_cpus.is_empty());
    assert_eq!(with(&["--server-cpus", "1"]).unwrap().server_cpus, vec![1]);
}

#[test]
fn remote_target_refused_without_allow_remote() {
    let e = plan(&["--target", "10.1.2.3:443", "--insecure-skip-verify"]).unwrap_err();
    assert_eq!(e, PlanError::RemoteTarget("10.1.2.3:443".parse().unwrap()));
    let e = plan(&["--target", "[2001:db8::1]:443", "--insecure-skip-verify"]).unwrap_err();
    assert_eq!(
        e,
        PlanError::RemoteTarget("[2001:db8::1]:443".parse().unwrap())
    );
    let p = plan(&[
        "--target",
        "10.1.2.3:443",
        "--insecure-skip-verify",
        "--allow-remote",
    ])
    .unwrap();
    assert_eq!(p.target, "10.1.2.3:443".parse().unwrap());
}

#[test]
fn names_are_not_resolved() {
    let e = plan(&["--target", "example.com:443", "--insecure-skip-verify"]).unwrap_err();
    assert_eq!(
        e,
        PlanError::Parse(ParseError::Address("example.com:443".into()))
    );
    let p = plan(&["--target", "localhost:9", "--insecure-skip-verify"]).unwrap();
    assert_eq!(p.target, "127.0.0.1:9".parse().unwrap());
}

#[test]
fn zero_values_refused() {
    assert_eq!(
        with(&["--duration", "0s"]),
        Err(PlanError::Zero("duration"))
    );
    assert_eq!(with(&["--duration", "0"]), Err(PlanError::Zero("duration")));
    assert_eq!(with(&["--requests", "0"]), Err(PlanError::Zero("requests")));
    assert_eq!(
        with(&["--connections", "0"]),
        Err(PlanError::Zero("connections"))
    );
    assert_eq!(with(&["--pipeline", "0"]), Err(PlanError::Zero("pipeline")));
    assert_eq!(with(&["--timeout", "0ms"]), Err(PlanError::Zero("timeout")));
    assert_eq!(with(&["--rate", "0"]), Err(PlanError::BadRate(0.0)));
    assert_eq!(with(&["--rate=-5"]), Err(PlanError::BadRate(-5.0)));
    assert!(matches!(with(&["--rate", "NaN"]), Err(PlanError::BadRate(r)) if r.is_nan()));
    // A zero warm-up is fine.
    assert_eq!(with(&["--warmup", "0s"]).unwrap().warmup, Duration::ZERO);
}

#[test]
fn bounds() {
    let p = with(&["--requests", "1000"]).unwrap();
    assert_eq!(p.duration, None);
    assert_eq!(p.requests, NonZeroU64::new(1000));
    let p = with(&["--requests", "1000", "--duration", "2s"]).unwrap();
    assert_eq!(p.duration, Some(Duration::from_secs(2)));
    let p = with(&["--duration", "1500ms", "--warmup", "1s"]).unwrap();
    assert_eq!(p.duration, Some(Duration::from_millis(1500)));
    assert_eq!(p.warmup, Duration::from_secs(1));
}

#[test]
fn verification_choice_required_and_exclusive() {
    assert_eq!(
        plan(&["--target", "127.0.0.1:1"]),
        Err(PlanError::NoVerifyChoice)
    );
    assert_eq!(
        with(&["--cacert", "/tmp/ca.pem"]),
        Err(PlanError::BothVerifyChoices)
    );
    let p = plan(&["--target", "127.0.0.1:1", "--cacert", "/tmp/ca.pem"]).unwrap();
    assert_eq!(p.tls.verify, Verify::CaFile("/tmp/ca.pem".into()));
}

#[test]
fn h2_defaults_and_refusals() {
    let p = with(&["--scenario", "h2"]).unwrap();
    assert_eq!(p.scenario, Scenario::H2);
    assert_eq!(p.pipeline.get(), 10);
    assert_eq!(p.tls.alpn, vec![b"h2".to_vec()]);
    let head = p.h2.as_ref().unwrap().request();
    assert_eq!(head.uri().to_string(), "https://127.0.0.1:8443/");
    let p = with(&[
        "--scenario",
        "h2",
        "--streams",
        "3",
        "--alpn",
        "h2,http/1.1",
    ])
    .unwrap();
    assert_eq!(p.pipeline.get(), 3);
    assert_eq!(p.tls.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(with(&["--scenario", "keepalive"]).unwrap().h2, None);
    assert_eq!(
        with(&["--scenario", "h2", "--streams", "0"]),
        Err(PlanError::Zero("streams"))
    );
    assert_eq!(
        with(&["--scenario", "h2", "--alpn", "http/1.1"]),
        Err(PlanError::H2Alpn)
    );
    assert_eq!(
        with(&["--scenario", "h2", "--pipeline", "2"]),
        Err(PlanError::NotFor {
            flag: "pipeline",
            scenario: "h2"
        })
    );
    assert_eq!(
        with(&["--streams", "4"]),
        Err(PlanError::NotFor {
            flag: "streams",
            scenario: "keepalive"
        })
    );
    assert_eq!(
        with(&["--scenario", "h2", "--header", "Connection: close"]),
        Err(PlanError::H2Request(HeadError::ConnectionSpecific(
            "Connection".into()
        )))
    );
}

#[test]
fn scenario_specific_flags() {
    assert_eq!(
        with(&["--scenario", "handshake", "--pipeline", "4"]),
        Err(PlanError::NotFor {
            flag: "pipeline",
            scenario: "handshake"
        })
    );
    assert_eq!(
        with(&["--scenario", "keepalive", "--no-request"]),
        Err(PlanError::NotFor {
            flag: "no-request",
            scenario: "keepalive"
        })
    );
    assert_eq!(
        with(&["--scenario", "idle", "--rate", "10"]),
        Err(PlanError::NotFor {
            flag: "rate",
            scenario: "idle"
        })
    );
    assert_eq!(
        with(&["--scenario", "idle", "--warmup", "1s"]),
        Err(PlanError::NotFor {
            flag: "warmup",
            scenario: "idle"
        })
    );
    let p = with(&["--scenario", "handshake", "--no-request", "--tls", "1.2"]).unwrap();
    assert!(!p.request.send);
    assert_eq!(p.tls.versions, TlsVersions::Only12);
    let p = with(&["--scenario", "bulk", "--pipeline", "2"]).unwrap();
    assert_eq!(p.request.path, "/bytes/1048576");
    assert_eq!(p.pipeline.get(), 2);
}

#[test]
fn request_and_tls_details() {
    let p = with(&[
        "--sni",
        "localhost",
        "--alpn",
        "h2, http/1.1",
        "--header",
        "X-A: 1",
        "--path",
        "/bytes/100",
    ])
    .unwrap();
    assert_eq!(p.request.host, "localhost");
    assert_eq!(p.tls.sni.as_deref(), Some("localhost"));
    assert_eq!(p.tls.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(p.request.headers, vec![("X-A".into(), "1".into())]);
    assert_eq!(p.request.path, "/bytes/100");
    assert!(with(&["--alpn", "none"]).unwrap().tls.alpn.is_empty());
    assert_eq!(with(&["--alpn", "h2,"]), Err(PlanError::Alpn("h2,".into())));
    assert_eq!(with(&["--path", "nope"]), Err(PlanError::Path));
    assert_eq!(with(&["--path", "/a b"]), Err(PlanError::Path));
    assert_eq!(
        with(&["--host", "a\tb"]),
        Err(PlanError::Name("a\tb".into()))
    );
}

#[test]
fn work_is_split_over_shards() {
    let p = with(&[
        "--cpus",
        "0,1,2",
        "--connections",
        "10",
        "--requests",
        "11",
        "--rate",
        "1000",
    ])
    .unwrap();
    let conns: Vec<usize> = (0..3).map(|k| p.connections_of(k)).collect();
    assert_eq!(conns, vec![4, 3, 3]);
    let reqs: Vec<Option<u64>> = (0..3).map(|k| p.requests_of(k)).collect();
    assert_eq!(reqs, vec![Some(4), Some(4), Some(3)]);
    assert_eq!(p.pacing_of(0), Pacing::Open { rate: 400.0 });
    assert_eq!(p.pacing_of(2), Pacing::Open { rate: 300.0 });
    assert_eq!(
        with(&["--cpus", "0,1", "--connections", "1"]),
        Err(PlanError::FewerConnectionsThanCpus {
            connections: 1,
            cpus: 2
        })
    );
}

#[test]
fn a_repeated_flag_takes_the_last_value() {
    let p = with(&[
        "--warmup",
        "2s",
        "--warmup",
        "0s",
        "--duration",
        "1s",
        "--duration",
        "3s",
    ])
    .unwrap();
    assert_eq!(p.warmup, Duration::ZERO);
    assert_eq!(p.duration, Some(Duration::from_secs(3)));
    // Repeatable flags still accumulate.
    let p = with(&[
        "--server-pid",
        "1",
        "--server-pid",
        "2",
        "--header",
        "A: 1",
        "--header",
        "B: 2",
    ])
    .unwrap();
    assert_eq!(p.server_pids, vec![1, 2]);
    assert_eq!(p.request.headers.len(), 2);
}
