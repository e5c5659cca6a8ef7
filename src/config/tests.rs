//! Tests of [`Config::from_file`], [`Config::quick`] and [`Config::check`] against real
//! files: rcgen certificates written into a unique temporary directory per test.
use super::testutil::{cert_pems, TempDir};
use super::*;
use std::time::UNIX_EPOCH;

/// A minimal valid file for a certificate at `certs/a.pem` (combined chain + key).
const MINIMAL: &str = r#"
[[listener]]
address = "127.0.0.1:8443"

[[certificate]]
pem = "certs/a.pem"

[upstream]
address = "unix:/run/varnish.socket"
"#;

fn year(y: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs((y - 1970) * 31_556_952)
}

/// A directory with `certs/a.pem` (names a.example, *.a.example) and `tlsterm.toml`.
fn setup(tag: &str, toml: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(tag);
    dir.cert(&["a.example", "*.a.example"], "certs/a.pem", None);
    let path = dir.write("tlsterm.toml", toml);
    (dir, path)
}

fn err_of(tag: &str, toml: &str) -> ConfigError {
    let (_dir, path) = setup(tag, toml);
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    e
}

#[test]
fn full_config_every_key() {
    let dir = TempDir::new("full");
    dir.cert(&["a.example"], "etc/certs/a.pem", Some("etc/certs/a.key"));
    dir.cert(&["b.example", "*.b.example"], "etc/certs/b.pem", None);
    let path = dir.write(
        "etc/tlsterm.toml",
        r#"
[[listener]]
address = "0.0.0.0:443"
backlog = 1024

[[listener]]
address = "[::]:443"

[shards]
cpus = [0, 1]

[[certificate]]
pem = "certs/a.pem"
key = "certs/a.key"

[[certificate]]
pem = "certs/b.pem"

[tls]
default_name = "*.B.example"

[upstream]
address = "unix:run/varnish-frontend-0.socket"
max_idle_per_shard = 64

[timeouts]
client = "60s"
keepalive = "2m"
header = "5s"
handshake = "2.5s"
server = "1h"
connect = "500ms"
grace = "0s"

[limits]
max_head_bytes = 32768
max_uri_bytes = 4096
max_headers = 50
max_body_bytes = 0

[log]
access = "log/access.log"

[admin]
address = "127.0.0.1:9422"
"#,
    );
    let c = Config::from_file(&path).unwrap();
    let etc = dir.path().join("etc");
    assert_eq!(
        c.listeners,
        vec![
            ListenerConfig {
                address: "0.0.0.0:443".parse().unwrap(),
                backlog: NonZeroU32::new(1024).unwrap(),
                maxconn: 100_000,
            },
            ListenerConfig {
                address: "[::]:443".parse().unwrap(),
                backlog: NonZeroU32::new(4096).unwrap(),
                maxconn: 100_000,
            },
        ]
    );
    assert_eq!(c.shards, ShardSpec::Cpus(vec![0, 1]));
    assert_eq!(c.certificates.len(), 2);
    assert_eq!(c.certificates[0].path, etc.join("certs/a.pem"));
    assert_eq!(c.certificates[0].names, vec!["a.example"]);
    assert_eq!(c.certificates[1].path, etc.join("certs/b.pem"));
    assert_eq!(c.certificates[1].names, vec!["b.example", "*.b.example"]);
    assert_eq!(c.tls.default_name.as_deref(), Some("*.b.example"));
    assert_eq!(
        c.upstream,
        UpstreamConfig {
            max_idle_per_shard: 64,
            ..super::upstream::single(UpstreamAddr::Unix(
                etc.join("run/varnish-frontend-0.socket")
            ))
        }
    );
    assert_eq!(
        c.timeouts,
        Timeouts {
            client: Duration::from_secs(60),
            keepalive: Duration::from_secs(120),
            header: Duration::from_secs(5),
            handshake: Duration::from_millis(2500),
            server: Duration::from_secs(3600),
            connect: Duration::from_millis(500),
            grace: Duration::ZERO,
            queue: Duration::from_secs(3),
        }
    );
    assert_eq!(
        c.limits,
        Limits {
            max_head_bytes: 32768,
            max_uri_bytes: 4096,
            max_headers: 50,
            max_body_bytes: 0,
        }
    );
    assert_eq!(c.log.access, AccessLog::File(etc.join("log/access.log")));
    assert_eq!(c.admin, Some("127.0.0.1:9422".parse().unwrap()));
}

