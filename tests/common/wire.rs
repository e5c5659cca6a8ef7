//! Parsers the end-to-end tests use to judge what came over the wire: raw HTTP/1.1 responses
//! (as printed by `openssl s_client -quiet`), curl's header dumps, tlsterm access-log lines and
//! the `X-Connection-Properties` value.
//!
//! Does not: talk to any process; everything here takes bytes or strings and returns values, and
//! is strict (a parser that accepts too much would hide a tlsterm bug).

/// One HTTP/1.x response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// "HTTP/1.1", "HTTP/2", ...
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn find_crlfcrlf(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Parses a response head (status line + fields, without the final empty line).
pub fn parse_head(head: &str) -> Result<HttpResponse, String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty head")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("HTTP/") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status in {status_line:?}"))?;
    let mut headers = Vec::new();
    for l in lines {
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line {l:?}"))?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    Ok(HttpResponse {
        version,
        status,
        headers,
        body: Vec::new(),
    })
}

/// Decodes a chunked body at the start of `data`; returns (body, bytes consumed).
fn decode_chunked(data: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &data[pos..];
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size line")?;
        let line = std::str::from_utf8(&rest[..eol]).map_err(|e| e.to_string())?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        pos += eol + 2;
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            let rest = &data[pos..];
            if rest.starts_with(b"\r\n") {
                return Ok((body, pos + 2));
            }
            let end = find_crlfcrlf(rest).ok_or("truncated trailers")?;
            return Ok((body, pos + end + 4));
        }
        if data.len() < pos + size + 2 {
            return Err("truncated chunk".into());
        }
        body.extend_from_slice(&data[pos..pos + size]);
        if &data[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// Splits a byte stream holding complete HTTP/1.1 responses (to GET/POST requests) into
/// responses. Interim 1xx responses are returned too. A response with neither
/// `Content-Length` nor chunked framing runs to the end of the data.
pub fn parse_responses(mut data: &[u8]) -> Result<Vec<HttpResponse>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let end = find_crlfcrlf(data).ok_or_else(|| {
            format!(
                "truncated head after {} responses: {:?}",
                out.len(),
                String::from_utf8_lossy(&data[..data.len().min(200)])
            )
        })?;
        let head = std::str::from_utf8(&data[..end]).map_err(|e| e.to_string())?;
        let mut resp = parse_head(head)?;
        data = &data[end + 4..];
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        if resp.status < 200 || resp.status == 204 || resp.status == 304 {
            // No body.
        } else if chunked {
            let (body, used) = decode_chunked(data)?;
            resp.body = body;
            data = &data[used..];
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl
                .parse()
                .map_err(|_| format!("bad content-length {cl:?}"))?;
            if data.len() < n {
                return Err(format!("truncated body: want {n}, have {}", data.len()));
            }
            resp.body = data[..n].to_vec();
            data = &data[n..];
        } else {
            resp.body = data.to_vec();
            data = &[];
        }
        out.push(resp);
    }
    Ok(out)
}

/// The last (final) response head of a curl `-D` header dump (which also holds 1xx heads).
pub fn parse_curl_dump(dump: &str) -> Result<HttpResponse, String> {
    let heads: Vec<&str> = dump
        .split("\r\n\r\n")
        .map(str::trim_start)
        .filter(|h| !h.is_empty())
        .collect();
    let last = heads.last().ok_or("empty header dump")?;
    parse_head(last)
}

/// Whether `v` matches `^H2=[01]; SSR=[012]; SSL=[^; ]+; C=[^; ]+; EC=[^; ]+; KA=[^; ]+;$`
/// (the cache layer's validation of `X-Connection-Properties`).
pub fn connection_properties_ok(v: &str) -> bool {
    let Some(body) = v.strip_suffix(';') else {
        return false;
    };
    let fields: Vec<&str> = body.split("; ").collect();
    let keys = ["H2", "SSR", "SSL", "C", "EC", "KA"];
    if fields.len() != keys.len() {
        return false;
    }
    fields.iter().zip(keys).all(|(f, k)| {
        let Some(val) = f.strip_prefix(k).and_then(|r| r.strip_prefix('=')) else {
            return false;
        };
        match k {
            "H2" => val == "0" || val == "1",
            "SSR" => val == "0" || val == "1" || val == "2",
            _ => !val.is_empty() && !val.contains([';', ' ']),
        }
    })
}

