//! The status of any device's certificate, as a client shows it next to a conversation member
//! (protocol doc §8.3): the identity it certifies and whether it is Valid, Expired or Revoked,
//! after RFC 5280 path validation (URI name constraints included) against the trust anchors
//! (`/roots.pem` and the cross-signed intermediates of `/federation`) and the CRLs of its
//! distribution points.
//!
//! The CRLs come from a [`CrlStore`]: keyed by distribution point, each verified against the
//! certificate's issuer when fetched, kept until its nextUpdate and fetched again after it —
//! directly or through the backend's CRL proxy (`crlProxy` in the feature config: the
//! distribution point's host, and its path when it is not `/crl`, appended).

use std::collections::HashMap;

use der::Decode;
use e2ei_core::ciphersuite::HashAlgorithm;
use e2ei_core::id::ClientId;
use e2ei_core::jwk::Jwk;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::path::{
    PathError, RevocationPolicy, RevocationStatus, ValidationOptions, certificate_uris,
    validate_path,
};
use e2ei_core::x509::{CrlReason, name_attribute, serial_to_hex};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// Who a Wire certificate names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateIdentity {
    /// The client id (`wireapp://…!…@domain`, canonical `!` form).
    pub client_id: String,
    /// The handle URI (`wireapp://%40handle@domain`).
    pub handle: String,
    /// Subject CN.
    pub display_name: String,
    /// Subject O.
    pub domain: String,
    /// The JWK thumbprint of the certified (MLS) key with the ciphersuite's hash, as Wire
    /// clients show it.
    pub thumbprint: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
}

/// A device's certificate status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeviceStatus {
    /// The chain validates and the leaf is not on its CRL.
    Valid {
        /// Whether the CRL was consulted (false: no CRL could be had; Wire tolerates this).
        revocation_checked: bool,
    },
    /// The leaf (or its issuer) is past its notAfter.
    Expired,
    /// The leaf is on its issuer's CRL.
    Revoked {
        /// RFC 3339 revocation time.
        at: String,
        /// The reason, if the CRL gives one.
        reason: Option<CrlReason>,
    },
    /// The chain does not validate for another reason.
    Invalid {
        /// Why.
        reason: String,
    },
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The identity a Wire leaf names; `None` when it is not a Wire leaf.
pub fn identity_of(leaf: &Certificate) -> Option<CertificateIdentity> {
    let uris = certificate_uris(leaf);
    let client_id = uris.iter().find_map(|u| ClientId::from_uri(u).ok())?;
    let handle = uris
        .iter()
        .find(|u| u.starts_with("wireapp://%40"))?
        .clone();
    let tbs = leaf.tbs_certificate();
    let key = PublicKey::from_spki(tbs.subject_public_key_info()).ok()?;
    let hash: HashAlgorithm = key.algorithm().hash();
    let validity = tbs.validity();
    let time = |t: std::time::Duration| {
        OffsetDateTime::from_unix_timestamp(i64::try_from(t.as_secs()).ok()?).ok()
    };
    Some(CertificateIdentity {
        client_id: client_id.to_uri(),
        handle,
        display_name: name_attribute(tbs.subject(), oid::COMMON_NAME)?,
        domain: name_attribute(tbs.subject(), oid::ORGANIZATION)?,
        thumbprint: Jwk::from_public_key(key).thumbprint(hash).to_string(),
        serial: serial_to_hex(tbs.serial_number()),
        not_before: rfc3339(time(validity.not_before.to_unix_duration())?),
        not_after: rfc3339(time(validity.not_after.to_unix_duration())?),
    })
}

/// The status of `chain` (leaf first) at `now`, against `anchors` (roots and cross-signed
/// intermediates: anything not a root is tried as an intermediate too) and `crls`.
pub fn device_status(
    chain: &[Certificate],
    anchors: &[Certificate],
    crls: &[CertificateList],
    now: OffsetDateTime,
) -> DeviceStatus {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return DeviceStatus::Invalid {
            reason: "no certificate".into(),
        };
    };
    let (roots, cross): (Vec<Certificate>, Vec<Certificate>) = anchors
        .iter()
        .cloned()
        .partition(|c| c.tbs_certificate().issuer() == c.tbs_certificate().subject());
    let mut untrusted = intermediates.to_vec();
    untrusted.extend(cross);
    let options = ValidationOptions::default()
        .with_required_eku(oid::KP_CLIENT_AUTH)
        .with_crls(crls, RevocationPolicy::CheckIfAvailable);
    match validate_path(&roots, &untrusted, leaf, now, &options) {
        Ok(path) => {
            let leaf_subject = e2ei_core::x509::name_to_string(leaf.tbs_certificate().subject());
            let revocation_checked = match path.revocation() {
                RevocationStatus::Good => true,
                RevocationStatus::NotDetermined { unchecked } => !unchecked.contains(&leaf_subject),
                RevocationStatus::NotChecked => false,
            };
            DeviceStatus::Valid { revocation_checked }
        }
        Err(PathError::Expired { .. }) => DeviceStatus::Expired,
        Err(PathError::Revoked {
            reason,
            revocation_date,
            ..
        }) => DeviceStatus::Revoked {
            at: rfc3339(revocation_date),
            reason: reason.and_then(|r| CrlReason::from_code(r as u8)),
        },
        Err(e) => DeviceStatus::Invalid {
            reason: e.to_string(),
        },
    }
}

