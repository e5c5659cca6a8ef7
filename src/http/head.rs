//! Shared pieces of head handling: the strict line scanner that finds where a head ends, and
//! small helpers for comma-separated token lists and hop-by-hop header names. Sans-IO.
//!
//! The scanner runs *before* httparse because httparse is lenient where a proxy must not be:
//! it accepts bare LF line endings, and its error kinds do not say which smuggling shape was
//! seen. The scanner walks the bytes once and enforces:
//! - every line ends with CRLF (a bare LF, or a CR not followed by LF, is a fault);
//! - no field line starts with SP/HTAB (obs-fold);
//! - every field line has a non-empty name directly followed by `:` (no whitespace before it);
//! - field values carry no control characters other than HTAB (no NUL, no DEL);
//! - the head (including leading empty lines and the final blank line) fits `max_head` bytes,
//!   and has at most `max_fields` field lines.
//!
//! It does not check token characters, the request/status line, or any header semantics:
//! httparse and the request/response modules do that on the complete head.

/// Field slots for httparse, sized by the scanner's field count: on the stack for the usual
/// head (a browser's request or a cache's response has ten to twenty fields), on the heap past
/// [`Slots::ON_STACK`], so parsing the common head allocates nothing for them.
pub(crate) struct Slots<'b> {
    stack: [httparse::Header<'b>; Slots::ON_STACK],
    heap: Vec<httparse::Header<'b>>,
}

impl<'b> Slots<'b> {
    pub(crate) const ON_STACK: usize = 32;

    pub(crate) fn new() -> Self {
        Slots {
            stack: [httparse::EMPTY_HEADER; Slots::ON_STACK],
            heap: Vec::new(),
        }
    }

    /// `fields` empty slots.
    pub(crate) fn take(&mut self, fields: usize) -> &mut [httparse::Header<'b>] {
        if fields <= Slots::ON_STACK {
            &mut self.stack[..fields]
        } else {
            self.heap.resize(fields, httparse::EMPTY_HEADER);
            &mut self.heap[..]
        }
    }
}

/// Why the scanner refused a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFault {
    BareLf,
    BareCr,
    ObsFold,
    SpaceBeforeColon,
    NoColon,
    EmptyName,
    CtlInValue,
}

impl LineFault {
    /// Shapes that different parsers read differently (a desync risk), as opposed to plain
    /// garbage that every parser refuses.
    pub(crate) fn is_smuggling(self) -> bool {
        !matches!(self, LineFault::NoColon | LineFault::EmptyName)
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            LineFault::BareLf => "bare LF line ending",
            LineFault::BareCr => "bare CR",
            LineFault::ObsFold => "obsolete line folding",
            LineFault::SpaceBeforeColon => "whitespace between field name and colon",
            LineFault::NoColon => "field line without colon",
            LineFault::EmptyName => "empty field name",
            LineFault::CtlInValue => "control character in field value",
        }
    }
}

/// Outcome of [`scan_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadScan {
    /// No fault so far; the blank line has not arrived yet.
    Incomplete,
    /// The head is (or will necessarily be) longer than `max_head`.
    TooLarge,
    /// More than `max_fields` field lines.
    TooManyFields,
    Fault(LineFault),
    /// `start`: offset of the first line after leading empty lines (RFC 9112 §2.2 allows a
    /// server to skip them); `head_len`: offset just past the final CRLF; `fields`: number of
    /// field lines.
    Complete {
        start: usize,
        head_len: usize,
        fields: usize,
    },
}

/// Offset of the first byte after leading CRLF pairs (empty lines before a start line).
pub(crate) fn skip_leading_crlf(buf: &[u8]) -> usize {
    let mut start = 0;
    while buf.len() >= start + 2 && buf[start] == b'\r' && buf[start + 1] == b'\n' {
        start += 2;
    }
    start
}