/// The fields of `X-Connection-Properties` as (key, value) pairs, in order.
pub fn connection_properties(v: &str) -> Vec<(String, String)> {
    v.trim_end_matches(';')
        .split("; ")
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One access-log line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    pub client_ip: String,
    pub client_port: u16,
    /// `dd/Mon/yyyy:HH:MM:SS.mmm`
    pub time: String,
    pub shard: u32,
    /// TR Tw Tc Tr Ta in ms, -1 when not reached.
    pub timers: [i64; 5],
    /// -1 when no response was sent.
    pub status: i32,
    pub bytes: u64,
    /// Two-letter termination state.
    pub ts: String,
    pub tls_version: String,
    pub cipher: String,
    pub cert_kind: String,
    pub method: String,
    pub host: String,
    pub target: String,
    pub http_version: String,
}

fn check_time(t: &str) -> bool {
    // dd/Mon/yyyy:HH:MM:SS.mmm
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..2)
        && b[2] == b'/'
        && MONTHS.contains(&&t[3..6])
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b'.'
        && digits(21..24)
}

/// Parses `{ip}:{port} [{time}] shard{N} {TR}/{Tw}/{Tc}/{Tr}/{Ta} {status} {bytes} {TS}
/// {tls_version}/{cipher}/{cert_kind} "{METHOD} {host} {target} {HTTP/1.1}"`.
pub fn parse_access_line(line: &str) -> Result<AccessLine, String> {
    let err = |what: &str| format!("access line: bad {what}: {line:?}");
    let (pre, quoted) = line.split_once(" \"").ok_or_else(|| err("request part"))?;
    let quoted = quoted
        .strip_suffix('"')
        .ok_or_else(|| err("closing quote"))?;
    let f: Vec<&str> = pre.split(' ').collect();
    if f.len() != 8 {
        return Err(err("field count"));
    }
    let (ip, port) = f[0].rsplit_once(':').ok_or_else(|| err("client"))?;
    let time = f[1]
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| err("time brackets"))?;
    if !check_time(time) {
        return Err(err("time format"));
    }
    let shard = f[2]
        .strip_prefix("shard")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err("shard"))?;
    let timers: Vec<i64> = f[3]
        .split('/')
        .map(|t| t.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| err("timers"))?;
    let timers: [i64; 5] = timers.try_into().map_err(|_| err("timer count"))?;
    if timers.iter().any(|&t| t < -1) {
        return Err(err("timer value"));
    }
    let status: i32 = f[4].parse().map_err(|_| err("status"))?;
    if !(status == -1 || (100..=599).contains(&status)) {
        return Err(err("status range"));
    }
    let bytes: u64 = f[5].parse().map_err(|_| err("bytes"))?;
    let ts = f[6];
    let ts_ok =
        ts.len() == 2 && "CSPLRIDUKcs-".contains(&ts[..1]) && "RQCHDLT-".contains(&ts[1..2]);
    if !ts_ok {
        return Err(err("termination state"));
    }
    let tls: Vec<&str> = f[7].split('/').collect();
    if tls.len() != 3 || tls.iter().any(|s| s.is_empty()) {
        return Err(err("tls part"));
    }
    let q: Vec<&str> = quoted.split(' ').collect();
    if q.len() != 4 {
        return Err(err("request field count"));
    }
    Ok(AccessLine {
        client_ip: ip.to_string(),
        client_port: port.parse().map_err(|_| err("client port"))?,
        time: time.to_string(),
        shard,
        timers,
        status,
        bytes,
        ts: ts.to_string(),
        tls_version: tls[0].to_string(),
        cipher: tls[1].to_string(),
        cert_kind: tls[2].to_string(),
        method: q[0].to_string(),
        host: q[1].to_string(),
        target: q[2].to_string(),
        http_version: q[3].to_string(),
    })
}
