//! Enrolling a device as Wire's clients do (protocol doc §4, §12 "Client"): keys, backend,
//! ACME account and order, `wire-dpop-01`, `wire-oidc-01`, finalize, download, and the §8.1
//! checks. Entry point: [`enroll`].

use std::time::Duration;

use e2ei_acme::messages::{OrderStatus, WIRE_DPOP_01, WIRE_OIDC_01};
use e2ei_core::ciphersuite::Ciphersuite;
use e2ei_core::clock::SystemClock;
use e2ei_core::id::{ClientId, DeviceId, TeamId};
use e2ei_core::identifier::WireIdentifiers;
use e2ei_core::jwk::key_authorization;
use e2ei_core::path::RevocationStatus;
use e2ei_core::x509::certificates_from_pem_or_der;
use e2ei_dpop::{ProofOptions, ProofRequest, build_proof};
use e2ei_signer::{SecretString, Signer};
use time::OffsetDateTime;
use url::Url;
use x509_cert::Certificate;

use crate::acme;
use crate::backend::{BackendSession, Credentials};
use crate::csr::build_csr;
use crate::error::{EnrollError, SettingsError};
use crate::http::{HttpConfig, HttpResponse};
use crate::oidc::{IdTokenRequest, IdpLogin, obtain_id_token};
use crate::session::AcmeSession;
use crate::verify::{ExpectedLeaf, verify_chain};

/// Certificate lifetime asked for by default: 90 days, Wire's Helm default (§7.3).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// How the client authenticates to the backend.
#[derive(Clone, Debug)]
pub enum BackendAuth {
    /// Log in with a password (also used to re-authenticate a client registration).
    Password(Credentials),
    /// A Wire access token obtained elsewhere.
    AccessToken(SecretString),
}

/// Which backend client (device) enrolls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// Register a new permanent client.
    Register,
    /// A client registered before.
    Existing(DeviceId),
}

/// What the issued chain is validated against.
#[derive(Clone, Debug, Default)]
pub enum TrustAnchors {
    /// The authority's `/roots.pem`, at the origin of the directory URL (§2.2).
    #[default]
    FromAuthority,
    /// These certificates, configured out of band.
    Pinned(Vec<Certificate>),
}

/// Everything an enrollment needs besides the login strategy.
#[derive(Debug)]
#[non_exhaustive]
pub struct EnrollmentSettings {
    /// The ACME directory of the Wire provisioner (the team's `acmeDiscoveryUrl`, §2.2).
    pub acme_directory_url: String,
    /// The backend's base URL, with any API version prefix.
    pub backend_url: String,
    /// How to authenticate to the backend.
    pub backend_auth: BackendAuth,
    /// Which client enrolls.
    pub device: Device,
    /// The MLS ciphersuite: fixes the algorithm of both keys, the proof and the CSR (§0).
    pub ciphersuite: Ciphersuite,
    /// The MLS signing key to certify; `None` generates one in memory.
    pub mls_key: Option<Signer>,
    /// The certificate lifetime asked for (`notAfter` = now + this; the authority may cap it).
    pub validity: Duration,
    /// The OAuth client id at the IdP, when neither the challenge target nor
    /// [`crate::oidc::DEFAULT_CLIENT_ID`] is right.
    pub oidc_client_id: Option<String>,
    /// What the chain is validated against.
    pub trust_anchors: TrustAnchors,
    /// HTTP settings (timeouts, private TLS trust anchors).
    pub http: HttpConfig,
}

impl EnrollmentSettings {
    /// Settings for a new client of the backend user, with a fresh MLS key, 90 days, the
    /// authority's trust anchors and the platform's TLS trust.
    pub fn new(
        acme_directory_url: impl Into<String>,
        backend_url: impl Into<String>,
        backend_auth: BackendAuth,
        ciphersuite: Ciphersuite,
    ) -> Self {
        Self {
            acme_directory_url: acme_directory_url.into(),
            backend_url: backend_url.into(),
            backend_auth,
            device: Device::Register,
            ciphersuite,
            mls_key: None,
            validity: DEFAULT_VALIDITY,
            oidc_client_id: None,
            trust_anchors: TrustAnchors::FromAuthority,
            http: HttpConfig::default(),
        }
    }
}

/// A finished enrollment: the verified chain, the keys and who they belong to.
#[derive(Debug)]
pub struct Enrollment {
    ciphersuite: Ciphersuite,
    identity: WireIdentifiers,
    team: Option<TeamId>,
    chain_pem: String,
    leaf: Certificate,
    intermediates: Vec<Certificate>,
    trust_anchor: Certificate,
    revocation: RevocationStatus,
    mls_key: Signer,
    acme_account_key: Signer,
    acme_account_url: String,
    order_url: String,
    certificate_url: String,
}

impl Enrollment {
    /// The ciphersuite.
    pub fn ciphersuite(&self) -> Ciphersuite {
        self.ciphersuite
    }

