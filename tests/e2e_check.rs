//! End-to-end: `tlsterm check --config FILE` on a good configuration and on broken ones.
//!
//! A good file exits 0 with a summary on stdout naming the certificates; a broken one exits
//! non-zero with `FILE: KEY: REASON` on stderr. A `[process]` user and group are resolved on
//! this machine (Debian's `nobody`/`nogroup`; unknown names are refused). Every case writes its
//! own files into its own temp dir, so paths in messages are known exactly.
//!
//! Does not: start Varnish or serve traffic (`check` must not need either).
mod common;

use common::{run_piped, toml_path, Certs, Piped, StdinAfter, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The certificate tables, then the rest of a valid configuration.
fn config(certs: &str) -> String {
    format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\n\n[shards]\ncpus = [0]\n\n{certs}\n\
         [upstream]\naddress = \"127.0.0.1:6081\"\n\n[log]\naccess = \"off\"\n"
    )
}

fn cert_table(pem: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("[[certificate]]\npem = {pem}\nkey = {k}\n"),
        None => format!("[[certificate]]\npem = {pem}\n"),
    }
}

fn setup(tag: &str) -> (TempDir, Certs) {
    let dir = TempDir::new(tag);
    let certs = common::certs::make(dir.path());
    (dir, certs)
}

fn check(cfg: &Path) -> Piped {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsterm"));
    cmd.arg("check").arg("--config").arg(cfg);
    let p = run_piped(cmd, b"", StdinAfter::Close, Duration::from_secs(30));
    assert!(p.status.is_some(), "tlsterm check hung");
    p
}

fn code(p: &Piped) -> Option<i32> {
    p.status.and_then(|s| s.code())
}

/// Asserts a failed check whose stderr holds every one of `parts`.
fn assert_rejected(p: &Piped, parts: &[&str]) {
    let err = p.stderr_text();
    assert!(
        code(p).is_some_and(|c| c != 0),
        "check exited {:?}; stdout {:?} stderr {err:?}",
        p.status,
        p.stdout_text()
    );
    for part in parts {
        assert!(err.contains(part), "stderr lacks {part:?}: {err:?}");
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn good_config_passes_and_names_its_certificates() {
    let (dir, certs) = setup("check-good");
    let body =
        cert_table(&toml_path(&certs.ecdsa), None) + &cert_table(&toml_path(&certs.rsa), None);
    let cfg = dir.write("good.toml", config(&body));
    let p = check(&cfg);
    assert_eq!(code(&p), Some(0), "stderr: {}", p.stderr_text());
    let out = p.stdout_text();
    assert!(out.contains(path_str(&certs.ecdsa)), "summary: {out}");
    assert!(out.contains(path_str(&certs.rsa)), "summary: {out}");
}

#[test]
fn relative_paths_and_separate_key_files_resolve_against_the_config_dir() {
    let (dir, _certs) = setup("check-relative");
    let body = cert_table("\"ecdsa-cert.pem\"", Some("\"ecdsa-key.pem\""))
        + &cert_table("\"rsa.pem\"", None);
    let cfg = dir.write("rel.toml", config(&body));
    // Run from elsewhere so that only resolution against the file's directory can work.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsterm"));
    cmd.current_dir("/").arg("check").arg("--config").arg(&cfg);
    let p = run_piped(cmd, b"", StdinAfter::Close, Duration::from_secs(30));
    assert_eq!(code(&p), Some(0), "stderr: {}", p.stderr_text());
    assert!(
        p.stdout_text().contains("ecdsa-cert.pem"),
        "{}",
        p.stdout_text()
    );
}

#[test]
fn missing_certificate_file_is_named_with_its_key_and_os_error() {
    let (dir, _certs) = setup("check-missing");
    let cfg = dir.write("t.toml", config(&cert_table("\"missing.pem\"", None)));
    let p = check(&cfg);
    let missing: PathBuf = dir.join("missing.pem");
    let want = format!(
        "{}: certificate[0].pem: {}: No such file or directory (os error 2)",
        cfg.display(),
        missing.display()
    );
    assert_rejected(&p, &[&want]);
}

#[test]
fn key_that_does_not_match_the_certificate_is_rejected() {
    let (dir, certs) = setup("check-mismatch");
    let body = cert_table(
        &toml_path(&certs.ecdsa_cert),
        Some(&toml_path(&certs.other_key)),
    );
    let cfg = dir.write("t.toml", config(&body));
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg), "certificate[0]", "does not match"]);
}

