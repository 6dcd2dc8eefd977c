//! Backend nonces (protocol doc §2.3): `GET /clients/{cid}/nonce` hands one out; the proof
//! carries it back; it is single-use and short-lived. Storage sits behind [`NonceStore`] so
//! the backend can keep nonces in its database; [`MemoryNonceStore`] serves one process.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::id::ClientId;
use time::OffsetDateTime;

use crate::proof::seconds;

/// How long a backend nonce stays usable (wire-server: 300 s).
pub const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(300);

/// A fresh backend nonce: a random UUIDv4 as unpadded base64url (22 characters).
pub fn new_backend_nonce() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_uuid().as_bytes())
}

/// Where a backend keeps the nonces it handed out.
pub trait NonceStore: Send + Sync {
    /// Consumes `nonce` if it was issued for `client`, is unused and has not expired at `now`.
    /// Returns whether it did; a nonce is consumed at most once.
    fn consume(&self, client: &ClientId, nonce: &str, now: OffsetDateTime) -> bool;
}

/// Nonces in process memory, keyed by client; expired ones are dropped as new ones are issued.
#[derive(Debug)]
pub struct MemoryNonceStore {
    ttl: Duration,
    issued: Mutex<HashMap<(String, String), i64>>,
}

impl MemoryNonceStore {
    /// A store whose nonces live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Issues a fresh nonce for `client`.
    pub fn issue(&self, client: &ClientId, now: OffsetDateTime) -> String {
        let nonce = new_backend_nonce();
        self.insert(client, &nonce, now);
        nonce
    }

    /// Records a nonce issued elsewhere (tests replaying fixed vectors).
    pub fn insert(&self, client: &ClientId, nonce: &str, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        let ttl = seconds(self.ttl);
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.retain(|_, at| now.saturating_sub(*at) <= ttl);
        issued.insert((client.to_uri(), nonce.to_owned()), now);
    }
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        Self::new(DEFAULT_NONCE_TTL)
    }
}

impl NonceStore for MemoryNonceStore {
    fn consume(&self, client: &ClientId, nonce: &str, now: OffsetDateTime) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        match issued.remove(&(client.to_uri(), nonce.to_owned())) {
            Some(at) => now.unix_timestamp().saturating_sub(at) <= seconds(self.ttl),
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn client(device: u64) -> ClientId {
        format!("wireapp://SvPfLlwBQi-6oddVRrkqpw!{device:x}@example.com")
            .parse()
            .unwrap()
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn nonce_is_a_base64url_uuid() {
        let nonce = new_backend_nonce();
        assert_eq!(nonce.len(), 22);
        let bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        assert_eq!(uuid::Uuid::from_slice(&bytes).unwrap().get_version_num(), 4);
    }

    #[test]
    fn nonce_is_single_use() {
        let store = MemoryNonceStore::default();
        let nonce = store.issue(&client(1), at(1000));
        assert!(store.consume(&client(1), &nonce, at(1001)));
        assert!(!store.consume(&client(1), &nonce, at(1002)));
    }

    #[test]
    fn nonce_belongs_to_its_client() {
        let store = MemoryNonceStore::default();
        let nonce = store.issue(&client(1), at(1000));
        assert!(!store.consume(&client(2), &nonce, at(1001)));
        assert!(store.consume(&client(1), &nonce, at(1001)));
    }

    #[test]
    fn nonce_expires_after_its_ttl() {
        let store = MemoryNonceStore::new(Duration::from_secs(300));
        let nonce = store.issue(&client(1), at(1000));
        assert!(!store.consume(&client(1), &nonce, at(1301)));
        let nonce = store.issue(&client(1), at(2000));
        assert!(store.consume(&client(1), &nonce, at(2300)));
    }
}