    /// Who the certificate names: client id, handle, display name, domain.
    pub fn identity(&self) -> &WireIdentifiers {
        &self.identity
    }

    /// The user's team.
    pub fn team(&self) -> Option<&TeamId> {
        self.team.as_ref()
    }

    /// The chain as the authority served it: PEM, leaf first, no root.
    pub fn certificate_chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.leaf
    }

    /// The intermediates the authority returned, in its order.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The chain as the MLS x509 credential carries it: leaf first, then its issuers (§8.2).
    pub fn certificates(&self) -> Vec<&Certificate> {
        std::iter::once(&self.leaf)
            .chain(self.intermediates.iter())
            .collect()
    }

    /// The trust anchor the chain validated to.
    pub fn trust_anchor(&self) -> &Certificate {
        &self.trust_anchor
    }

    /// How far revocation could be checked.
    pub fn revocation(&self) -> &RevocationStatus {
        &self.revocation
    }

    /// The MLS signing key the leaf certifies (the MLS leaf node's `signature_key`, §8.2).
    pub fn mls_key(&self) -> &Signer {
        &self.mls_key
    }

    /// The ACME account key, which signed the ACME requests and the DPoP proof.
    pub fn acme_account_key(&self) -> &Signer {
        &self.acme_account_key
    }

    /// The ACME account URL.
    pub fn acme_account_url(&self) -> &str {
        &self.acme_account_url
    }

    /// The order URL.
    pub fn order_url(&self) -> &str {
        &self.order_url
    }

    /// The certificate URL.
    pub fn certificate_url(&self) -> &str {
        &self.certificate_url
    }

    /// The MLS signing key, giving up the rest.
    pub fn into_mls_key(self) -> Signer {
        self.mls_key
    }
}

/// The origin's `/roots.pem` for a directory URL (§2.2).
pub fn roots_url(directory_url: &str) -> Result<String, SettingsError> {
    let url = Url::parse(directory_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| SettingsError::DirectoryUrl(directory_url.to_owned()))?;
    Ok(format!("{}/roots.pem", url.origin().ascii_serialization()))
}

async fn fetch_trust_anchors(
    http: &reqwest::Client,
    url: &str,
) -> Result<Vec<Certificate>, EnrollError> {
    let response = HttpResponse::send("GET", url, http.get(url)).await?;
    let unusable = |reason: String| EnrollError::TrustAnchors {
        url: url.to_owned(),
        reason,
    };
    if response.status != 200 {
        return Err(unusable(format!("HTTP {}", response.status)));
    }
    let anchors =
        certificates_from_pem_or_der(&response.body).map_err(|e| unusable(e.to_string()))?;
    if anchors.is_empty() {
        return Err(unusable("no certificate".into()));
    }
    Ok(anchors)
}