#[test]
fn defaults_when_optional_sections_absent() {
    let (dir, path) = setup("defaults", MINIMAL);
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].backlog.get(), 4096);
    assert_eq!(c.shards, ShardSpec::Auto { node: None });
    assert_eq!(c.certificates[0].path, dir.path().join("certs/a.pem"));
    assert_eq!(c.tls.default_name, None);
    assert_eq!(
        c.upstream.backends[0],
        UpstreamAddr::Unix("/run/varnish.socket".into())
    );
    assert_eq!(c.upstream.max_idle_per_shard, 1024);
    assert_eq!(c.timeouts, Timeouts::default());
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.log.access, AccessLog::Stdout);
    assert_eq!(c.admin, Some("127.0.0.1:9422".parse().unwrap()));
    let (_d, path) = setup(
        "admin-off",
        &format!("{MINIMAL}\n[admin]\naddress = \"off\"\n"),
    );
    assert_eq!(Config::from_file(&path).unwrap().admin, None);
}

#[test]
fn shard_spec_forms() {
    for (cpus, want) in [
        ("\"auto\"", ShardSpec::Auto { node: None }),
        ("\"auto:1\"", ShardSpec::Auto { node: Some(1) }),
        ("\"0-3\"", ShardSpec::Cpus(vec![0, 1, 2, 3])),
        ("\"0,2\"", ShardSpec::Cpus(vec![0, 2])),
        ("[3, 1]", ShardSpec::Cpus(vec![3, 1])),
    ] {
        let (_d, path) = setup("shards", &format!("{MINIMAL}\n[shards]\ncpus = {cpus}\n"));
        assert_eq!(Config::from_file(&path).unwrap().shards, want, "{cpus}");
    }
    for (cpus, part) in [
        ("[1, 1]", "CPU 1 is listed twice"),
        ("[-1]", "-1 is not a CPU number"),
        ("[]", "empty"),
        ("\"most\"", "expected \"auto\""),
        ("3", "not a CPU spec"),
    ] {
        let e = err_of(
            "shards-bad",
            &format!("{MINIMAL}\n[shards]\ncpus = {cpus}\n"),
        );
        assert_eq!(e.key, "shards.cpus", "{cpus}");
        assert!(e.reason.contains(part), "{cpus}: {e}");
    }
}

#[test]
fn other_values() {
    let tcp = MINIMAL.replace("unix:/run/varnish.socket", "[::1]:6081");
    let (_d, path) = setup("tcp", &format!("{tcp}\n[log]\naccess = \"off\"\n"));
    let c = Config::from_file(&path).unwrap();
    assert_eq!(
        c.upstream.backends[0],
        UpstreamAddr::Tcp("[::1]:6081".parse().unwrap())
    );
    assert_eq!(c.log.access, AccessLog::Off);
    // An absolute certificate path stays as written.
    let other = TempDir::new("abs-cert");
    let abs = other.cert(&["abs.example"], "x.pem", None);
    let toml = MINIMAL.replace("certs/a.pem", abs.to_str().unwrap());
    let (_d, path) = setup("abs", &toml);
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.certificates[0].path, abs);
}

#[test]
fn missing_config_file() {
    let dir = TempDir::new("nofile");
    let path = dir.path().join("absent.toml");
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.key, "(file)");
    assert!(e.reason.contains("No such file"), "{e}");
}

#[test]
fn toml_syntax_error() {
    let e = err_of(
        "syntax",
        "[[listener]]\naddress = \"0.0.0.0:443\nbacklog = 1\n",
    );
    assert!(e.reason.starts_with("line 2, column"), "{e}");
    let e = err_of("syntax2", "[[listener]\n");
    assert!(e.reason.starts_with("line 1, column"), "{e}");
}

#[test]
fn unknown_keys() {
    let e = err_of("unknown-top", &format!("bogus = 1\n{MINIMAL}"));
    assert_eq!(e.key, "bogus");
    assert!(e.reason.contains("unknown field `bogus`, expected"), "{e}");
    let e = err_of(
        "unknown-nested",
        &format!("{MINIMAL}\n[timeouts]\nclinet = \"1s\"\n"),
    );
    assert_eq!(e.key, "timeouts.clinet");
    assert!(e.reason.contains("unknown field `clinet`"), "{e}");
    let e = err_of(
        "unknown-array",
        &format!("{MINIMAL}\n[[certificate]]\npem = \"b.pem\"\nchain = \"c.pem\"\n"),
    );
    assert_eq!(e.key, "certificate[1].chain");
    assert!(e.reason.contains("unknown field `chain`"), "{e}");
}