#[test]
fn expired_certificate_is_rejected_with_its_index() {
    let (dir, certs) = setup("check-expired");
    let body =
        cert_table(&toml_path(&certs.ecdsa), None) + &cert_table(&toml_path(&certs.expired), None);
    let cfg = dir.write("t.toml", config(&body));
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg), "certificate[1]", "expired"]);
}

#[test]
fn toml_syntax_error_names_the_file() {
    let (dir, _certs) = setup("check-syntax");
    let cfg = dir.write("t.toml", "[[listener]\naddress = \"127.0.0.1:0\"\n");
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg)]);
}

#[test]
fn unknown_key_is_rejected_by_name() {
    let (dir, certs) = setup("check-unknown");
    let body = cert_table(&toml_path(&certs.ecdsa), None);
    let text = config(&body).replace("[upstream]\naddress", "[upstream]\nadress");
    let cfg = dir.write("t.toml", text);
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg), "unknown field", "adress"]);
}

#[test]
fn bad_duration_is_rejected_by_key() {
    let (dir, certs) = setup("check-duration");
    let body = cert_table(&toml_path(&certs.ecdsa), None);
    let text = config(&body) + "\n[timeouts]\nserver = \"fast\"\n";
    let cfg = dir.write("t.toml", text);
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg), "timeouts.server"]);
}

#[test]
fn process_user_and_group_are_resolved_on_this_machine() {
    let (dir, certs) = setup("check-user");
    let body = cert_table(&toml_path(&certs.ecdsa), None);
    let text = config(&body) + "\n[process]\nuser = \"nobody\"\ngroup = \"nogroup\"\n";
    let cfg = dir.write("t.toml", text);
    let p = check(&cfg);
    assert_eq!(code(&p), Some(0), "stderr: {}", p.stderr_text());
    let out = p.stdout_text();
    // Debian's base-passwd fixes nobody and nogroup at 65534 (tests/e2e_privdrop.rs too).
    let runs_as: Vec<&str> = out.lines().filter(|l| l.starts_with("runs as")).collect();
    assert_eq!(
        runs_as,
        ["runs as      nobody (uid 65534), group nogroup (gid 65534)"],
        "summary: {out}"
    );
}

#[test]
fn unknown_process_user_or_group_is_named() {
    let (dir, certs) = setup("check-nouser");
    let body = cert_table(&toml_path(&certs.ecdsa), None);
    let text = config(&body) + "\n[process]\nuser = \"tlsterm-no-such-user\"\n";
    let cfg = dir.write("t.toml", text);
    let p = check(&cfg);
    assert_rejected(
        &p,
        &[&format!(
            "{}: process.user: no user \"tlsterm-no-such-user\" on this system",
            cfg.display()
        )],
    );
    assert!(!p.stdout_text().contains(": OK"), "{}", p.stdout_text());

    let text =
        config(&body) + "\n[process]\nuser = \"nobody\"\ngroup = \"tlsterm-no-such-group\"\n";
    let cfg = dir.write("g.toml", text);
    let p = check(&cfg);
    assert_rejected(
        &p,
        &[&format!(
            "{}: process.group: no group \"tlsterm-no-such-group\" on this system",
            cfg.display()
        )],
    );
}

#[test]
fn missing_config_file_is_named() {
    let dir = TempDir::new("check-nofile");
    let cfg = dir.join("nope.toml");
    let p = check(&cfg);
    assert_rejected(&p, &[path_str(&cfg), "No such file or directory"]);
}