/// Enrolls a device (protocol doc §4): on success the chain has passed every check of §8.1
/// and certifies the MLS key for the backend user's client.
///
/// The steps, each failing with the typed error of its party:
///
/// 1. keys: the MLS signing key (given or generated) and a fresh ACME account key of the same
///    algorithm (§0);
/// 2. backend: log in (or use the access token), `GET /self`, register a client if asked;
/// 3. ACME: directory, nonce, account (§4 step 3), order for the two identifiers (step 4),
///    both authorizations, the challenges picked by type (step 5);
/// 4. `wire-dpop-01`: backend nonce, DPoP proof (30 s), access token, challenge → `valid`
///    (steps 6–9);
/// 5. `wire-oidc-01`: the OIDC login through `login`, challenge → `valid` (steps 10–11);
/// 6. the order must be `ready` (step 12); finalize with the §7.1 CSR (step 13); download the
///    chain (step 14);
/// 7. the §8.1 checks against the trust anchors.
pub async fn enroll<L: IdpLogin>(
    settings: EnrollmentSettings,
    login: &L,
) -> Result<Enrollment, EnrollError> {
    let algorithm = settings.ciphersuite.key_algorithm();
    let roots_url = roots_url(&settings.acme_directory_url)?;
    let mls_key = match settings.mls_key {
        Some(key) if key.algorithm() != algorithm => {
            return Err(SettingsError::MlsKeyAlgorithm {
                expected: algorithm,
                found: key.algorithm(),
            }
            .into());
        }
        Some(key) => key,
        None => Signer::ephemeral(algorithm)?,
    };
    // A fresh account per acquisition, as the reference client does: the authority ties the
    // validated tokens to the account's latest order (§10 item 8).
    let account_key = Signer::ephemeral(algorithm)?;
    let http = settings.http.build()?;

    let (backend, password) = match settings.backend_auth {
        BackendAuth::Password(credentials) => (
            BackendSession::login(http.clone(), &settings.backend_url, &credentials).await?,
            Some(credentials.password),
        ),
        BackendAuth::AccessToken(token) => (
            BackendSession::with_access_token(http.clone(), &settings.backend_url, token),
            None,
        ),
    };
    let user = backend.self_user().await?;
    let device = match settings.device {
        Device::Existing(device) => device,
        Device::Register => backend.register_client(password.as_ref()).await?,
    };
    let identity = WireIdentifiers::for_client(
        ClientId::new(user.id, device, user.domain.clone()),
        user.handle.clone(),
        user.name.clone(),
    );

    let mut session = AcmeSession::open(&http, &settings.acme_directory_url, &account_key).await?;
    let acme_account_url = session.new_account().await?;
    let new_order = session.directory().new_order.clone();
    let payload = acme::new_order_payload(&identity, OffsetDateTime::now_utc(), settings.validity);
    let response = session.post(&new_order, Some(&payload)).await?;
    let order = acme::check_new_order(&response, &identity, OffsetDateTime::now_utc())?;
    let mut authorizations = Vec::with_capacity(2);
    for url in &order.order.authorizations {
        let response = session.post(url, None).await?;
        authorizations.push(acme::check_authorization(&response, &identity)?);
    }
    let challenges = acme::pick_challenges(&authorizations)?;

    // wire-dpop-01 (§4 steps 6–9).
    let backend_nonce = backend.nonce(device).await?;
    let proof = build_proof(
        &account_key,
        &ProofRequest {
            client_id: identity.client_id(),
            handle: identity.handle(),
            display_name: identity.name(),
            team: user.team.as_ref(),
            backend_nonce: &backend_nonce,
            htu: &challenges.dpop.target,
            challenge_url: &challenges.dpop.url,
            challenge_token: &challenges.dpop.token,
        },
        // 30 s lifetime (`DEFAULT_PROOF_LIFETIME`), as Wire's apps: inside the backend's
        // bound even with some clock drift (§6.2, §10 item 10).
        &ProofOptions::default(),
        &SystemClock,
    )?;
    let access_token = backend.access_token(device, &proof).await?;
    let response = session
        .post(
            &challenges.dpop.url,
            Some(&acme::dpop_challenge_payload(access_token.expose())),
        )
        .await?;
    acme::check_challenge_answer(&response, WIRE_DPOP_01, &challenges.dpop.url)?;

    // wire-oidc-01 (§4 steps 10–11); the ID token may live only a minute, so it goes to the
    // authority right after the code exchange (§10 item 11).
    let keyauth = key_authorization(&challenges.oidc.token, session.jwk());
    let id_token = obtain_id_token(
        &http,
        &IdTokenRequest {
            target: &challenges.oidc.target,
            client_id: settings.oidc_client_id.as_deref(),
            keyauth: &keyauth,
            acme_aud: &challenges.oidc.url,
        },
        login,
    )
    .await?;
    let response = session
        .post(
            &challenges.oidc.url,
            Some(&acme::oidc_challenge_payload(id_token.expose())),
        )
        .await?;
    acme::check_challenge_answer(&response, WIRE_OIDC_01, &challenges.oidc.url)?;

    // Steps 12–14.
    let response = session.post(&order.url, None).await?;
    acme::check_order_response(
        &response,
        &order.url,
        &identity,
        OrderStatus::Ready,
        OffsetDateTime::now_utc(),
    )?;
    let csr = build_csr(&mls_key, &identity)?;
    let response = session
        .post(&order.order.finalize, Some(&acme::finalize_payload(&csr)))
        .await?;
    let certificate_url =
        acme::check_finalized(&response, &order.url, &identity, OffsetDateTime::now_utc())?;
    let response = session.post(&certificate_url, None).await?;
    let chain = acme::check_certificate_download(&response)?;

    // Step 15: §8.1.
    let anchors = match settings.trust_anchors {
        TrustAnchors::Pinned(anchors) => anchors,
        TrustAnchors::FromAuthority => fetch_trust_anchors(&http, &roots_url).await?,
    };
    let verified = verify_chain(
        &chain.certificates,
        &anchors,
        &ExpectedLeaf {
            identifiers: &identity,
            key: mls_key.public_key(),
            algorithm,
        },
        OffsetDateTime::now_utc(),
    )?;
    let trust_anchor = verified
        .path
        .last()
        .cloned()
        .ok_or(crate::verify::CertificateError::NoTrustAnchor)?;
    let mut certificates = chain.certificates.into_iter();
    let leaf = certificates
        .next()
        .ok_or(crate::verify::CertificateError::EmptyChain)?;
    Ok(Enrollment {
        ciphersuite: settings.ciphersuite,
        identity,
        team: user.team,
        chain_pem: chain.pem,
        leaf,
        intermediates: certificates.collect(),
        trust_anchor,
        revocation: verified.revocation,
        mls_key,
        acme_account_key: account_key,
        acme_account_url,
        order_url: order.url,
        certificate_url,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roots_come_from_the_directory_origin() {
        assert_eq!(
            roots_url("https://acme.wire.example.com:8443/acme/wire/directory").unwrap(),
            "https://acme.wire.example.com:8443/roots.pem"
        );
        assert!(roots_url("acme.wire.example.com/acme/wire/directory").is_err());
    }
}