#[test]
fn wrong_type() {
    let e = err_of("type", &format!("{MINIMAL}\n[timeouts]\nserver = 180\n"));
    assert_eq!(e.key, "timeouts.server");
    assert_eq!(
        e.reason,
        "line 12, column 10: invalid type: integer `180`, expected a string"
    );
}

#[test]
fn bad_durations() {
    let e = err_of("dur", &format!("{MINIMAL}\n[timeouts]\nserver = \"180\"\n"));
    assert_eq!(e.key, "timeouts.server");
    assert!(e.reason.contains("needs a unit"), "{e}");
    let e = err_of(
        "dur0",
        &format!("{MINIMAL}\n[timeouts]\nconnect = \"0ms\"\n"),
    );
    assert_eq!(e.key, "timeouts.connect");
    assert_eq!(e.reason, "must be greater than zero");
    assert_eq!(
        e.to_string(),
        format!("{}: timeouts.connect: must be greater than zero", e.file)
    );
}

#[test]
fn bad_upstream() {
    let e = err_of(
        "up",
        &MINIMAL.replace("unix:/run/varnish.socket", "varnish:6081"),
    );
    assert_eq!(e.key, "upstream.address");
    assert!(e.reason.contains("unix:/path/to/socket"), "{e}");
    assert!(e.reason.contains("127.0.0.1:6081"), "{e}");
    let e = err_of("up-missing", &MINIMAL.replace("[upstream]", "[admin]"));
    assert_eq!(e.key, "upstream");
    let e = err_of("up-idle", &format!("{MINIMAL}max_idle_per_shard = -1\n"));
    assert_eq!(e.key, "upstream.max_idle_per_shard");
}

#[test]
fn listener_errors() {
    let e = err_of(
        "no-listener",
        &MINIMAL.replace("[[listener]]\naddress = \"127.0.0.1:8443\"", ""),
    );
    assert_eq!(e.key, "listener");
    assert!(e.reason.contains("at least one"), "{e}");
    let e = err_of(
        "listener-addr",
        &MINIMAL.replace("127.0.0.1:8443", "localhost:443"),
    );
    assert_eq!(e.key, "listener[0].address");
    assert!(e.reason.contains("not an IP address with port"), "{e}");
    let two = format!(
        "[[listener]]\naddress = \"[::]:443\"\n{MINIMAL}[[listener]]\naddress = \"[::]:443\"\n"
    );
    let e = err_of("listener-dup", &two);
    assert_eq!(e.key, "listener[2].address");
    assert!(e.reason.contains("already used by listener 0"), "{e}");
    let e = err_of("backlog", &MINIMAL.replace("8443\"", "8443\"\nbacklog = 0"));
    assert_eq!(e.key, "listener[0].backlog");
    assert!(e.reason.contains("positive"), "{e}");
}

#[test]
fn limit_and_log_errors() {
    let e = err_of("lim", &format!("{MINIMAL}\n[limits]\nmax_headers = 0\n"));
    assert_eq!(e.key, "limits.max_headers");
    let e = err_of(
        "lim2",
        &format!("{MINIMAL}\n[limits]\nmax_uri_bytes = 20000\n"),
    );
    assert_eq!(e.key, "limits.max_uri_bytes");
    assert!(
        e.reason
            .contains("larger than limits.max_head_bytes (16384)"),
        "{e}"
    );
    let e = err_of("log", &format!("{MINIMAL}\n[log]\naccess = \"\"\n"));
    assert_eq!(e.key, "log.access");
    let e = err_of(
        "admin",
        &format!("{MINIMAL}\n[admin]\naddress = \"9422\"\n"),
    );
    assert_eq!(e.key, "admin.address");
}

