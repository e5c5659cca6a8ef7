//! The serde mirror of the TOML file. Only `config` sees these types.
//!
//! Job: deserialize the text into plain structs that follow the file's shape
//! (`deny_unknown_fields` everywhere), and turn a TOML error into the dotted key it is about.
//!
//! Does not: interpret values. Durations, addresses, paths and numbers stay as written here
//! (strings, `i64`) so that `config::build` can check them and name the exact key when one is
//! wrong; serde's own messages for those would be vaguer.
//!
//! Invariant: every optional section and key is an `Option` or defaults to empty, so a serde
//! error can only be a syntax error, an unknown key or a value of the wrong TOML type.
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub listener: Vec<FileListener>,
    pub shards: Option<FileShards>,
    #[serde(default)]
    pub certificate: Vec<FileCertificate>,
    pub tls: Option<FileTls>,
    pub upstream: Option<FileUpstream>,
    pub timeouts: Option<FileTimeouts>,
    pub limits: Option<FileLimits>,
    pub log: Option<FileLog>,
    pub admin: Option<FileAdmin>,
    pub sli: Option<FileSli>,
    pub ocsp: Option<FileOcsp>,
    pub h2: Option<FileH2>,
    #[serde(default)]
    pub redirect: Vec<FileRedirect>,
    pub process: Option<FileProcess>,
    pub debug: Option<FileDebug>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileProcess {
    pub user: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDebug {
    pub networks: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRedirect {
    pub address: Option<String>,
    pub backlog: Option<i64>,
    #[serde(default)]
    pub exempt_paths: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileH2 {
    pub enabled: Option<bool>,
    pub header_table_size: Option<i64>,
    pub initial_window_size: Option<i64>,
    pub connection_window_size: Option<i64>,
    pub max_concurrent_streams: Option<i64>,
    pub max_frame_size: Option<i64>,
    pub max_header_list_size: Option<i64>,
    pub max_send_buffer_size: Option<i64>,
    pub max_resets_per_second: Option<i64>,
    pub max_control_frames_per_second: Option<i64>,
    pub max_pending_accept_reset_streams: Option<i64>,
    pub max_local_error_reset_streams: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileListener {
    pub address: Option<String>,
    pub backlog: Option<i64>,
    pub maxconn: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileShards {
    /// `"auto"`, `"auto:N"`, `"0-3,5"` or an array of integers: checked by `build`.
    pub cpus: Option<toml::Value>,
    pub steering: Option<String>,
    pub cooperative_taskrun: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCertificate {
    pub pem: Option<String>,
    pub key: Option<String>,
    pub ocsp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTls {
    pub default_name: Option<String>,
    pub ticket_keys: Option<String>,
    pub ticket_lifetime: Option<String>,
    pub session_cache_size: Option<i64>,
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileOcsp {
    pub fetch: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileUpstream {
    pub address: Option<String>,
    pub backends: Option<Vec<String>>,
    pub balance: Option<String>,
    pub eject_after_failures: Option<i64>,
    pub eject_duration: Option<String>,
    pub check_path: Option<String>,
    pub check_host: Option<String>,
    pub check_interval: Option<String>,
    pub check_timeout: Option<String>,
    pub check_rise: Option<i64>,
    pub check_fall: Option<i64>,
    pub max_idle_per_shard: Option<i64>,
    pub max_connections_per_shard: Option<i64>,
    pub health_path: Option<String>,
    pub health_host_prefix: Option<String>,
    pub health_connections_per_shard: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTimeouts {
    pub client: Option<String>,
    pub keepalive: Option<String>,
    pub header: Option<String>,
    pub handshake: Option<String>,
    pub server: Option<String>,
    pub connect: Option<String>,
    pub grace: Option<String>,
    pub queue: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLimits {
    pub max_head_bytes: Option<i64>,
    pub max_uri_bytes: Option<i64>,
    pub max_headers: Option<i64>,
    pub max_body_bytes: Option<i64>,
    pub per_ip_max_concurrent: Option<i64>,
    pub per_ip_penalty: Option<String>,
    #[serde(default)]
    pub trusted_networks: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLog {
    pub access: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAdmin {
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSli {
    pub latency_threshold: Option<String>,
}

/// A TOML or serde error located in the text: `(key, reason)`.
pub(crate) fn parse(text: &str) -> Result<FileConfig, (String, String)> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                let key = key_at(text, span.start).unwrap_or_else(|| "(syntax)".into());
                (key, format!("line {line}, column {col}: {msg}"))
            }
            None => ("(syntax)".into(), msg),
        }
    })
}

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The dotted key (`certificate[1].pem`, `timeouts.server`) of the line holding byte `pos`,
/// found by scanning the table headers above it. A best effort for error messages: it
/// understands the plain `[table]`, `[[array]]` and `key = value` lines this format uses.
/// `None` when the position is not on a key or header line.
pub(crate) fn key_at(text: &str, pos: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        let trimmed = line.trim();
        let header = header_of(trimmed);
        if let Some((name, is_array)) = &header {
            let name = name.to_string();
            table = Some(if *is_array {
                let idx = match counts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, c)) => {
                        *c += 1;
                        *c - 1
                    }
                    None => {
                        counts.push((name.clone(), 1));
                        0
                    }
                };
                format!("{name}[{idx}]")
            } else {
                name
            });
        }
        if pos < end || end == text.len() {
            if header.is_some() {
                return table;
            }
            let (k, _) = trimmed.split_once('=')?;
            let k = k.trim().trim_matches('"');
            if k.is_empty() || k.starts_with('#') {
                return None;
            }
            return Some(match &table {
                Some(t) => format!("{t}.{k}"),
                None => k.to_string(),
            });
        }
        offset = end;
    }
    None
}

/// `[name]` → `(name, false)`, `[[name]]` → `(name, true)`; comments after it allowed.
fn header_of(line: &str) -> Option<(&str, bool)> {
    let line = line.split('#').next().unwrap_or("").trim();
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        return Some((inner.trim(), true));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    Some((inner.trim(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[[listener]]\naddress = \"a\"\n\n[[listener]]\naddress = \"b\"\n\
                        [timeouts] # comment\nserver = \"1s\"\n[[certificate]]\npem = \"x\"\n";

    #[test]
    fn key_of_lines() {
        let at = |needle: &str| key_at(TEXT, TEXT.find(needle).unwrap());
        assert_eq!(at("\"a\"").as_deref(), Some("listener[0].address"));
        assert_eq!(at("\"b\"").as_deref(), Some("listener[1].address"));
        assert_eq!(at("server").as_deref(), Some("timeouts.server"));
        assert_eq!(at("[timeouts]").as_deref(), Some("timeouts"));
        assert_eq!(at("pem").as_deref(), Some("certificate[0].pem"));
        assert_eq!(key_at(TEXT, TEXT.find("\n\n").unwrap() + 1), None);
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab\ncd", 99), (2, 3));
    }

    #[test]
    fn unknown_nested_key_is_located() {
        let (key, reason) = parse("[timeouts]\nclient = \"1s\"\nbogus = \"2s\"\n").unwrap_err();
        assert_eq!(key, "timeouts.bogus");
        assert!(
            reason.starts_with("line 3, column 1: unknown field `bogus`"),
            "{reason}"
        );
    }

    #[test]
    fn unknown_top_level_key_is_located() {
        let (key, reason) = parse("bogus = 1\n").unwrap_err();
        assert_eq!(key, "bogus");
        assert!(
            reason.contains("unknown field `bogus`, expected"),
            "{reason}"
        );
        let (key, reason) = parse("[upstreams]\naddress = \"x\"\n").unwrap_err();
        assert_eq!(key, "upstreams");
        assert!(reason.contains("unknown field `upstreams`"), "{reason}");
    }

    #[test]
    fn wrong_type_is_located() {
        let (key, reason) =
            parse("[[listener]]\naddress = \"a\"\nbacklog = \"big\"\n").unwrap_err();
        assert_eq!(key, "listener[0].backlog");
        assert!(reason.starts_with("line 3, column 11:"), "{reason}");
    }

    #[test]
    fn syntax_error_has_line() {
        let (_, reason) = parse("[upstream]\naddress = \"unterminated\n").unwrap_err();
        assert!(reason.starts_with("line 2, column"), "{reason}");
    }

    #[test]
    fn odd_text_gives_errors_not_panics() {
        for t in [
            "ü = [",
            "[[",
            "[a.b]\nx=1",
            "=",
            "\"k\" = 1",
            "a = \"\"\"\n\né",
        ] {
            assert!(parse(t).is_err(), "{t}");
        }
        for p in 0..20 {
            let _ = key_at("é = 1\n[ü]\nx", p);
        }
    }

    #[test]
    fn empty_file_parses_to_defaults() {
        let f = parse("").unwrap();
        assert!(f.listener.is_empty() && f.certificate.is_empty() && f.upstream.is_none());
    }
}