/// The fullName URIs of a certificate's CRL distribution points.
pub fn distribution_points(cert: &Certificate) -> Vec<String> {
    use x509_cert::ext::pkix::CrlDistributionPoints;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let mut out = Vec::new();
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id != oid::CRL_DISTRIBUTION_POINTS {
            continue;
        }
        let Ok(points) = CrlDistributionPoints::from_der(ext.extn_value.as_bytes()) else {
            continue;
        };
        for point in points.0 {
            if let Some(DistributionPointName::FullName(names)) = point.distribution_point {
                for name in names {
                    if let GeneralName::UniformResourceIdentifier(uri) = name {
                        out.push(uri.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Where a distribution point is fetched: itself, or through the backend's CRL proxy
/// (`{proxy}/{host[:port]}`, plus the path when it is not `/crl`).
pub fn fetch_url(distribution_point: &str, proxy: Option<&str>) -> Option<String> {
    let Some(proxy) = proxy else {
        return Some(distribution_point.to_owned());
    };
    let url = url::Url::parse(distribution_point).ok()?;
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    let path = url.path().trim_end_matches('/');
    let suffix = if path == "/crl" { "" } else { path };
    Some(format!("{}/{host}{suffix}", proxy.trim_end_matches('/')))
}

/// Why a CRL could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlFetchError {
    /// The request failed or the answer was not 200.
    #[error("{url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The bytes are not a CRL of the certificate's issuer, valid now.
    #[error("{url}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// CRLs by distribution point, each verified against its issuer and kept until its
/// nextUpdate (never past it).
#[derive(Debug, Default)]
pub struct CrlStore {
    crls: HashMap<String, (CertificateList, OffsetDateTime)>,
}

impl CrlStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fresh CRLs held at `now`.
    pub fn current(&self, now: OffsetDateTime) -> Vec<CertificateList> {
        self.crls
            .values()
            .filter(|(_, next)| now < *next)
            .map(|(crl, _)| crl.clone())
            .collect()
    }

    /// Keeps the CRLs on disk in `dir` (one DER file each, 0600, and `index.json` naming their
    /// distribution points), so a client knows them between runs.
    pub fn save(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use der::Encode;
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut index = serde_json::Map::new();
        for (n, (url, (crl, _))) in self.crls.iter().enumerate() {
            let name = format!("crl-{n}.der");
            let der = crl
                .to_der()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let tmp = dir.join(format!("{name}.tmp"));
            let _ = std::fs::remove_file(&tmp);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&der)?;
            std::fs::rename(&tmp, dir.join(&name))?;
            index.insert(url.clone(), serde_json::Value::String(name));
        }
        std::fs::write(
            dir.join("index.json"),
            serde_json::Value::Object(index).to_string(),
        )
    }

    /// The CRLs [`CrlStore::save`] kept in `dir`, each verified again against `issuer` at
    /// `now`; those that no longer verify (expired, another issuer) are dropped.
    pub fn load(dir: &std::path::Path, issuer: &Certificate, now: OffsetDateTime) -> Self {
        let mut store = Self::new();
        let Ok(index) = std::fs::read(dir.join("index.json")) else {
            return store;
        };
        let Ok(serde_json::Value::Object(index)) = serde_json::from_slice(&index) else {
            return store;
        };
        for (url, name) in index {
            let Some(name) = name.as_str().filter(|n| !n.contains('/')) else {
                continue;
            };
            if let Ok(der) = std::fs::read(dir.join(name)) {
                let _ = store.insert(&url, &der, issuer, now);
            }
        }
        store
    }

    /// Verifies `der` against `issuer` at `now` and keeps it for `distribution_point`.
    pub fn insert(
        &mut self,
        distribution_point: &str,
        der: &[u8],
        issuer: &Certificate,
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let verified = e2ei_crl::verify_crl(der, issuer, now).map_err(|e| e.to_string())?;
        let crl = CertificateList::from_der(der).map_err(|e| e.to_string())?;
        self.crls
            .insert(distribution_point.to_owned(), (crl, verified.next_update()));
        Ok(())
    }

    /// Makes sure a fresh CRL is held for each distribution point of `leaf` (issued by
    /// `issuer`), fetching what is missing or past its nextUpdate with `http`.
    pub async fn refresh_for(
        &mut self,
        http: &reqwest::Client,
        leaf: &Certificate,
        issuer: &Certificate,
        proxy: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), CrlFetchError> {
        for point in distribution_points(leaf) {
            if self.crls.get(&point).is_some_and(|(_, next)| now < *next) {
                continue;
            }
            let url = fetch_url(&point, proxy).ok_or_else(|| CrlFetchError::Fetch {
                url: point.clone(),
                reason: "not a URL".into(),
            })?;
            let fail = |reason: String| CrlFetchError::Fetch {
                url: url.clone(),
                reason,
            };
            let reply = http
                .get(&url)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !reply.status().is_success() {
                return Err(fail(format!("HTTP {}", reply.status())));
            }
            let der = reply.bytes().await.map_err(|e| fail(e.to_string()))?;
            self.insert(&point, &der, issuer, now)
                .map_err(|reason| CrlFetchError::Invalid {
                    url: url.clone(),
                    reason,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fetches_through_the_proxy_by_host_and_shard_path() {
        let proxy = Some("https://wire.example.com/proxyCrl");
        assert_eq!(
            fetch_url("https://acme.wire.example.com/crl", proxy).unwrap(),
            "https://wire.example.com/proxyCrl/acme.wire.example.com"
        );
        assert_eq!(
            fetch_url("https://acme.wire.example.com:8443/crl/2", proxy).unwrap(),
            "https://wire.example.com/proxyCrl/acme.wire.example.com:8443/crl/2"
        );
        assert_eq!(
            fetch_url("https://acme.wire.example.com/crl", None).unwrap(),
            "https://acme.wire.example.com/crl"
        );
    }

    #[test]
    fn an_empty_chain_is_invalid() {
        assert!(matches!(
            device_status(&[], &[], &[], OffsetDateTime::now_utc()),
            DeviceStatus::Invalid { .. }
        ));
    }
}