#[test]
fn certificate_errors() {
    let e = err_of(
        "no-cert",
        &MINIMAL.replace("[[certificate]]\npem = \"certs/a.pem\"", ""),
    );
    assert_eq!(e.key, "certificate");
    assert!(e.reason.contains("at least one"), "{e}");
    let (dir, path) = setup(
        "missing-cert",
        &format!("{MINIMAL}\n[[certificate]]\npem = \"certs/missing.pem\"\n"),
    );
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(e.key, "certificate[1].pem");
    let missing = dir.path().join("certs/missing.pem");
    assert!(e.reason.contains(&missing.display().to_string()), "{e}");
    assert!(e.reason.contains("No such file"), "{e}");
}

#[test]
fn key_mismatch() {
    let dir = TempDir::new("mismatch");
    let (cert, _) = cert_pems(&["one.example"]);
    let (_, key) = cert_pems(&["two.example"]);
    dir.write("one.pem", &cert);
    dir.write("two.key", &key);
    let path = dir.write(
        "t.toml",
        &MINIMAL.replace(
            "pem = \"certs/a.pem\"",
            "pem = \"one.pem\"\nkey = \"two.key\"",
        ),
    );
    let e = Config::from_file(&path).unwrap_err();
    assert_eq!(e.key, "certificate[0].pem");
    assert!(e.reason.contains("match"), "{e}");
}

#[test]
fn default_name_must_be_a_cert_name() {
    let e = err_of(
        "dn",
        &format!("{MINIMAL}\n[tls]\ndefault_name = \"b.example\"\n"),
    );
    assert_eq!(e.key, "tls.default_name");
    assert!(e.reason.contains("\"b.example\" is not a name"), "{e}");
    assert!(e.reason.contains("*.a.example, a.example"), "{e}");
    // A wildcard counts literally, not as a match for the names it covers.
    let e = err_of(
        "dn2",
        &format!("{MINIMAL}\n[tls]\ndefault_name = \"x.a.example\"\n"),
    );
    assert_eq!(e.key, "tls.default_name");
}

#[test]
fn check_validity_and_summary() {
    let (dir, path) = setup(
        "check",
        &format!("{MINIMAL}\n[admin]\naddress = \"127.0.0.1:9422\"\n"),
    );
    let c = Config::from_file(&path).unwrap();
    let pem = dir.path().join("certs/a.pem");
    let s = c.check(year(2030)).unwrap();
    assert!(
        s.contains("listener     127.0.0.1:8443 (backlog 4096)"),
        "{s}"
    );
    assert!(s.contains("shards       auto"), "{s}");
    assert!(
        s.contains(&format!("certificate  {} (", pem.display())),
        "{s}"
    );
    assert!(s.contains("names a.example, *.a.example"), "{s}");
    assert!(
        s.contains(&format!("serial {}", c.certificates[0].serial)),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "expires {}",
            format_utc(c.certificates[0].not_after)
        )),
        "{s}"
    );
    // rcgen's default validity ends at the start of 4096.
    assert!(s.contains("expires 4096-01-01 00:00:00 UTC ("), "{s}");
    assert!(s.contains("days left)"), "{s}");
    assert!(s.contains("upstream     unix:/run/varnish.socket"), "{s}");
    assert!(s.contains("timeouts     client 120s, keepalive 120s, header 10s, handshake 10s, server 180s, connect 3s, grace 300s"), "{s}");
    assert!(s.ends_with("admin        127.0.0.1:9422"), "{s}");

    let e = c.check(year(5000)).unwrap_err();
    assert_eq!(e.file, pem.display().to_string());
    assert_eq!(e.key, "certificate[0]");
    assert!(e.reason.starts_with("expired on "), "{e}");
    assert!(e.reason.ends_with(" UTC"), "{e}");
    let e = c.check(UNIX_EPOCH).unwrap_err();
    assert!(e.reason.starts_with("not yet valid (valid from "), "{e}");
    // The boundaries: valid at not_before, expired at not_after.
    assert!(c.check(c.certificates[0].not_before).is_ok());
    assert!(c.check(c.certificates[0].not_after).is_err());
}

