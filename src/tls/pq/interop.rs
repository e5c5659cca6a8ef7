//! Interoperability and negotiation tests for X25519MLKEM768 (compiled only for tests).
//!
//! The independent implementation is rustls' aws-lc-rs provider (a dev-dependency): its
//! X25519MLKEM768 is AWS-LC's ML-KEM, so agreeing with it checks our share layout, combiner
//! order and both KEM directions against code we did not write. Handshakes run in memory
//! with `testutil`'s certificates; a local pump delivers the server's alert to the client so
//! the test sees what a client sees when the server refuses a share.
use super::super::props::{connection_properties, SessionInfo};
use super::super::testutil::{ecdsa_p256, handshake, loaded, AnyCert, TempDir};
use super::super::{provider_with_groups, resolver, server_config, CertKind, CertStore, Group};
use super::*;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::ServerName;
use rustls::{
    AlertDescription, ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection,
};
use std::io::{Read, Write};
use std::sync::Arc;

fn store(dir: &TempDir) -> Arc<CertStore> {
    let certs = vec![loaded(dir, "ecdsa.pem", &["localhost"], &ecdsa_p256())];
    Arc::new(CertStore::new(certs, Some("localhost")).unwrap())
}

/// Our production server configuration (default groups).
fn our_server(dir: &TempDir) -> Arc<ServerConfig> {
    server_config(store(dir), &[]).unwrap()
}

/// A client on `provider` offering `groups` in that order, TLS 1.3 only.
fn client_on(
    provider: CryptoProvider,
    groups: Vec<&'static dyn SupportedKxGroup>,
) -> Arc<ClientConfig> {
    let provider = CryptoProvider {
        kx_groups: groups,
        ..provider
    };
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert::new(None)))
            .with_no_client_auth(),
    )
}

fn aws_client(groups: Vec<&'static dyn SupportedKxGroup>) -> Arc<ClientConfig> {
    client_on(aws_lc_rs::default_provider(), groups)
}

fn group_of(server: &ServerConnection) -> NamedGroup {
    server.negotiated_key_exchange_group().unwrap().name()
}

/// Application data both ways over an established pair.
fn exchange(client: &mut ClientConnection, server: &mut ServerConnection) {
    client
        .writer()
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    client.write_tls(&mut buf).unwrap();
    server.read_tls(&mut &buf[..]).unwrap();
    server.process_new_packets().unwrap();
    let mut got = [0u8; 18];
    server.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");
    server.writer().write_all(b"HTTP/1.1 204 \r\n\r\n").unwrap();
    buf.clear();
    while server.wants_write() {
        server.write_tls(&mut buf).unwrap();
    }
    client.read_tls(&mut &buf[..]).unwrap();
    client.process_new_packets().unwrap();
    let mut got = [0u8; 17];
    client.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 204 \r\n\r\n");
}

#[test]
fn aws_lc_client_negotiates_hybrid_with_our_server() {
    let dir = TempDir::new("pq-aws-client");
    let client = aws_client(vec![
        aws_lc_rs::kx_group::X25519MLKEM768,
        aws_lc_rs::kx_group::X25519,
    ]);
    let (mut c, mut s) = handshake(client, our_server(&dir), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519MLKEM768);
    assert_eq!(u16::from(group_of(&s)), 0x11ec);
    assert_eq!(
        c.negotiated_key_exchange_group().unwrap().name(),
        NamedGroup::X25519MLKEM768
    );
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    exchange(&mut c, &mut s);
    let info = SessionInfo::from_connection(&s, CertKind::Ecdsa);
    assert_eq!(info.group, "X25519MLKEM768");
    assert_eq!(
        connection_properties(&info, false),
        "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519MLKEM768; KA=ECDSA;"
    );
}

#[test]
fn aws_lc_default_client_gets_hybrid() {
    // aws-lc-rs' own default group list, unchanged, as a stock rustls client would send it.
    let dir = TempDir::new("pq-aws-default");
    let groups = aws_lc_rs::default_provider().kx_groups;
    let (_, s) = handshake(aws_client(groups), our_server(&dir), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519MLKEM768);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn our_client_against_aws_lc_server() {
    // Our client side (key generation, decapsulation) against AWS-LC's encapsulation, and
    // its classical half when the server picks plain X25519.
    let dir = TempDir::new("pq-aws-server");
    let resolver = Arc::new(resolver::Resolver::new(store(&dir)));
    for (server_groups, expect) in [
        (
            vec![
                aws_lc_rs::kx_group::X25519MLKEM768,
                aws_lc_rs::kx_group::X25519,
            ],
            NamedGroup::X25519MLKEM768,
        ),
        (vec![aws_lc_rs::kx_group::X25519], NamedGroup::X25519),
    ] {
        let provider = CryptoProvider {
            kx_groups: server_groups,
            ..aws_lc_rs::default_provider()
        };
        let server = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        let client = client_on(
            rustls::crypto::ring::default_provider(),
            vec![X25519MLKEM768, kx_group::X25519],
        );
        let (mut c, mut s) = handshake(client, Arc::new(server), "localhost").unwrap();
        assert_eq!(group_of(&s), expect);
        // Both shares went out (hybrid, then its X25519 half): no retry either way.
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
        exchange(&mut c, &mut s);
    }
}

#[test]
fn x25519_only_client_gets_x25519_without_retry() {
    let dir = TempDir::new("pq-x25519");
    let server = our_server(&dir);
    let (mut c, mut s) = handshake(
        aws_client(vec![aws_lc_rs::kx_group::X25519]),
        server.clone(),
        "localhost",
    )
    .unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    exchange(&mut c, &mut s);
    // Lists both, X25519 first: its only key share is X25519, and it is served X25519.
    let client = aws_client(vec![
        aws_lc_rs::kx_group::X25519,
        aws_lc_rs::kx_group::X25519MLKEM768,
    ]);
    let (_, s) = handshake(client, server.clone(), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    // A TLS 1.2 client is unaffected (the hybrid is TLS 1.3 only).
    let client = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert::new(None)))
        .with_no_client_auth();
    let (_, s) = handshake(Arc::new(client), server, "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519);
}

/// tlsterm before this group existed: same suites and server order, X25519 and P-256.
fn classical_server(dir: &TempDir) -> Arc<ServerConfig> {
    let provider = provider_with_groups(&[Group::X25519, Group::P256]);
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver::Resolver::new(store(dir))));
    config.ignore_client_order = true;
    Arc::new(config)
}

