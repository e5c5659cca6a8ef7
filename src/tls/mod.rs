//! TLS: certificate store and resolver, the rustls `ServerConfig`, connection properties,
//! OCSP staples and session-ticket keys.
//!
//! - [`store::load_cert`] → [`store::LoadedCert`] (chain + key from PEM; RSA or ECDSA)
//! - [`store::CertStore`] with `new` and `lookup(sni, schemes)`
//! - [`resolver::Resolver`] implementing rustls `ResolvesServerCert`
//! - [`server_config_with`] building one shard's rustls `ServerConfig` (ring provider, TLS
//!   1.2/1.3, groups X25519MLKEM768 + X25519 + P-256 by default, AES-128-GCM first, server cipher order, ALPN, the shared
//!   ticketer, the shard's own session-ID cache)
//! - [`props::SessionInfo`] and [`props::connection_properties`]
//! - [`ocsp`]: validating, loading and fetching OCSP responses (stapled via
//!   `CertifiedKey::ocsp` by [`crate::reload`])
//! - [`tickets`]: HAProxy-format ticket-key files and the AEAD ticketer
//!
//! Not done here: socket I/O, file watching and reload scheduling (that is [`crate::reload`]).
//! Invariant: the crypto provider is always `rustls::crypto::ring`, passed explicitly; the
//! process-default provider is never installed or consulted.

mod load;
pub mod ocsp;
pub mod pq;
pub mod props;
pub mod resolver;
pub mod store;
#[cfg(test)]
pub(crate) mod testutil;
pub mod tickets;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

pub use store::{load_cert, CertError, CertKind, CertStore, LoadedCert};

/// The ring provider restricted to our suites (server preference order) and the default
/// groups, [`Group::DEFAULT`].
pub fn provider() -> CryptoProvider {
    provider_with_groups(&Group::DEFAULT)
}

/// The ring provider restricted to our suites (server preference order) and `groups`, in that
/// order; a repeated group is kept once, at its first place. X25519MLKEM768 is [`pq`]'s.
///
/// rustls 0.23 picks the group in the *client's* `supported_groups` order among those listed
/// here, so the order matters only to clients built from this provider; the set decides what
/// a server accepts. An empty list makes `ServerConfig` construction fail.
pub fn provider_with_groups(groups: &[Group]) -> CryptoProvider {
    let mut kx_groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for g in groups {
        let kx = g.kx_group();
        if !kx_groups.iter().any(|k| k.name() == kx.name()) {
            kx_groups.push(kx);
        }
    }
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups,
        ..rustls::crypto::ring::default_provider()
    }
}

/// A key-exchange group the server can offer (`tls.groups`), closed so configuration names
/// map to exactly one implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Hybrid post-quantum X25519 + ML-KEM-768 (0x11EC), TLS 1.3 only; [`pq::X25519MLKEM768`].
    X25519MLKEM768,
    /// X25519 (0x001D), ring.
    X25519,
    /// NIST P-256 / secp256r1 (0x0017), ring.
    P256,
}

impl Group {
    /// `["X25519MLKEM768", "X25519", "P-256"]`.
    pub const DEFAULT: [Group; 3] = [Group::X25519MLKEM768, Group::X25519, Group::P256];

    /// Parses a configuration name: exactly `"X25519MLKEM768"`, `"X25519"` or `"P-256"`.
    pub fn from_name(name: &str) -> Option<Group> {
        [Group::X25519MLKEM768, Group::X25519, Group::P256]
            .into_iter()
            .find(|g| g.name() == name)
    }

    /// The configuration name, the inverse of [`Group::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Group::X25519MLKEM768 => "X25519MLKEM768",
            Group::X25519 => "X25519",
            Group::P256 => "P-256",
        }
    }

    /// The rustls implementation.
    pub fn kx_group(self) -> &'static dyn rustls::crypto::SupportedKxGroup {
        match self {
            Group::X25519MLKEM768 => pq::X25519MLKEM768,
            Group::X25519 => kx_group::X25519,
            Group::P256 => kx_group::SECP256R1,
        }
    }
}

/// Builds the server configuration shared (immutably) by all shards.
/// `alpn`: protocols in preference order, e.g. `[b"http/1.1"]`.
///
/// Server cipher order (`ignore_client_order`), TLS 1.3 and 1.2, no client auth, certificates
/// from [`resolver::Resolver`]. Session storage and tickets are rustls defaults for now.
pub fn server_config(
    store: Arc<CertStore>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    server_config_with(
        store,
        &ServerOptions {
            alpn,
            ticketer: None,
            session_cache_size: 256,
            groups: &Group::DEFAULT,
        },
    )
}