#[test]
fn quick_start() {
    let dir = TempDir::new("quick");
    let a = dir.cert(&["a.example"], "a.pem", None);
    let b = dir.cert(&["b.example"], "b.pem", None);
    let q = QuickStart {
        listen: vec![
            "127.0.0.1:8443".parse().unwrap(),
            "[::1]:8443".parse().unwrap(),
        ],
        upstream: "unix:/run/v.socket".into(),
        certs: vec![a.clone(), b],
        shards: Some("0-1".into()),
        admin: Some("127.0.0.1:9422".parse().unwrap()),
        ticket_keys: Some("keys.txt".into()),
        ocsp_fetch: true,
    };
    let c = Config::quick(&q).unwrap();
    assert_eq!(c.tls.ticket_keys, Some("keys.txt".into()));
    assert!(c.tls.ocsp_fetch);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[1].address, "[::1]:8443".parse().unwrap());
    assert_eq!(c.listeners[1].backlog.get(), 4096);
    assert_eq!(c.shards, ShardSpec::Cpus(vec![0, 1]));
    assert_eq!(c.certificates.len(), 2);
    assert_eq!(c.certificates[0].path, a);
    assert_eq!(
        c.upstream.backends[0],
        UpstreamAddr::Unix("/run/v.socket".into())
    );
    assert_eq!(c.upstream.max_idle_per_shard, 1024);
    assert_eq!(c.timeouts, Timeouts::default());
    assert_eq!(c.log.access, AccessLog::Stdout);
    assert_eq!(c.admin, q.admin);
    let q2 = QuickStart {
        shards: None,
        upstream: "127.0.0.1:6081".into(),
        admin: None,
        ..q.clone()
    };
    let c = Config::quick(&q2).unwrap();
    assert_eq!(c.shards, ShardSpec::Auto { node: None });
    assert_eq!(
        c.upstream.backends[0],
        UpstreamAddr::Tcp("127.0.0.1:6081".parse().unwrap())
    );

    let fail = |q: QuickStart| {
        let e = Config::quick(&q).unwrap_err();
        assert_eq!(e.file, "(command line)");
        (e.key, e.reason)
    };
    let (k, r) = fail(QuickStart {
        listen: vec![],
        ..q.clone()
    });
    assert_eq!(k, "--listen");
    assert!(r.contains("at least one --listen"), "{r}");
    let (k, _) = fail(QuickStart {
        listen: vec![q.listen[0], q.listen[0]],
        ..q.clone()
    });
    assert_eq!(k, "--listen");
    let (k, r) = fail(QuickStart {
        upstream: "varnish".into(),
        ..q.clone()
    });
    assert_eq!(k, "--upstream");
    assert!(r.contains("unix:/path/to/socket"), "{r}");
    let (k, _) = fail(QuickStart {
        upstream: String::new(),
        ..q.clone()
    });
    assert_eq!(k, "--upstream");
    let (k, _) = fail(QuickStart {
        certs: vec![],
        ..q.clone()
    });
    assert_eq!(k, "--cert");
    let missing = dir.path().join("missing.pem");
    let (k, r) = fail(QuickStart {
        certs: vec![missing.clone()],
        ..q.clone()
    });
    assert_eq!(k, "--cert");
    assert!(
        r.contains(&missing.display().to_string()) && r.contains("No such file"),
        "{r}"
    );
    let (k, r) = fail(QuickStart {
        shards: Some("2-1".into()),
        ..q.clone()
    });
    assert_eq!(k, "--shards");
    assert!(r.contains("backwards"), "{r}");
}

