//! The client session store of the `resume` scenario: one per shard, deep enough for every
//! connection of the shard to hold a TLS 1.3 ticket.
//!
//! Why not rustls' `ClientSessionMemoryCache`: it keeps at most 8 TLS 1.3 tickets per server
//! name, and tickets are single-use, so with more than a few concurrent connections some of them
//! find the store empty and do a full handshake: the "resumed" scenario would measure a mix.
//! This store keeps up to [`MAX_TICKETS`] tickets (oldest dropped first) and the latest TLS 1.2
//! session per server name, and the key-exchange hint.
//!
//! Invariants: a TLS 1.3 ticket is handed out at most once (the trait's contract). The mutex is
//! uncontended: a shard is one thread.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;

/// TLS 1.3 tickets kept per server name.
pub const MAX_TICKETS: usize = 4096;

#[derive(Debug, Default)]
struct Entry {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

/// A deep in-memory session store.
#[derive(Debug, Default)]
pub struct DeepStore {
    entries: Mutex<HashMap<ServerName<'static>, Entry>>,
}

impl DeepStore {
    fn with<R>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Entry) -> R) -> R {
        // A poisoned lock only means another connection task panicked mid-update; the map is
        // still usable (worst case a ticket is lost), so keep going.
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(name.to_owned()).or_default();
        f(entry)
    }

    /// TLS 1.3 tickets currently stored for `name`.
    #[cfg(test)]
    pub fn tickets(&self, name: &ServerName<'_>) -> usize {
        self.with(name, |e| e.tls13.len())
    }
}

impl ClientSessionStore for DeepStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |e| e.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |e| e.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |e| e.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |e| e.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |e| e.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(&name, |e| {
            if e.tls13.len() >= MAX_TICKETS {
                e.tls13.pop_front();
            }
            e.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // Newest first: the freshest ticket is the least likely to have expired.
        self.with(name, |e| e.tls13.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kx_hint_and_empty_store() {
        let s = DeepStore::default();
        let n = ServerName::try_from("localhost").unwrap();
        assert_eq!(s.kx_hint(&n), None);
        s.set_kx_hint(n.clone(), NamedGroup::X25519);
        assert_eq!(s.kx_hint(&n), Some(NamedGroup::X25519));
        let other = ServerName::try_from("other").unwrap();
        assert_eq!(s.kx_hint(&other), None);
        assert!(s.take_tls13_ticket(&n).is_none());
        assert!(s.tls12_session(&n).is_none());
        assert_eq!(s.tickets(&n), 0);
    }
}
