//! Negotiated-session facts and the X-Connection-Properties value, with OpenSSL spellings.
//!
//! Job: turn what rustls negotiated (version, suite, group, resumption) into the names the cache
//! layer, HAProxy-era log pipelines and dashboards already know, and format the
//! `X-Connection-Properties` header value.
//!
//! Not done here: reading the connection's peer data (SNI, ALPN) or writing headers.
//!
//! Invariants: every field is a `'static` name without `;` or spaces, so
//! [`connection_properties`] always matches
//! `^H2=[01]; SSR=[012]; SSL=[^; ]+; C=[^; ]+; EC=[^; ]+; KA=[^; ]+;$`; anything unknown is
//! spelled `UNKNOWN`.
use super::CertKind;
use rustls::{CipherSuite, NamedGroup, ProtocolVersion};

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
    /// Placeholder for a connection without TLS (the plain-HTTP listener); logged as `-`.
    pub fn plain() -> Self {
        SessionInfo {
            version: "-",
            cipher: "-",
            group: "-",
            cert_kind: CertKind::Ecdsa,
            resumed: false,
        }
    }

    /// Reads the negotiated parameters from a finished rustls server connection.
    ///
    /// A resumed TLS 1.2 session performs no key exchange, so its group is "UNKNOWN".
    pub fn from_connection(conn: &rustls::ServerConnection, cert_kind: CertKind) -> Self {
        SessionInfo {
            version: conn.protocol_version().map_or(UNKNOWN, version_name),
            cipher: conn
                .negotiated_cipher_suite()
                .map_or(UNKNOWN, |s| cipher_name(s.suite())),
            group: conn
                .negotiated_key_exchange_group()
                .map_or(UNKNOWN, |g| group_name(g.name())),
            cert_kind: tls12_kind(conn).unwrap_or(cert_kind),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// For TLS 1.2 the suite names the key type (ECDHE-ECDSA / ECDHE-RSA): rustls narrows the
/// client's signature schemes to its offered suites before choosing the certificate, so the
/// suite, not the raw ClientHello, says which certificate was served. `None` for TLS 1.3.
fn tls12_kind(conn: &rustls::ServerConnection) -> Option<CertKind> {
    match conn.negotiated_cipher_suite()? {
        rustls::SupportedCipherSuite::Tls12(s) => Some(match s.sign.first() {
            Some(rustls::SignatureScheme::RSA_PKCS1_SHA256)
            | Some(rustls::SignatureScheme::RSA_PSS_SHA256)
            | Some(rustls::SignatureScheme::RSA_PKCS1_SHA384)
            | Some(rustls::SignatureScheme::RSA_PSS_SHA384)
            | Some(rustls::SignatureScheme::RSA_PKCS1_SHA512)
            | Some(rustls::SignatureScheme::RSA_PSS_SHA512) => CertKind::Rsa,
            _ => CertKind::Ecdsa,
        }),
        rustls::SupportedCipherSuite::Tls13(_) => None,
    }
}

/// Spelling of anything we have no name for.
pub const UNKNOWN: &str = "UNKNOWN";

/// "TLSv1.2" / "TLSv1.3" (OpenSSL spelling).
pub fn version_name(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        _ => UNKNOWN,
    }
}

/// OpenSSL name of a cipher suite.
pub fn cipher_name(s: CipherSuite) -> &'static str {
    match s {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "ECDHE-ECDSA-CHACHA20-POLY1305"
        }
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => UNKNOWN,
    }
}

/// OpenSSL short name of a key-exchange group.
pub fn group_name(g: NamedGroup) -> &'static str {
    match g {
        NamedGroup::X25519 => "X25519",
        NamedGroup::secp256r1 => "prime256v1",
        NamedGroup::secp384r1 => "secp384r1",
        NamedGroup::secp521r1 => "secp521r1",
        NamedGroup::X448 => "X448",
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        _ => UNKNOWN,
    }
}