#[test]
fn h2_section() {
    let (_d, path) = setup("h2-defaults", MINIMAL);
    assert_eq!(Config::from_file(&path).unwrap().h2, H2Settings::default());
    let d = H2Settings::default();
    assert_eq!(
        (
            d.header_table_size,
            d.initial_window_size,
            d.max_concurrent_streams
        ),
        (4096, 65_535, 100)
    );
    let toml = format!(
        "{MINIMAL}\n[h2]\nenabled = false\nheader_table_size = 0\ninitial_window_size = 1048576\n\
         connection_window_size = 2097152\nmax_concurrent_streams = 250\nmax_frame_size = 32768\n\
         max_header_list_size = 65536\nmax_send_buffer_size = 131072\nmax_resets_per_second = 7\n\
         max_control_frames_per_second = 70\nmax_pending_accept_reset_streams = 5\n\
         max_local_error_reset_streams = 50\n"
    );
    let (_d, path) = setup("h2-all", &toml);
    assert_eq!(
        Config::from_file(&path).unwrap().h2,
        H2Settings {
            enabled: false,
            header_table_size: 0,
            initial_window_size: 1 << 20,
            connection_window_size: 2 << 20,
            max_concurrent_streams: 250,
            max_frame_size: 32_768,
            max_header_list_size: 65_536,
            max_send_buffer_size: 131_072,
            max_resets_per_second: 7,
            max_control_frames_per_second: 70,
            max_pending_accept_reset_streams: 5,
            max_local_error_reset_streams: 50,
        }
    );
    for (line, key) in [
        ("max_frame_size = 1000", "h2.max_frame_size"),
        ("max_frame_size = 16777216", "h2.max_frame_size"),
        ("initial_window_size = 2147483648", "h2.initial_window_size"),
        ("connection_window_size = 1000", "h2.connection_window_size"),
        ("max_concurrent_streams = 0", "h2.max_concurrent_streams"),
        ("max_resets_per_second = -1", "h2.max_resets_per_second"),
    ] {
        let e = err_of("h2-bad", &format!("{MINIMAL}\n[h2]\n{line}\n"));
        assert_eq!(e.key, key, "{line}");
        assert!(e.reason.contains("out of range"), "{}", e.reason);
    }
    let e = err_of("h2-unknown", &format!("{MINIMAL}\n[h2]\nbogus = 1\n"));
    assert_eq!(e.key, "h2.bogus");
}

#[test]
fn tls_groups() {
    use crate::tls::Group;
    let e = err_of(
        "g1",
        &format!("{MINIMAL}\n[tls]\ngroups = [\"X25519MLKEM768\"]\n"),
    );
    assert_eq!(e.key, "tls.groups");
    assert!(e.reason.contains("needs X25519 or P-256"), "{e}");
    let e = err_of(
        "g2",
        &format!("{MINIMAL}\n[tls]\ngroups = [\"X25519\", \"x448\"]\n"),
    );
    assert_eq!(e.key, "tls.groups[1]");
    assert!(e.reason.contains("unknown group \"x448\""), "{e}");
    let e = err_of(
        "g3",
        &format!("{MINIMAL}\n[tls]\ngroups = [\"X25519\", \"X25519\"]\n"),
    );
    assert_eq!(e.key, "tls.groups[1]");
    let (_d, path) = setup(
        "g4",
        &format!("{MINIMAL}\n[tls]\ngroups = [\"P-256\", \"X25519\"]\n"),
    );
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.tls.groups, vec![Group::P256, Group::X25519]);
    let (_d, path) = setup("g5", MINIMAL);
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.tls.groups, Group::DEFAULT.to_vec());
}

const GROUP: &str = r#"
[[listener]]
address = "127.0.0.1:8443"

[[certificate]]
pem = "certs/a.pem"

[upstream]
backends = ["unix:run/fe-0.sock", "127.0.0.1:6081"]
balance = "least-outstanding"
eject_after_failures = 5
eject_duration = "30s"
check_path = "/varnish-ping"
check_host = "healthcheck.example"
check_interval = "500ms"
check_timeout = "250ms"
check_rise = 3
check_fall = 4

[process]
user = "tlsterm"

[debug]
networks = ["10.0.0.0/8"]
"#;

#[test]
fn upstream_group_with_health_and_process() {
    let (dir, path) = setup("group", GROUP);
    let c = Config::from_file(&path).unwrap();
    let up = &c.upstream;
    assert_eq!(
        up.backends,
        vec![
            UpstreamAddr::Unix(dir.path().join("run/fe-0.sock")),
            UpstreamAddr::Tcp("127.0.0.1:6081".parse().unwrap()),
        ]
    );
    assert_eq!(up.balance, super::Balance::LeastOutstanding);
    assert_eq!(
        up.eject,
        super::Eject {
            after_failures: 5,
            duration: Duration::from_secs(30)
        }
    );
    assert_eq!(
        up.check,
        Some(super::ActiveCheck {
            path: "/varnish-ping".into(),
            host: "healthcheck.example".into(),
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(250),
            rise: 3,
            fall: 4,
        })
    );
    assert_eq!(c.process.user.as_deref(), Some("tlsterm"));
    assert_eq!(c.process.group, None);
    assert_eq!(c.debug_networks, vec!["10.0.0.0/8".parse().unwrap()]);
    let text = c.check(year(2030)).unwrap();
    assert!(text.contains("least-outstanding"), "{text}");
    assert!(text.contains("runs as      tlsterm"), "{text}");
}