#[test]
fn hybrid_listed_first_without_its_share_is_retried() {
    // rustls 0.23 picks the first group of the client's `supported_groups` that we support,
    // then asks for its share if it has none (RFC 8446bis §4.2.8; OpenSSL 3.5 does the
    // same). A rustls client remembers the group a server last chose and sends only that
    // share: after the classical server, its next hello lists the hybrid first with only an
    // X25519 share. One retry, after which the client remembers the hybrid.
    let dir = TempDir::new("pq-hint");
    let client = aws_client(vec![
        aws_lc_rs::kx_group::X25519MLKEM768,
        aws_lc_rs::kx_group::X25519,
    ]);
    let (_, s) = handshake(client.clone(), classical_server(&dir), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    let (_, s) = handshake(client.clone(), our_server(&dir), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519MLKEM768);
    assert_eq!(
        s.handshake_kind(),
        Some(HandshakeKind::FullWithHelloRetryRequest)
    );
    let (_, s) = handshake(client, our_server(&dir), "localhost").unwrap();
    assert_eq!(group_of(&s), NamedGroup::X25519MLKEM768);
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
}

#[test]
fn retry_with_a_sha384_ticket_fails_in_rustls_0_23() {
    // Known rustls 0.23.46 hazard that a retry exposes: the client drops a ticket whose
    // suite hash differs from the suite of the HelloRetryRequest, withdrawing its PSK offer,
    // and the server rejects a second hello that withdraws one. Here the ticket comes from
    // a server that honoured the client's AES-256 (SHA-384) preference; ours retries with
    // AES-128 (SHA-256). Tickets from tlsterm itself are SHA-256 and unaffected (above).
    let dir = TempDir::new("pq-hint-384");
    let mut other = (*classical_server(&dir)).clone();
    other.ignore_client_order = false;
    let client = aws_client(vec![
        aws_lc_rs::kx_group::X25519MLKEM768,
        aws_lc_rs::kx_group::X25519,
    ]);
    let (c, _) = handshake(client.clone(), Arc::new(other), "localhost").unwrap();
    assert_eq!(
        c.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
    );
    let e = handshake(client, our_server(&dir), "localhost").err();
    assert_eq!(
        e,
        Some(Error::PeerMisbehaved(
            PeerMisbehaved::MissingPskExtensionInSecondClientHello
        ))
    );
}

/// A client-side group that sends `share` under the X25519MLKEM768 codepoint.
#[derive(Debug)]
struct Forged(&'static [u8]);

struct ForgedKx(&'static [u8]);

impl SupportedKxGroup for Forged {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(ForgedKx(self.0)))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

impl ActiveKeyExchange for ForgedKx {
    fn complete(self: Box<Self>, _: &[u8]) -> Result<SharedSecret, Error> {
        Err(Error::General("forged share: never completes".into()))
    }

    fn pub_key(&self) -> &[u8] {
        self.0
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

/// Pumps until one side fails; returns (client error, server error).
fn failing_handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> (Option<Error>, Option<Error>) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(client, name).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    let (mut c_err, mut s_err) = (None, None);
    for _ in 0..10 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() && s_err.is_none() {
            s.read_tls(&mut &buf[..]).unwrap();
            s_err = s.process_new_packets().err();
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() && c_err.is_none() {
            c.read_tls(&mut &buf[..]).unwrap();
            c_err = c.process_new_packets().err();
        }
        if c_err.is_some() && s_err.is_some() {
            break;
        }
    }
    (c_err, s_err)
}

static SHORT: [u8; CLIENT_SHARE_LEN - 1] = [7; CLIENT_SHARE_LEN - 1];
static LONG: [u8; CLIENT_SHARE_LEN + 1] = [7; CLIENT_SHARE_LEN + 1];
/// Right length, but every ML-KEM coefficient is 0xFFF > q.
static GARBAGE: [u8; CLIENT_SHARE_LEN] = [0xff; CLIENT_SHARE_LEN];
static ONE: [u8; 1] = [0x04];

#[test]
fn malformed_shares_get_illegal_parameter() {
    let dir = TempDir::new("pq-forged");
    let server = our_server(&dir);
    for share in [&SHORT[..], &LONG[..], &GARBAGE[..], &ONE[..]] {
        let forged: &'static dyn SupportedKxGroup = Box::leak(Box::new(Forged(share)));
        let client = client_on(rustls::crypto::ring::default_provider(), vec![forged]);
        let (c_err, s_err) = failing_handshake(client, server.clone());
        assert_eq!(
            s_err,
            Some(Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)),
            "share of {} bytes",
            share.len()
        );
        assert_eq!(
            c_err,
            Some(Error::AlertReceived(AlertDescription::IllegalParameter)),
            "share of {} bytes",
            share.len()
        );
    }
}
