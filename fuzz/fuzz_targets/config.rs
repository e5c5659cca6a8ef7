//! Fuzz target: the configuration loader, `tlsterm::config::Config::from_file`, then `check`
//! and `summary` at a fixed `now` on what it accepts.
//!
//! There is no parse-from-text entry point yet, so each input is written to `fuzz.toml` in a
//! per-process directory `tlsterm-fuzz-config-<pid>` under `$TLSTERM_FUZZ_TMP` (default: the
//! system temp dir; run-short.sh points it at a directory it removes afterwards), which also
//! holds `cert.pem` (the fixed leaf certificate and its key from fixtures/), so seeds naming
//! `pem = "cert.pem"` get past certificate loading and reach the rest of the builder.
//!
//! Sandboxing: the loader reads whole files (right for configuration, wrong for a fuzzer that
//! could name `/dev/zero` or a FIFO), so inputs containing `..`, `/dev/`, `/proc/`, `/sys/`,
//! `/run/`, `/tmp/`, `/var/` or a TOML `\u`/`\U` escape (which could spell those) are skipped.
//! Relative paths resolve against the directory above; `/` itself stays allowed (CIDRs in
//! `limits.trusted_networks`, `unix:/path` upstreams). This hides nothing of the TOML grammar
//! or the builder's checks.
//!
//! Input: the file text (non-UTF-8 bytes are written as they are: the loader must refuse them
//! with an error, not a panic). Checked: no panic; errors name the file and render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tlsterm::config::Config;

const CERT_PEM: &[u8] = include_bytes!("../fixtures/config-leaf.pem");
const NOW: &str = include_str!("../fixtures/NOW");

fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("TLSTERM_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("tlsterm-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz temp dir");
        std::fs::write(dir.join("cert.pem"), CERT_PEM).expect("write cert.pem");
        dir
    })
}

fn escapes_sandbox(data: &[u8]) -> bool {
    const DENY: [&[u8]; 9] = [
        b"..", b"/dev/", b"/proc/", b"/sys/", b"/run/", b"/tmp/", b"/var/", b"\\u", b"\\U",
    ];
    DENY.iter().any(|d| data.windows(d.len()).any(|w| w == *d))
}

/// `TLSTERM_FUZZ_DEBUG=1` prints each verdict (for triage: run the binary on one input).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("TLSTERM_FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    if escapes_sandbox(data) {
        return;
    }
    let path = workdir().join("fuzz.toml");
    std::fs::write(&path, data).expect("write fuzz.toml");
    let verdict = Config::from_file(&path);
    if debug() {
        eprintln!("verdict: {:?}", verdict.as_ref().map(|_| "ok"));
    }
    match verdict {
        Ok(config) => {
            let secs: u64 = NOW.trim().parse().expect("fixtures/NOW holds Unix seconds");
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let _ = config.check(now);
            let _ = config.summary(now);
            let _ = format!("{config:?}");
        }
        Err(e) => {
            assert!(e.file.ends_with("fuzz.toml"), "error names {:?}", e.file);
            let _ = e.to_string();
        }
    }
});