#[test]
fn upstream_group_defaults() {
    let (_d, path) = setup("group-defaults", MINIMAL);
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.upstream.balance, super::Balance::RoundRobin);
    assert_eq!(c.upstream.eject, super::Eject::default());
    assert_eq!(c.upstream.eject.after_failures, 3);
    assert_eq!(c.upstream.check, None);
    assert_eq!(c.process, super::ProcessSettings::default());
    assert_eq!(c.debug_networks.len(), 2, "loopback v4 and v6");
}

#[test]
fn bad_upstream_group() {
    let cases = [
        (
            MINIMAL.replace("[upstream]\n", "[upstream]\nbackends = [\"127.0.0.1:1\"]\n"),
            "upstream.backends",
            "not both",
        ),
        (
            GROUP.replace("\"127.0.0.1:6081\"", "\"unix:run/fe-0.sock\""),
            "upstream.backends[1]",
            "listed twice",
        ),
        (
            GROUP.replace("[\"unix:run/fe-0.sock\", \"127.0.0.1:6081\"]", "[]"),
            "upstream.backends",
            "empty",
        ),
        (
            GROUP.replace("127.0.0.1:6081", "varnish:6081"),
            "upstream.backends[1]",
            "unix:/path/to/socket",
        ),
        (
            GROUP.replace("least-outstanding", "random"),
            "upstream.balance",
            "\"random\"",
        ),
        (
            GROUP.replace("check_path = \"/varnish-ping\"\n", ""),
            "upstream.check_host",
            "without upstream.check_path",
        ),
        (
            GROUP.replace("check_rise = 3", "check_rise = 0"),
            "upstream.check_rise",
            "1 or more",
        ),
        (
            GROUP.replace("\"500ms\"", "\"0s\""),
            "upstream.check_interval",
            "greater than zero",
        ),
        (
            GROUP.replace("eject_after_failures = 5", "eject_after_failures = -1"),
            "upstream.eject_after_failures",
            "0 (never)",
        ),
        (
            GROUP.replace("user = \"tlsterm\"", "group = \"tlsterm\""),
            "process.group",
            "needs process.user",
        ),
        (
            GROUP.replace("user = \"tlsterm\"", "user = \"a:b\""),
            "process.user",
            "not a user or group name",
        ),
        (
            GROUP.replace("10.0.0.0/8", "10.0.0.0/40"),
            "debug.networks[0]",
            "prefix length",
        ),
    ];
    for (i, (text, key, reason)) in cases.iter().enumerate() {
        let e = err_of(&format!("bad-group-{i}"), text);
        assert_eq!(e.key, *key, "case {i}: {e}");
        assert!(e.reason.contains(reason), "case {i}: {e}");
    }
}

#[test]
fn shards_steering() {
    let (_d, path) = setup(
        "steering",
        &format!("{MINIMAL}\n[shards]\ncpus = [0]\nsteering = \"cpu\"\n"),
    );
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.steering, super::Steering::Cpu);
    let (_d, path) = setup("steering-default", MINIMAL);
    assert_eq!(
        Config::from_file(&path).unwrap().steering,
        super::Steering::Hash
    );
    let e = err_of(
        "steering-bad",
        &format!("{MINIMAL}\n[shards]\nsteering = \"random\"\n"),
    );
    assert_eq!(e.key, "shards.steering");
    assert!(e.reason.contains("\"random\""), "{e}");
}

#[test]
fn shards_cooperative_taskrun() {
    let (_d, path) = setup("coop-default", MINIMAL);
    assert!(Config::from_file(&path).unwrap().cooperative_taskrun);
    let (_d, path) = setup(
        "coop-off",
        &format!("{MINIMAL}\n[shards]\ncooperative_taskrun = false\n"),
    );
    let c = Config::from_file(&path).unwrap();
    assert!(!c.cooperative_taskrun);
    assert!(
        super::check::summary(&c, std::time::SystemTime::now()).contains("plain io_uring rings")
    );
    let e = err_of(
        "coop-bad",
        &format!("{MINIMAL}\n[shards]\ncooperative_taskrun = \"yes\"\n"),
    );
    assert_eq!(e.key, "shards.cooperative_taskrun");
    assert!(e.reason.contains("expected a boolean"), "{e}");
}
