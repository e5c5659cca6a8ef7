//! End-to-end: TLS operations on a running tlsterm, with real `openssl ocsp` responders, real
//! `openssl s_client` and `curl` clients, and (for the reload under load) a real Varnish.
//!
//! Covers: OCSP stapling — a good response obtained from an `openssl ocsp` responder is
//! stapled; revoked, expired, other-certificate and wrongly signed responses are not (and the
//! refusal is logged and counted); a replaced `.ocsp` file is picked up without a restart; a
//! refused replacement keeps the valid staple; the built-in fetcher (`--ocsp-fetch`) obtains a
//! staple from the responder named in the leaf's AIA, refreshes a staple past its half-life,
//! and keeps serving the staple it has while the responder is down. Session resumption —
//! `-sess_out`/`-sess_in` resume on every attempt across two shards (TLS 1.3 and 1.2), across
//! two processes sharing a ticket-key file, through a key rotation and a refused malformed key
//! file; once the sealing key is gone, a full handshake happens. Live reload — a certificate
//! swapped with SIGHUP while a client loop runs: zero failed requests, new connections get the
//! new serial; a corrupt certificate is refused, named in the log, counted, and the previous
//! one keeps serving.
//!
//! Does not: check validator details (unit tests in src/tls/ocsp do, on crafted inputs), or
//! wait out real expiry: the expired and half-life fixtures are real responses re-dated and
//! re-signed by openssl (see `common::ocsp`). The fetcher's 60 s minimum retry period is not
//! waited for; a refresh is exercised at startup, where a staple past its half-life is due.
mod common;

use common::ocsp::{Pki, Signer, Status};
use common::tlsops::{
    client_loop, count_stderr, field, is_reload_ok, key_line, one_cert_config, replace_atomically,
    sample, scrape, served_serial, session, sighup, staple, sum_where, wait_requests, wait_serial,
    wait_staple, wait_stderr, Load, Sess, Version,
};
use common::{config_toml, Tlsterm};
use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const ADMIN: &str = "[admin]\naddress = \"127.0.0.1:0\"\n";
/// How long a file change or SIGHUP may take to be in service (watcher polls once a second).
const RELOAD_DEADLINE: Duration = Duration::from_secs(15);
const HOUR: Duration = Duration::from_secs(3600);

fn origin() -> String {
    tlsterm::origin::spawn("127.0.0.1:0")
        .expect("spawn test origin")
        .to_string()
}

/// Writes `bytes` to `path` atomically and waits until tlsterm has published a new state.
fn replace_and_wait_reload(t: &Tlsterm, path: &std::path::Path, bytes: &[u8]) {
    let before = count_stderr(t, is_reload_ok);
    replace_atomically(path, bytes);
    wait_stderr(
        t,
        "reload in service",
        before,
        RELOAD_DEADLINE,
        is_reload_ok,
    );
}