/// Per-shard choices for [`server_config_with`].
pub struct ServerOptions<'a> {
    /// ALPN protocols in preference order.
    pub alpn: &'a [&'a [u8]],
    /// Session-ticket producer shared by all shards (and, with a key file, by all hosts);
    /// `None` = rustls' default (stateful resumption only).
    pub ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    /// TLS 1.2 session-ID cache entries (this shard's own cache); 0 = none.
    pub session_cache_size: usize,
    /// Key-exchange groups in preference order.
    pub groups: &'a [Group],
}

/// Builds one shard's server configuration: the shared resolver and ticketer, its own
/// session-ID cache.
pub fn server_config_with(
    store: Arc<CertStore>,
    opts: &ServerOptions<'_>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let alpn = opts.alpn;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(provider_with_groups(opts.groups)))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver::Resolver::new(store)));
    config.ignore_client_order = true;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // rustls default (2 tickets per full TLS 1.3 handshake), stated so it is a decision.
    config.send_tls13_tickets = 2;
    if let Some(t) = &opts.ticketer {
        config.ticketer = Arc::clone(t);
    }
    config.session_storage = if opts.session_cache_size == 0 {
        Arc::new(rustls::server::NoServerSessionStorage {})
    } else {
        rustls::server::ServerSessionMemoryCache::new(opts.session_cache_size)
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::props::{connection_properties, SessionInfo};
    use super::testutil::{client_config, ecdsa_p256, handshake, loaded, rsa, ClientSpec, TempDir};
    use super::*;
    use rustls::crypto::ring::cipher_suite as cs;
    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;
    use rustls::SignatureScheme as S;
    use std::sync::Mutex;

    /// ECDSA + RSA for `localhost` (default), ECDSA for `*.example.org`.
    fn store(dir: &TempDir) -> Arc<CertStore> {
        let certs = vec![
            loaded(dir, "ecdsa.pem", &["localhost", "127.0.0.1"], &ecdsa_p256()),
            loaded(dir, "rsa.pem", &["localhost", "127.0.0.1"], &rsa()),
            loaded(dir, "wild.pem", &["*.example.org"], &ecdsa_p256()),
        ];
        Arc::new(CertStore::new(certs, Some("localhost")).unwrap())
    }

    /// Index into `store.certs()` of the certificate the client was shown.
    fn served(store: &CertStore, client: &rustls::ClientConnection) -> usize {
        let leaf = &client.peer_certificates().unwrap()[0];
        store
            .certs()
            .iter()
            .position(|c| &c.certified_key.cert[0] == leaf)
            .unwrap()
    }

    fn info(server: &rustls::ServerConnection, store: &CertStore, idx: usize) -> SessionInfo {
        SessionInfo::from_connection(server, store.certs()[idx].kind)
    }

    #[test]
    fn tls13_server_order_x25519_ecdsa() {
        let dir = TempDir::new("hs-13");
        let store = store(&dir);
        let server = server_config(store.clone(), &[b"http/1.1"]).unwrap();
        let spec = ClientSpec {
            suites: Some(vec![
                cs::TLS13_AES_256_GCM_SHA384,
                cs::TLS13_CHACHA20_POLY1305_SHA256,
                cs::TLS13_AES_128_GCM_SHA256,
            ]),
            ..ClientSpec::default()
        };
        let (client, server) = handshake(client_config(&spec), server, "localhost").unwrap();
        assert_eq!(served(&store, &client), 0);
        assert_eq!(server.server_name(), Some("localhost"));
        let i = info(&server, &store, 0);
        assert_eq!(
            i,
            SessionInfo {
                version: "TLSv1.3",
                cipher: "TLS_AES_128_GCM_SHA256",
                group: "X25519",
                cert_kind: CertKind::Ecdsa,
                resumed: false,
            }
        );
        assert_eq!(
            connection_properties(&i, false),
            "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;"
        );
    }

    #[test]
    fn rsa_only_client_gets_rsa() {
        let dir = TempDir::new("hs-rsa");
        let store = store(&dir);
        let server = server_config(store.clone(), &[]).unwrap();
        let schemes = [S::RSA_PSS_SHA256, S::RSA_PKCS1_SHA256];
        let spec = ClientSpec {
            schemes: Some(&schemes),
            ..ClientSpec::default()
        };
        let (client, conn) = handshake(client_config(&spec), server.clone(), "localhost").unwrap();
        assert_eq!(served(&store, &client), 1);
        assert_eq!(
            connection_properties(&info(&conn, &store, 1), false),
            "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=RSA;"
        );
        // TLS 1.2 as well: the RSA suite is chosen.
        let spec = ClientSpec {
            versions: &[&rustls::version::TLS12],
            schemes: Some(&schemes),
            ..ClientSpec::default()
        };
        let (client, server) = handshake(client_config(&spec), server, "localhost").unwrap();
        assert_eq!(served(&store, &client), 1);
        assert_eq!(
            connection_properties(&info(&server, &store, 1), false),
            "H2=0; SSR=0; SSL=TLSv1.2; C=ECDHE-RSA-AES128-GCM-SHA256; EC=X25519; KA=RSA;"
        );
    }

    #[test]
    fn tls12_client_gets_ecdhe_ecdsa_aes128() {
        let dir = TempDir::new("hs-12");
        let store = store(&dir);
        let server = server_config(store.clone(), &[]).unwrap();
        let spec = ClientSpec {
            versions: &[&rustls::version::TLS12],
            ..ClientSpec::default()
        };
        let (client, server) = handshake(client_config(&spec), server, "localhost").unwrap();
        assert_eq!(served(&store, &client), 0);
        let i = info(&server, &store, 0);
        assert_eq!(i.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
        assert_eq!(
            connection_properties(&i, false),
            "H2=0; SSR=0; SSL=TLSv1.2; C=ECDHE-ECDSA-AES128-GCM-SHA256; EC=X25519; KA=ECDSA;"
        );
    }

    #[test]
    fn p256_only_client_and_alpn_h2() {
        let dir = TempDir::new("hs-p256");
        let store = store(&dir);
        let server = server_config(store.clone(), &[b"h2", b"http/1.1"]).unwrap();
        let alpn: &[&[u8]] = &[b"http/1.1", b"h2"];
        let spec = ClientSpec {
            groups: Some(vec![rustls::crypto::ring::kx_group::SECP256R1]),
            alpn,
            ..ClientSpec::default()
        };
        let (_, server) = handshake(client_config(&spec), server, "localhost").unwrap();
        assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(
            connection_properties(&info(&server, &store, 0), true),
            "H2=1; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=prime256v1; KA=ECDSA;"
        );
    }

    #[test]
    fn wildcard_sni_and_no_sni() {
        let dir = TempDir::new("hs-sni");
        let store = store(&dir);
        let server = server_config(store.clone(), &[]).unwrap();
        let client = client_config(&ClientSpec::default());
        let (c, s) = handshake(client.clone(), server.clone(), "Foo.Example.org").unwrap();
        assert_eq!(served(&store, &c), 2);
        assert_eq!(s.server_name(), Some("foo.example.org"));
        // An IP address sends no SNI: the default (ECDSA) certificate.
        let (c, s) = handshake(client, server, "127.0.0.1").unwrap();
        assert_eq!(served(&store, &c), 0);
        assert_eq!(s.server_name(), None);
        // Deeper names are not covered by the wildcard: default certificate.
        let client = client_config(&ClientSpec::default());
        let server = server_config(store.clone(), &[]).unwrap();
        let (c, _) = handshake(client, server, "a.b.example.org").unwrap();
        assert_eq!(served(&store, &c), 0);
    }

    #[test]
    fn resumption_sets_ssr() {
        let dir = TempDir::new("hs-resume");
        let store = store(&dir);
        let server = server_config(store.clone(), &[]).unwrap();
        for (versions, first, again) in [
            (
                rustls::DEFAULT_VERSIONS,
                "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;",
                "H2=0; SSR=1; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;",
            ),
            (
                &[&rustls::version::TLS12][..],
                "H2=0; SSR=0; SSL=TLSv1.2; C=ECDHE-ECDSA-AES128-GCM-SHA256; EC=X25519; KA=ECDSA;",
                // No key exchange happens in a resumed TLS 1.2 session.
                "H2=0; SSR=1; SSL=TLSv1.2; C=ECDHE-ECDSA-AES128-GCM-SHA256; EC=UNKNOWN; KA=ECDSA;",
            ),
        ] {
            let client = client_config(&ClientSpec {
                versions,
                ..ClientSpec::default()
            });
            let (_, s) = handshake(client.clone(), server.clone(), "localhost").unwrap();
            assert_eq!(connection_properties(&info(&s, &store, 0), false), first);
            let (_, s) = handshake(client, server.clone(), "localhost").unwrap();
            assert_eq!(connection_properties(&info(&s, &store, 0), false), again);
        }
    }

    #[test]
    fn no_usable_certificate_fails_cleanly() {
        let dir = TempDir::new("hs-fail");
        let certs = vec![loaded(&dir, "e.pem", &["localhost"], &ecdsa_p256())];
        let store = Arc::new(CertStore::new(certs, None).unwrap());
        let server = server_config(store, &[]).unwrap();
        let schemes = [S::RSA_PSS_SHA256];
        let spec = ClientSpec {
            schemes: Some(&schemes),
            ..ClientSpec::default()
        };
        assert!(handshake(client_config(&spec), server, "localhost").is_err());
    }

    /// Records what the ClientHello carried, then delegates to the real resolver.
    #[derive(Debug)]
    struct Recording {
        inner: resolver::Resolver,
        seen: Mutex<Vec<(Option<String>, Vec<S>)>>,
    }

    impl ResolvesServerCert for Recording {
        fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            let sni = hello.server_name().map(str::to_owned);
            let schemes = hello.signature_schemes().to_vec();
            self.seen.lock().unwrap().push((sni, schemes));
            self.inner.resolve(hello)
        }
    }

    #[test]
    fn lookup_before_handshake_agrees_with_resolver() {
        let dir = TempDir::new("hs-agree");
        let store = store(&dir);
        let rec = Arc::new(Recording {
            inner: resolver::Resolver::new(store.clone()),
            seen: Mutex::new(Vec::new()),
        });
        let base = server_config(store.clone(), &[]).unwrap();
        let mut cfg = (*base).clone();
        cfg.cert_resolver = rec.clone();
        let cfg = Arc::new(cfg);
        let pss = [S::RSA_PSS_SHA256];
        let pkcs1 = [S::RSA_PKCS1_SHA256];
        let tls12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        let cases: [(&str, Option<&[S]>, _, usize); 4] = [
            ("localhost", None, rustls::DEFAULT_VERSIONS, 0),
            ("localhost", Some(&pss), rustls::DEFAULT_VERSIONS, 1),
            ("localhost", Some(&pkcs1), tls12, 1),
            ("x.example.org", None, rustls::DEFAULT_VERSIONS, 2),
        ];
        for (name, schemes, versions, expect) in cases {
            let spec = ClientSpec {
                versions,
                schemes,
                ..ClientSpec::default()
            };
            let (c, _) = handshake(client_config(&spec), cfg.clone(), name).unwrap();
            assert_eq!(served(&store, &c), expect);
            let (sni, schemes) = rec.seen.lock().unwrap().pop().unwrap();
            assert_eq!(sni.as_deref(), Some(name));
            let kind = store.kind_for(sni.as_deref(), &schemes).unwrap();
            assert_eq!(kind, store.certs()[expect].kind);
        }
    }

    #[test]
    fn provider_order_is_exact() {
        let p = provider();
        let suites: Vec<_> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        use rustls::CipherSuite as C;
        assert_eq!(
            suites,
            [
                C::TLS13_AES_128_GCM_SHA256,
                C::TLS13_AES_256_GCM_SHA384,
                C::TLS13_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        let groups: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [
                rustls::NamedGroup::X25519MLKEM768,
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1
            ]
        );
    }

    #[test]
    fn group_names_and_custom_lists() {
        for (name, g) in [
            ("X25519MLKEM768", Group::X25519MLKEM768),
            ("X25519", Group::X25519),
            ("P-256", Group::P256),
        ] {
            assert_eq!(Group::from_name(name), Some(g));
            assert_eq!(g.name(), name);
        }
        for bad in [
            "x25519",
            "P256",
            "prime256v1",
            "secp256r1",
            "X25519Kyber768Draft00",
            "",
        ] {
            assert_eq!(Group::from_name(bad), None, "{bad}");
        }
        let names =
            |p: CryptoProvider| -> Vec<_> { p.kx_groups.iter().map(|g| g.name()).collect() };
        use rustls::NamedGroup as N;
        assert_eq!(
            names(provider_with_groups(&[
                Group::P256,
                Group::X25519,
                Group::P256
            ])),
            [N::secp256r1, N::X25519]
        );
        assert_eq!(names(provider_with_groups(&[Group::X25519])), [N::X25519]);
        assert!(names(provider_with_groups(&[])).is_empty());
        let empty =
            rustls::ServerConfig::builder_with_provider(Arc::new(provider_with_groups(&[])))
                .with_protocol_versions(&[&rustls::version::TLS13]);
        assert!(empty.is_err());
    }
}