#[test]
fn harness_certificates_verify_with_openssl() {
    let (dir, certs) = setup("check-harness");
    let openssl = common::require_tool("openssl");
    let verify = |pem: &Path| {
        let out = Command::new(&openssl)
            .args(["verify", "-purpose", "sslserver", "-CAfile"])
            .arg(&certs.ca)
            .arg(pem)
            .output()
            .expect("run openssl verify");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    for pem in [&certs.ecdsa, &certs.rsa, &certs.ecdsa_cert] {
        assert!(
            verify(pem).contains(": OK"),
            "{}: {}",
            pem.display(),
            verify(pem)
        );
    }
    assert!(verify(&certs.expired).contains("certificate has expired"));
    let text = |args: &[&str], pem: &Path| {
        let out = Command::new(&openssl)
            .args(args)
            .arg(pem)
            .output()
            .expect("run openssl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let rsa = text(&["x509", "-noout", "-text", "-in"], &certs.rsa);
    assert!(rsa.contains("Public-Key: (2048 bit)"), "{rsa}");
    assert!(rsa.contains("DNS:localhost, IP Address:127.0.0.1"), "{rsa}");
    let ec = text(&["x509", "-noout", "-text", "-in"], &certs.ecdsa);
    assert!(
        ec.contains("Public-Key: (256 bit)") && ec.contains("NIST CURVE: P-256"),
        "{ec}"
    );
    // The key in each combined PEM belongs to its certificate.
    for pem in [&certs.ecdsa, &certs.rsa] {
        let cert_pub = text(&["x509", "-noout", "-pubkey", "-in"], pem);
        let key_pub = text(&["pkey", "-pubout", "-in"], pem);
        assert_eq!(cert_pub, key_pub, "{}", pem.display());
    }
    drop(dir);
}

#[test]
fn harness_wire_parsers_are_strict() {
    use common::wire::{connection_properties_ok, parse_access_line, parse_responses};
    let good = "H2=1; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;";
    assert!(connection_properties_ok(good));
    for bad in [
        "H2=2; SSR=0; SSL=TLSv1.3; C=x; EC=X25519; KA=ECDSA;",
        "H2=1; SSR=3; SSL=TLSv1.3; C=x; EC=X25519; KA=ECDSA;",
        "H2=1; SSR=0; SSL=; C=x; EC=X25519; KA=ECDSA;",
        "H2=1; SSR=0; SSL=TLSv1.3; C=x y; EC=X25519; KA=ECDSA;",
        "H2=1; SSR=0; SSL=TLSv1.3; C=x; EC=X25519; KA=ECDSA",
        "H2=1; SSR=0; SSL=TLSv1.3; C=x; KA=ECDSA; EC=X25519;",
        "H2=1;  SSR=0; SSL=TLSv1.3; C=x; EC=X25519; KA=ECDSA;",
        "evil",
    ] {
        assert!(!connection_properties_ok(bad), "{bad}");
    }

    let line = "127.0.0.1:40312 [23/Nov/2026:19:45:01.123] shard0 0/0/1/2/3 200 1234 -- \
                TLSv1.3/TLS_AES_128_GCM_SHA256/ECDSA \"GET localhost /bytes/10 HTTP/1.1\"";
    let a = parse_access_line(line).expect("contract example parses");
    assert_eq!(
        (a.client_ip.as_str(), a.client_port, a.shard),
        ("127.0.0.1", 40312, 0)
    );
    assert_eq!((a.timers, a.status, a.bytes), ([0, 0, 1, 2, 3], 200, 1234));
    assert_eq!(
        (a.ts.as_str(), a.cert_kind.as_str(), a.target.as_str()),
        ("--", "ECDSA", "/bytes/10")
    );
    for bad in [
        line.replace("shard0", "shardX"),
        line.replace("0/0/1/2/3", "0/0/1/2"),
        line.replace("0/0/1/2/3", "0/0/-2/2/3"),
        line.replace(" -- ", " XX "),
        line.replace("23/Nov/2026", "23/11/2026"),
        line.replace(" 200 ", " 99 "),
        line.replace("\"GET localhost", "\"GET"),
    ] {
        assert!(parse_access_line(&bad).is_err(), "{bad}");
    }
    let no_response = line
        .replace(" 200 ", " -1 ")
        .replace("0/0/1/2/3", "5/-1/-1/-1/5");
    assert_eq!(parse_access_line(&no_response).map(|a| a.status), Ok(-1));

    let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n\
                   Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n1;e=1\r\n!\r\n0\r\n\r\n";
    let rs = parse_responses(stream).expect("parse");
    let got: Vec<(u16, &[u8])> = rs.iter().map(|r| (r.status, r.body.as_slice())).collect();
    assert_eq!(got, vec![(100, &b""[..]), (200, b"ab"), (200, b"xyz!")]);
    assert!(parse_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
}