#[test]
fn ocsp_staples_only_valid_responses_and_picks_up_replaced_files() {
    let pki = Pki::new("ocsp-staple");
    pki.index(&[
        ("1001", Status::Valid),
        ("1002", Status::Revoked),
        ("1003", Status::Valid),
    ]);
    let good = pki.leaf("good", "1001", None);
    let revoked = pki.leaf("revoked", "1002", None);
    let other = pki.leaf("other", "1003", None);
    let delegate = pki.responder(Signer::Delegate, 0);
    let stranger = pki.responder(Signer::Stranger, 0);
    let good_resp = pki.query(&delegate, &good, "good.der", true);
    let revoked_resp = pki.query(&delegate, &revoked, "revoked.der", true);
    let other_resp = pki.query(&delegate, &other, "other.der", true);
    let stranger_resp = pki.query(&stranger, &good, "stranger.der", false);
    let now = SystemTime::now();
    let expired_resp = pki.redate(&good_resp, Signer::Delegate, now - 2 * HOUR, now - HOUR);
    let text = pki.check_signed(&expired_resp, &good);
    assert!(text.contains("Status times invalid"), "{text}");
    let good_this_update = field(&pki.check_signed(&good_resp, &good), "This Update:").to_string();

    // Serving `good` without any .ocsp file: nothing stapled, nothing refused.
    let cfg = pki.dir.write(
        "good.toml",
        one_cert_config(&origin(), &good.pem, &[0], ADMIN),
    );
    let t = Tlsterm::start(&cfg);
    assert_eq!(staple(t.addr(), &pki.ca()), None);
    let m = scrape(t.admin());
    assert_eq!(
        sample(&m, "tlsterm_ocsp_staple_refused{cert=\"good.pem\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "tlsterm_ocsp_staple_seconds_remaining{cert=\"good.pem\"}"
        ),
        None
    );

    // Each bad response replaces the file in turn: refused, logged with file and reason,
    // counted, and not stapled.
    let refused = |l: &str| l.starts_with("tlsterm: reload: OCSP response for good.pem refused: ");
    for (bytes, reason) in [
        (&other_resp, "OCSP response is for another certificate"),
        (&stranger_resp, "OCSP responder not authorized"),
        (&expired_resp, "OCSP response expired"),
    ] {
        let seen = count_stderr(&t, refused);
        replace_and_wait_reload(&t, &good.ocsp, bytes);
        let line = wait_stderr(&t, "refusing the staple", seen, RELOAD_DEADLINE, refused);
        let want = format!("{}: {reason}", good.ocsp.display());
        assert!(line.contains(&want), "{line:?} lacks {want:?}");
        assert_eq!(staple(t.addr(), &pki.ca()), None, "{reason}: stapled");
        let m = scrape(t.admin());
        assert_eq!(
            sample(&m, "tlsterm_ocsp_staple_refused{cert=\"good.pem\"}"),
            Some(1.0),
            "{reason}"
        );
    }

    // The good response replaces the file: stapled without a restart.
    replace_atomically(&good.ocsp, &good_resp);
    let s = wait_staple(
        t.addr(),
        &pki.ca(),
        "good staple",
        RELOAD_DEADLINE,
        Option::is_some,
    )
    .expect("stapled");
    assert_eq!(field(&s, "Cert Status:"), "good");
    assert_eq!(field(&s, "Serial Number:"), "1001");
    assert_eq!(field(&s, "This Update:"), good_this_update);
    let m = scrape(t.admin());
    assert_eq!(
        sample(&m, "tlsterm_ocsp_staple_refused{cert=\"good.pem\"}"),
        Some(0.0)
    );
    let left = sample(
        &m,
        "tlsterm_ocsp_staple_seconds_remaining{cert=\"good.pem\"}",
    )
    .expect("remaining seconds of the staple");
    assert!((86_000.0..=86_400.0).contains(&left), "{left}");

    // A refused replacement keeps the valid staple in service.
    let seen = count_stderr(&t, refused);
    replace_and_wait_reload(&t, &good.ocsp, &stranger_resp);
    wait_stderr(&t, "refusing the staple", seen, RELOAD_DEADLINE, refused);
    let s = staple(t.addr(), &pki.ca()).expect("previous staple kept");
    assert_eq!(field(&s, "This Update:"), good_this_update);
    assert_eq!(field(&s, "Cert Status:"), "good");
    drop(t);

    // A revoked certificate with its (correct, signed) revoked response at startup.
    std::fs::write(&revoked.ocsp, &revoked_resp).expect("write revoked.pem.ocsp");
    let cfg = pki.dir.write(
        "revoked.toml",
        one_cert_config(&origin(), &revoked.pem, &[0], ADMIN),
    );
    let t = Tlsterm::start(&cfg);
    let line = wait_stderr(&t, "refusing the revoked staple", 0, RELOAD_DEADLINE, |l| {
        l.starts_with("tlsterm: OCSP response for revoked.pem not stapled: ")
    });
    assert!(line.contains("certificate is revoked"), "{line}");
    assert_eq!(staple(t.addr(), &pki.ca()), None);
    let m = scrape(t.admin());
    assert_eq!(
        sample(&m, "tlsterm_ocsp_staple_refused{cert=\"revoked.pem\"}"),
        Some(1.0)
    );
}

/// `tlsterm run` with the quick-start flags and `--ocsp-fetch`.
fn start_fetching(pem: &std::path::Path) -> Tlsterm {
    let mut args: Vec<OsString> = ["run", "--listen", "127.0.0.1:0", "--upstream"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push(origin().into());
    args.push("--cert".into());
    args.push(pem.into());
    for a in ["--shards", "0", "--admin", "127.0.0.1:0", "--ocsp-fetch"] {
        args.push(a.into());
    }
    Tlsterm::start_args(args)
}

#[test]
fn ocsp_fetcher_obtains_refreshes_and_keeps_staple_while_responder_is_down() {
    let pki = Pki::new("ocsp-fetch");
    pki.index(&[("1001", Status::Valid)]);
    let mut responder = pki.responder(Signer::Delegate, 0);
    let aia = format!("http://127.0.0.1:{}", responder.port);
    let leaf = pki.leaf("site", "1001", Some(&aia));
    let ca = pki.ca();
    let metric = |m: &str, name: &str| sample(m, &format!("{name}{{cert=\"site.pem\"}}"));
    let fetches = |m: &str, result: &str| {
        sample(
            m,
            &format!("tlsterm_ocsp_fetches_total{{cert=\"site.pem\",result=\"{result}\"}}"),
        )
    };

    // 1. No staple on disk: fetched from the AIA responder, written beside the cert, stapled.
    let t = start_fetching(&leaf.pem);
    let s = wait_staple(
        t.addr(),
        &ca,
        "fetched staple",
        RELOAD_DEADLINE,
        Option::is_some,
    )
    .expect("stapled");
    assert_eq!(field(&s, "Cert Status:"), "good");
    assert_eq!(field(&s, "Serial Number:"), "1001");
    let on_disk = std::fs::read(&leaf.ocsp).expect("the fetcher wrote site.pem.ocsp");
    let fetched_update = field(&pki.check_signed(&on_disk, &leaf), "This Update:").to_string();
    assert_eq!(field(&s, "This Update:"), fetched_update);
    let m = scrape(t.admin());
    assert_eq!(fetches(&m, "ok"), Some(1.0));
    assert_eq!(fetches(&m, "failed"), Some(0.0));
    assert_eq!(metric(&m, "tlsterm_ocsp_last_fetch_ok"), Some(1.0));
    let left = metric(&m, "tlsterm_ocsp_staple_seconds_remaining").expect("staple metric");
    assert!((86_000.0..=86_400.0).contains(&left), "{left}");
    drop(t);

    // 2. A staple past its half-life (valid one more hour, issued two hours ago) is refreshed
    //    at startup: the served staple becomes a fresh one.
    let now = SystemTime::now();
    let stale = pki.redate(&on_disk, Signer::Delegate, now - 2 * HOUR, now + HOUR);
    let stale_update = field(&pki.check_signed(&stale, &leaf), "This Update:").to_string();
    assert_ne!(stale_update, fetched_update);
    replace_atomically(&leaf.ocsp, &stale);
    let t = start_fetching(&leaf.pem);
    assert!(
        !t.stderr_lines().iter().any(|l| l.contains("not stapled")),
        "the half-life staple is still valid: {:?}",
        t.stderr_lines()
    );
    let s = wait_staple(t.addr(), &ca, "refreshed staple", RELOAD_DEADLINE, |s| {
        s.as_deref()
            .is_some_and(|s| field(s, "This Update:") != stale_update)
    })
    .expect("stapled");
    assert_eq!(field(&s, "Cert Status:"), "good");
    let m = scrape(t.admin());
    assert_eq!(fetches(&m, "ok"), Some(1.0));
    drop(t);

    // 3. The responder is down and a staple is due: the fetch fails, is logged and counted,
    //    and the staple in service stays served, also across a reload.
    responder.stop();
    replace_atomically(&leaf.ocsp, &stale);
    let t = start_fetching(&leaf.pem);
    let line = wait_stderr(&t, "failed fetch", 0, RELOAD_DEADLINE, |l| {
        l.starts_with("tlsterm: OCSP fetch for site.pem failed")
    });
    assert!(line.contains("the current staple stays"), "{line}");
    let s = staple(t.addr(), &ca).expect("staple kept while the responder is down");
    assert_eq!(field(&s, "This Update:"), stale_update);
    assert_eq!(field(&s, "Cert Status:"), "good");
    let m = scrape(t.admin());
    assert_eq!(fetches(&m, "ok"), Some(0.0));
    assert_eq!(fetches(&m, "failed"), Some(1.0));
    assert_eq!(metric(&m, "tlsterm_ocsp_last_fetch_ok"), Some(0.0));
    assert_eq!(std::fs::read(&leaf.ocsp).expect("staple file"), stale);
    let before = count_stderr(&t, is_reload_ok);
    sighup(&t);
    wait_stderr(
        &t,
        "reload in service",
        before,
        RELOAD_DEADLINE,
        is_reload_ok,
    );
    let s = staple(t.addr(), &ca).expect("staple kept across a reload");
    assert_eq!(field(&s, "This Update:"), stale_update);
}

/// Waits until the handshake counter for `version` and `resumed` reaches `want`, then
/// asserts it is exactly `want`.
fn assert_handshakes(t: &Tlsterm, version: Version, resumed: bool, want: f64) {
    let labels = [
        format!("version=\"{}\"", version.name()),
        format!("resumed=\"{resumed}\""),
        "result=\"ok\"".to_string(),
    ];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = sum_where(&scrape(t.admin()), "tlsterm_handshakes_total", &labels);
        if n >= want || Instant::now() > deadline {
            assert_eq!(n, want, "{labels:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn resumption_succeeds_on_every_attempt_across_two_shards() {
    const ATTEMPTS: usize = 24;
    let dir = common::TempDir::new("resume-shards");
    let certs = common::certs::make(dir.path());
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(&origin(), &certs, &[0, 1], ADMIN),
    );
    let t = Tlsterm::start(&cfg);
    let accepted = |shard: u32| {
        let m = scrape(t.admin());
        sample(
            &m,
            &format!("tlsterm_connections_accepted_total{{shard=\"{shard}\"}}"),
        )
        .unwrap_or_else(|| panic!("no accepted-connections sample for shard {shard}"))
    };
    for version in [Version::Tls13, Version::Tls12] {
        let sess = dir.join(&format!("{}.sess", version.name()));
        let first = session(t.addr(), &certs.ca, version, Sess::Out(&sess), "/bytes/1");
        assert!(!first.reused, "first connection resumed:\n{}", first.stdout);
        assert_eq!(first.status, 200);
        let before = [accepted(0), accepted(1)];
        for i in 0..ATTEMPTS {
            let h = session(t.addr(), &certs.ca, version, Sess::In(&sess), "/bytes/1");
            assert!(
                h.reused,
                "{version:?} attempt {i} not resumed:\n{}",
                h.stdout
            );
            assert_eq!(h.status, 200);
        }
        // Both shards accepted some of the (all resumed) connections.
        let after = [accepted(0), accepted(1)];
        assert_eq!(
            (after[0] - before[0]) + (after[1] - before[1]),
            ATTEMPTS as f64,
            "accepted connections"
        );
        assert!(
            after[0] > before[0] && after[1] > before[1],
            "{version:?}: resumed connections did not reach both shards: {before:?} -> {after:?}"
        );
        assert_handshakes(&t, version, true, ATTEMPTS as f64);
        assert_handshakes(&t, version, false, 1.0);
    }
}

#[test]
fn resumption_across_processes_sharing_a_rotated_key_file() {
    let dir = common::TempDir::new("resume-keys");
    let certs = common::certs::make(dir.path());
    let k: Vec<String> = (0..5).map(|n| key_line(&dir, n)).collect();
    let keys = dir.write("tickets.key", format!("{}\n{}\n{}\n", k[0], k[1], k[2]));
    let extra = format!(
        "[tls]\nticket_keys = {}\n\n{ADMIN}",
        common::toml_path(&keys)
    );
    let cfg = dir.write("tlsterm.toml", config_toml(&origin(), &certs, &[0], &extra));
    let a = Tlsterm::start(&cfg);
    let b = Tlsterm::start(&cfg);
    assert_eq!(
        sample(&scrape(b.admin()), "tlsterm_ticket_keys{source=\"file\"}"),
        Some(3.0)
    );
    let versions = [Version::Tls13, Version::Tls12];
    let sess = |v: Version| dir.join(&format!("{}.sess", v.name()));
    let resume = |t: &Tlsterm, v: Version| {
        let h = session(t.addr(), &certs.ca, v, Sess::In(&sess(v)), "/bytes/1");
        assert_eq!(h.status, 200);
        h
    };
    // Sessions sealed by A (second-to-last key, k[1]) resume on B.
    for v in versions {
        let h = session(a.addr(), &certs.ca, v, Sess::Out(&sess(v)), "/bytes/1");
        assert!(!h.reused);
        let h = resume(&b, v);
        assert!(
            h.reused,
            "{v:?}: A's session not resumed by B:\n{}",
            h.stdout
        );
    }

    // Rotation: k[0] out, k[3] in; k[1] still decrypts.
    let rotated = format!("{}\n{}\n{}\n", k[1], k[2], k[3]);
    let (na, nb) = (
        count_stderr(&a, is_reload_ok),
        count_stderr(&b, is_reload_ok),
    );
    replace_atomically(&keys, rotated.as_bytes());
    wait_stderr(&a, "reload in service", na, RELOAD_DEADLINE, is_reload_ok);
    wait_stderr(&b, "reload in service", nb, RELOAD_DEADLINE, is_reload_ok);
    for v in versions {
        for t in [&a, &b] {
            let h = resume(t, v);
            assert!(h.reused, "{v:?}: not resumed after rotation:\n{}", h.stdout);
        }
    }

    // A malformed file is refused; the keys in service stay.
    let refused =
        |l: &str| l.contains("refused, previous state kept: ") && l.contains("tickets.key");
    let nb = count_stderr(&b, refused);
    replace_atomically(&keys, b"this is not base64!\n");
    let line = wait_stderr(&b, "refused key file", nb, RELOAD_DEADLINE, refused);
    assert!(line.contains(&keys.display().to_string()), "{line}");
    for v in versions {
        let h = resume(&b, v);
        assert!(
            h.reused,
            "{v:?}: keys lost after a refused file:\n{}",
            h.stdout
        );
    }

    // k[1] removed entirely: a full handshake, no error.
    let nb = count_stderr(&b, is_reload_ok);
    let na = count_stderr(&a, is_reload_ok);
    replace_atomically(&keys, format!("{}\n{}\n{}\n", k[2], k[3], k[4]).as_bytes());
    wait_stderr(&b, "reload in service", nb, RELOAD_DEADLINE, is_reload_ok);
    wait_stderr(&a, "reload in service", na, RELOAD_DEADLINE, is_reload_ok);
    // Shards adopt a published state within their 100 ms watcher period: poll for the first
    // full handshake, then every further attempt must be one too.
    let full_handshakes = |t: &Tlsterm, v: Version| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while resume(t, v).reused {
            assert!(
                Instant::now() < deadline,
                "{v:?}: still resuming 5 s after the sealing key was removed"
            );
        }
        for _ in 0..3 {
            let h = resume(t, v);
            assert!(
                !h.reused,
                "{v:?}: resumed with a removed key:\n{}",
                h.stdout
            );
        }
    };
    for v in versions {
        full_handshakes(&b, v);
    }
    // A made these sessions: a session sealed in a ticket is not also kept in its TLS 1.2
    // session-ID cache, so A does a full handshake too.
    for v in versions {
        full_handshakes(&a, v);
    }
    assert_eq!(
        sample(&scrape(a.admin()), "tlsterm_ticket_keys{source=\"file\"}"),
        Some(3.0)
    );
}

#[test]
fn reload_under_load_swaps_the_certificate_without_failures_and_refuses_a_corrupt_one() {
    let pki = Pki::new("reload-load");
    let first = pki.leaf("first", "1001", None);
    let second = pki.leaf("second", "1002", None);
    let site = pki.dir.join("site.pem");
    std::fs::copy(&first.pem, &site).expect("copy first.pem");
    let varnish = common::Varnish::start();
    let cfg = pki.dir.write(
        "tlsterm.toml",
        one_cert_config(&varnish.unix_upstream(), &site, &[0, 1], ADMIN),
    );
    let t = Tlsterm::start(&cfg);
    let ca = pki.ca();
    assert_eq!(served_serial(t.addr(), &ca), "1001");

    let load = Arc::new(Load::default());
    let worker = {
        let (load, port, ca) = (Arc::clone(&load), t.port(), ca.clone());
        std::thread::spawn(move || client_loop(&load, port, &ca))
    };
    let n = wait_requests(&load, 0, 10);

    // Swap to a certificate with a new serial, SIGHUP. (The watcher may publish it first; the
    // signal's reload comes last, as it re-stamps the files, so no reload follows it.)
    let by_signal = |l: &str| l.starts_with("tlsterm: reload (signal): TLS state generation ");
    let before = count_stderr(&t, by_signal);
    replace_atomically(&site, &std::fs::read(&second.pem).expect("read second.pem"));
    sighup(&t);
    wait_stderr(&t, "reload by SIGHUP", before, RELOAD_DEADLINE, by_signal);
    wait_serial(t.addr(), &ca, "1002", 6, RELOAD_DEADLINE);
    let n = wait_requests(&load, n, 10);
    let m = scrape(t.admin());
    let ok_reloads = sample(&m, "tlsterm_reloads_total{result=\"ok\"}").expect("ok reloads");
    assert!(ok_reloads >= 1.0, "{ok_reloads}");
    assert_eq!(
        sample(&m, "tlsterm_reloads_total{result=\"failed\"}"),
        Some(0.0)
    );

    // A corrupt certificate: refused, named in the log, counted; the second one keeps serving.
    let refused =
        |l: &str| l.starts_with("tlsterm: reload (signal) refused, previous state kept: ");
    let seen = count_stderr(&t, refused);
    std::fs::write(
        &site,
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
    )
    .expect("corrupt site.pem");
    sighup(&t);
    let line = wait_stderr(&t, "refused reload", seen, RELOAD_DEADLINE, refused);
    assert!(line.contains(&site.display().to_string()), "{line}");
    for _ in 0..6 {
        assert_eq!(served_serial(t.addr(), &ca), "1002");
    }
    let m = scrape(t.admin());
    let failed = sample(&m, "tlsterm_reloads_total{result=\"failed\"}").expect("failed reloads");
    assert!(failed >= 1.0, "{failed}");
    assert_eq!(
        sample(&m, "tlsterm_reloads_total{result=\"ok\"}"),
        Some(ok_reloads),
        "a corrupt certificate was published"
    );
    wait_requests(&load, n, 10);

    load.stop.store(true, Ordering::Relaxed);
    worker.join().expect("client loop");
    let failures = load.failures.lock().expect("failures lock");
    assert!(
        failures.is_empty(),
        "{} failed requests (of {}): {failures:?}",
        failures.len(),
        load.ok.load(Ordering::Relaxed) + failures.len()
    );
    assert!(load.ok.load(Ordering::Relaxed) >= 30);
    drop(varnish);
}
