//! An optional `jti` replay cache for DPoP proofs. Wire itself keeps none (§10.14): replay
//! protection comes from the single-use backend nonce and ACME challenge. Deployments that
//! want defence in depth plug a [`JtiReplayCache`] into either verifier.
//!
//! The key is the normalised (`htm`, `htu`, JWK thumbprint, `jti`); an entry is retained until
//! the proof could no longer be accepted (its `exp` plus the verifier's leeway).

use std::collections::HashMap;
use std::sync::Mutex;

use e2ei_core::jwk::JwkThumbprint;

use crate::url::absolute_url;

/// The identity of one proof use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    htm: String,
    htu: String,
    jkt: String,
    jti: String,
}

impl ReplayKey {
    /// Normalises the method to upper case and the URL as parsed (scheme and host lower-cased,
    /// default port dropped, query and fragment removed), so spelling variants collide.
    pub fn new(htm: &str, htu: &str, jkt: &JwkThumbprint, jti: &str) -> Self {
        let htu = match absolute_url(htu) {
            Some(mut url) => {
                url.set_query(None);
                url.set_fragment(None);
                url.to_string()
            }
            None => htu.to_owned(),
        };
        Self {
            htm: htm.to_ascii_uppercase(),
            htu,
            jkt: jkt.as_str().to_owned(),
            jti: jti.to_owned(),
        }
    }
}

/// What recording a proof use found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// First use; now recorded.
    Fresh,
    /// Seen before, within its retention.
    Replayed,
    /// The cache could not record it; verifiers treat this as a rejection (fail closed).
    Full,
}

/// A store of proof uses.
pub trait JtiReplayCache: Send + Sync {
    /// Records `key` until `retain_until` (Unix seconds), as seen at `now`.
    fn record(&self, key: ReplayKey, retain_until: i64, now: i64) -> ReplayOutcome;
}

/// A bounded in-process cache; expired entries are pruned when it fills up.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    entries: Mutex<HashMap<ReplayKey, i64>>,
}

impl MemoryReplayCache {
    /// A cache holding at most `capacity` live entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl JtiReplayCache for MemoryReplayCache {
    fn record(&self, key: ReplayKey, retain_until: i64, now: i64) -> ReplayOutcome {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = entries.get(&key) {
            if *until >= now {
                return ReplayOutcome::Replayed;
            }
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, until| *until >= now);
            if entries.len() >= self.capacity {
                return ReplayOutcome::Full;
            }
        }
        entries.insert(key, retain_until);
        ReplayOutcome::Fresh
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use e2ei_core::ciphersuite::KeyAlgorithm;
    use e2ei_core::jwk::Jwk;
    use e2ei_signer::Signer;

    fn jkt() -> JwkThumbprint {
        let signer = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        Jwk::from_public_key(signer.public_key().clone()).thumbprint_sha256()
    }

    #[test]
    fn spelling_variants_of_method_and_url_collide() {
        let t = jkt();
        let a = ReplayKey::new(
            "post",
            "HTTPS://Wire.Example.com:443/clients/1/access-token",
            &t,
            "j",
        );
        let b = ReplayKey::new(
            "POST",
            "https://wire.example.com/clients/1/access-token?x#y",
            &t,
            "j",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn second_use_within_retention_is_a_replay() {
        let cache = MemoryReplayCache::new(10);
        let key = ReplayKey::new("POST", "https://a.example/x", &jkt(), "j1");
        assert_eq!(cache.record(key.clone(), 200, 100), ReplayOutcome::Fresh);
        assert_eq!(cache.record(key.clone(), 200, 150), ReplayOutcome::Replayed);
        assert_eq!(cache.record(key, 400, 201), ReplayOutcome::Fresh);
    }

    #[test]
    fn full_cache_fails_closed_until_entries_expire() {
        let cache = MemoryReplayCache::new(1);
        let t = jkt();
        let first = ReplayKey::new("POST", "https://a.example/x", &t, "j1");
        let second = ReplayKey::new("POST", "https://a.example/x", &t, "j2");
        assert_eq!(cache.record(first, 200, 100), ReplayOutcome::Fresh);
        assert_eq!(cache.record(second.clone(), 300, 150), ReplayOutcome::Full);
        assert_eq!(cache.record(second, 300, 201), ReplayOutcome::Fresh);
    }
}
