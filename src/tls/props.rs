//! Negotiated-session facts and the X-Connection-Properties value, with OpenSSL spellings.
use super::CertKind;

/// What the handshake negotiated, in the spellings the cache layer and logs expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// "TLSv1.2" or "TLSv1.3".
    pub version: &'static str,
    /// OpenSSL cipher name, e.g. "TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256".
    pub cipher: &'static str,
    /// Key-exchange group, e.g. "X25519", "prime256v1".
    pub group: &'static str,
    pub cert_kind: CertKind,
    /// The session was resumed.
    pub resumed: bool,
}

impl SessionInfo {
    /// Reads the negotiated parameters from a finished rustls server connection.
    pub fn from_connection(conn: &rustls::ServerConnection, cert_kind: CertKind) -> Self {
        let _ = (conn, cert_kind);
        todo!()
    }
}

/// `H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;`
pub fn connection_properties(info: &SessionInfo, h2: bool) -> String {
    let _ = (info, h2);
    todo!()
}