/// Walks `buf` from its start and decides whether it holds a complete, well-formed head.
pub(crate) fn scan_head(buf: &[u8], max_head: usize, max_fields: usize) -> HeadScan {
    let start = skip_leading_crlf(buf);
    if start > max_head {
        return HeadScan::TooLarge;
    }
    // Bytes at or past `scan_end` can only end a line whose head exceeds `max_head`.
    let scan_end = buf.len().min(max_head);
    let incomplete = if buf.len() >= max_head {
        HeadScan::TooLarge
    } else {
        HeadScan::Incomplete
    };
    let mut line_start = start;
    let mut fields = 0usize;
    let mut start_line = true;
    loop {
        let mut j = line_start;
        let cr = loop {
            if j >= scan_end {
                return incomplete;
            }
            match buf[j] {
                b'\n' => return HeadScan::Fault(LineFault::BareLf),
                b'\r' => match buf.get(j + 1) {
                    None if j + 2 > max_head => return HeadScan::TooLarge,
                    None => return HeadScan::Incomplete,
                    Some(b'\n') => break j,
                    Some(_) => return HeadScan::Fault(LineFault::BareCr),
                },
                _ => j += 1,
            }
        };
        let next = cr + 2;
        if next > max_head {
            return HeadScan::TooLarge;
        }
        let line = &buf[line_start..cr];
        if start_line {
            start_line = false;
        } else if line.is_empty() {
            return HeadScan::Complete {
                start,
                head_len: next,
                fields,
            };
        } else {
            if let Err(fault) = check_field_line(line) {
                return HeadScan::Fault(fault);
            }
            fields += 1;
            if fields > max_fields {
                return HeadScan::TooManyFields;
            }
        }
        line_start = next;
    }
}

/// Checks one field line (without its CRLF) for the shapes httparse does not name.
pub(crate) fn check_field_line(line: &[u8]) -> Result<(), LineFault> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(LineFault::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(LineFault::NoColon)?;
    if colon == 0 {
        return Err(LineFault::EmptyName);
    }
    if matches!(line[colon - 1], b' ' | b'\t') {
        return Err(LineFault::SpaceBeforeColon);
    }
    if line[colon + 1..].iter().any(|&b| is_ctl_in_value(b)) {
        return Err(LineFault::CtlInValue);
    }
    Ok(())
}

/// A control character not allowed in a field value (everything below SP except HTAB, and DEL).
pub(crate) fn is_ctl_in_value(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits a comma-separated list value into its elements with surrounding OWS trimmed.
/// Empty elements are kept (callers decide whether they matter).
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// `value` without leading and trailing SP/HTAB.
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let from = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let to = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(from, |p| p + 1);
    &value[from..to]
}

/// Whether the list `value` contains `token` (ASCII case-insensitive).
pub(crate) fn list_contains(value: &[u8], token: &str) -> bool {
    list_elements(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Header fields that describe one connection and are never forwarded (RFC 9110 §7.6.1),
/// besides those the Connection header lists.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Fields that frame the message or route it; a `Connection` header naming them is ignored
/// for them, since dropping them while forwarding the body verbatim would desynchronise the
/// next hop.
pub(crate) fn is_protected_from_connection(name: &str) -> bool {
    ["host", "content-length", "transfer-encoding", "expect"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// Whether a field is dropped when forwarding a message: hop-by-hop names, and names listed
/// in a `Connection` header of the same message (unless protected).
pub(crate) fn is_connection_specific(headers: &[super::Header], name: &str) -> bool {
    is_hop_by_hop(name)
        || (!is_protected_from_connection(name) && listed_in_connection(headers, name))
}

/// Whether `name` is listed by any `Connection` header in `headers`.
pub(crate) fn listed_in_connection(headers: &[super::Header], name: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .any(|h| list_contains(&h.value, name))
}

/// Parses a Content-Length value: 1*DIGIT, no sign, no whitespace, no overflow.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// Appends the decimal form of `n` to `out` without allocating.
pub(crate) fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `name: value\r\n`.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
