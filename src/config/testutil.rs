//! Test helpers for `config`: unique temporary directories and rcgen certificates on disk.
//!
//! Test-only (compiled under `cfg(test)`); nothing here runs in the product.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A directory of its own per test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tlsterm-config-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `rel` (creating parent directories); returns the full path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes a self-signed certificate for `names`: chain to `pem_rel` and key to `key_rel`
    /// (or into the same file when `key_rel` is `None`).
    pub fn cert(&self, names: &[&str], pem_rel: &str, key_rel: Option<&str>) -> PathBuf {
        let (cert, key) = cert_pems(names);
        match key_rel {
            Some(k) => {
                self.write(k, &key);
                self.write(pem_rel, &cert)
            }
            None => self.write(pem_rel, &format!("{cert}{key}")),
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `(certificate PEM, private key PEM)` of a new self-signed certificate (valid 1975–4096).
pub fn cert_pems(names: &[&str]) -> (String, String) {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    (ck.cert.pem(), ck.key_pair.serialize_pem())
}