/// `H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;`
///
/// `SSR` is 1 for a resumed session, else 0 (the value 2 of the cache's regex is never sent).
pub fn connection_properties(info: &SessionInfo, h2: bool) -> String {
    format!(
        "H2={}; SSR={}; SSL={}; C={}; EC={}; KA={};",
        u8::from(h2),
        u8::from(info.resumed),
        info.version,
        info.cipher,
        info.group,
        info.cert_kind.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache's check, `^H2=[01]; SSR=[012]; SSL=[^; ]+; C=[^; ]+; EC=[^; ]+; KA=[^; ]+;$`,
    /// written out by hand.
    fn matches_cache_regex(v: &str) -> bool {
        let Some(body) = v.strip_suffix(';') else {
            return false;
        };
        let parts: Vec<&str> = body.split("; ").collect();
        let keys = ["H2", "SSR", "SSL", "C", "EC", "KA"];
        if parts.len() != keys.len() {
            return false;
        }
        parts.iter().zip(keys).all(|(part, key)| {
            let Some(val) = part.strip_prefix(key).and_then(|p| p.strip_prefix('=')) else {
                return false;
            };
            match key {
                "H2" => val == "0" || val == "1",
                "SSR" => matches!(val, "0" | "1" | "2"),
                _ => !val.is_empty() && !val.contains([';', ' ']),
            }
        })
    }

    #[test]
    fn checker_rejects_bad_values() {
        assert!(!matches_cache_regex(
            "H2=2; SSR=0; SSL=TLSv1.3; C=x; EC=X25519; KA=ECDSA;"
        ));
        assert!(!matches_cache_regex("H2=0; SSR=0; SSL=; C=x; EC=X; KA=E;"));
        assert!(!matches_cache_regex(
            "H2=0; SSR=0; SSL=a b; C=x; EC=X; KA=E;"
        ));
        assert!(!matches_cache_regex("H2=0; SSR=0; SSL=a; C=x; EC=X; KA=E"));
        assert!(matches_cache_regex("H2=0; SSR=2; SSL=a; C=x; EC=X; KA=E;"));
    }

    #[test]
    fn properties_exact_and_well_formed() {
        let mut info = SessionInfo {
            version: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            group: "X25519",
            cert_kind: CertKind::Ecdsa,
            resumed: false,
        };
        assert_eq!(
            connection_properties(&info, false),
            "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;"
        );
        info.resumed = true;
        info.cert_kind = CertKind::Rsa;
        assert_eq!(
            connection_properties(&info, true),
            "H2=1; SSR=1; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=RSA;"
        );
        let all_suites = [
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite::Unknown(0x1234),
        ];
        let groups = [
            NamedGroup::X25519,
            NamedGroup::secp256r1,
            NamedGroup::Unknown(7),
        ];
        let versions = [
            ProtocolVersion::TLSv1_2,
            ProtocolVersion::TLSv1_3,
            ProtocolVersion::SSLv3,
        ];
        for s in all_suites {
            for g in groups {
                for v in versions {
                    let info = SessionInfo {
                        version: version_name(v),
                        cipher: cipher_name(s),
                        group: group_name(g),
                        cert_kind: CertKind::Rsa,
                        resumed: true,
                    };
                    let p = connection_properties(&info, true);
                    assert!(matches_cache_regex(&p), "{p}");
                }
            }
        }
    }

    #[test]
    fn openssl_spellings() {
        let names: Vec<_> = [
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256,
        ]
        .into_iter()
        .map(cipher_name)
        .collect();
        assert_eq!(
            names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384",
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-CHACHA20-POLY1305",
                "UNKNOWN",
            ]
        );
        assert_eq!(group_name(NamedGroup::X25519), "X25519");
        assert_eq!(group_name(NamedGroup::secp256r1), "prime256v1");
        assert_eq!(group_name(NamedGroup::secp384r1), "secp384r1");
        assert_eq!(group_name(NamedGroup::X25519MLKEM768), "X25519MLKEM768");
        assert_eq!(group_name(NamedGroup::FFDHE2048), "UNKNOWN");
        assert_eq!(version_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
        assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(version_name(ProtocolVersion::SSLv3), "UNKNOWN");
    }
}
