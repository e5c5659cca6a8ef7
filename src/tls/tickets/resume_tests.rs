//! Resumption through real rustls connections in memory: a session made against one
//! `ServerConfig` resumes against another built from the same key file — what another shard or
//! another tlsterm process would hold. Session-ID storage is switched off, so only our tickets
//! can make a handshake resume.

use super::keys::tests::key_file;
use super::*;
use crate::tls::testutil::{client_config, ecdsa_p256, handshake, loaded, ClientSpec, TempDir};
use crate::tls::{server_config, CertStore};
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, HandshakeKind, ServerConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Delegates to a [`Ticketer`], counting what passes through.
#[derive(Debug)]
struct Counting {
    inner: Ticketer,
    sealed: AtomicUsize,
    opened: AtomicUsize,
    largest_plain: AtomicUsize,
}

impl ProducesTickets for Counting {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }
    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.largest_plain.fetch_max(plain.len(), Ordering::Relaxed);
        let t = self.inner.encrypt(plain)?;
        self.sealed.fetch_add(1, Ordering::Relaxed);
        Some(t)
    }
    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let p = self.inner.decrypt(ticket)?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Some(p)
    }
}

struct Server {
    config: Arc<ServerConfig>,
    tickets: Arc<Counting>,
}

/// Our production config for `localhost`, with the ticket keys of `tags` and no session-ID
/// storage.
fn server(store: &Arc<CertStore>, tags: &[u8]) -> Server {
    let keys = parse_key_file(&key_file(tags, KeyLayout::Aes128)).unwrap();
    let tickets = Arc::new(Counting {
        inner: Ticketer::from_keys(keys, DEFAULT_LIFETIME),
        sealed: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
        largest_plain: AtomicUsize::new(0),
    });
    let mut config = (*server_config(store.clone(), &[]).unwrap()).clone();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.ticketer = tickets.clone();
    Server {
        config: Arc::new(config),
        tickets,
    }
}

fn store(dir: &TempDir) -> Arc<CertStore> {
    let cert = loaded(dir, "ecdsa.pem", &["localhost"], &ecdsa_p256());
    Arc::new(CertStore::new(vec![cert], Some("localhost")).unwrap())
}

fn client(versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
    client_config(&ClientSpec {
        versions,
        ..ClientSpec::default()
    })
}

fn kind(client: &Arc<ClientConfig>, server: &Server) -> HandshakeKind {
    let (c, s) = handshake(client.clone(), server.config.clone(), "localhost").unwrap();
    assert_eq!(c.handshake_kind(), s.handshake_kind());
    s.handshake_kind().unwrap()
}

#[test]
fn tls13_resumes_across_configs_sharing_a_key_file() {
    let dir = TempDir::new("tickets-13");
    let store = store(&dir);
    let a = server(&store, &[1, 2, 3]);
    let b = server(&store, &[1, 2, 3]);
    let client = client(&[&rustls::version::TLS13]);
    assert_eq!(kind(&client, &a), HandshakeKind::Full);
    assert_eq!(a.tickets.sealed.load(Ordering::Relaxed), 2);
    // "Another shard": the other config, on another thread.
    let (c2, b_config) = (client.clone(), b.config.clone());
    let (_, s) = std::thread::spawn(move || handshake(c2, b_config, "localhost"))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(b.tickets.opened.load(Ordering::Relaxed), 1);
    // rustls' session values are small: the plaintext cap has a wide margin.
    let largest = a.tickets.largest_plain.load(Ordering::Relaxed);
    assert!((50..1024).contains(&largest), "{largest}");
}

#[test]
fn tls12_resumes_across_configs_with_tickets() {
    let dir = TempDir::new("tickets-12");
    let store = store(&dir);
    let a = server(&store, &[1, 2, 3]);
    let b = server(&store, &[1, 2, 3]);
    let client = client(&[&rustls::version::TLS12]);
    assert_eq!(kind(&client, &a), HandshakeKind::Full);
    assert_eq!(a.tickets.sealed.load(Ordering::Relaxed), 1);
    assert_eq!(kind(&client, &b), HandshakeKind::Resumed);
    assert_eq!(b.tickets.opened.load(Ordering::Relaxed), 1);
    let largest = a.tickets.largest_plain.load(Ordering::Relaxed);
    assert!((50..1024).contains(&largest), "{largest}");
}

#[test]
fn rotated_file_resumes_until_the_key_leaves() {
    let dir = TempDir::new("tickets-rot");
    let store = store(&dir);
    let a = server(&store, &[1, 2, 3]);
    let rotated = server(&store, &[2, 3, 4]);
    let gone = server(&store, &[3, 4, 5]);
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let client = client(versions);
        assert_eq!(kind(&client, &a), HandshakeKind::Full);
        assert_eq!(kind(&client, &rotated), HandshakeKind::Resumed);
        let client = self::client(versions);
        assert_eq!(kind(&client, &a), HandshakeKind::Full);
        // Key 2 sealed the ticket and is no longer in the file: a full handshake, no error.
        assert_eq!(kind(&client, &gone), HandshakeKind::Full);
        assert_eq!(gone.tickets.opened.load(Ordering::Relaxed), 0);
    }
}
