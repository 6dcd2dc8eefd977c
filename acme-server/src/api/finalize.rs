//! `POST order/{id}/finalize` and `POST certificate/{id}` (RFC 8555 §7.4, §7.4.2; protocol doc
//! §7.1, §7.3, §7.4, §15.6, §15.7).
//!
//! Finalize checks the CSR — signed by its own key (Ed25519 or ECDSA P-256/P-384/P-521; RSA
//! keys are refused with `badCSR`), which is not the account key — and then, for a Wire order:
//! subject exactly `O=<domain>` and the displayName attribute equal to the identifiers (no CN);
//! SANs exactly the client-id and handle URIs of the order (either `!` or `%21` spelling); the
//! leaf's identity comes from the validated tokens, not from the CSR. For a standard order:
//! dNSName SANs exactly the order's names (case-insensitive, no other SAN types), a CN optional
//! and then one of them; the TLS server leaf carries those names, the CN if given (otherwise an
//! empty subject), and the provisioner's validity. The order is moved to `processing` first
//! (one finalize wins), and the certificate is recorded before the answer.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::Decode;
use e2ei_acme::messages::{FinalizeRequest, OrderStatus};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::id::{ClientId, QualifiedHandle};
use e2ei_core::identifier::WireDeviceIdentifier;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::profile::{TlsLeafExpectations, WireLeafExpectations};
use e2ei_core::x509::{csr_requested_extensions, name_attribute, serial_to_hex, verify_csr};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

use super::orders::owned_order_for;
use super::{AcmeError, AcmeResult, KeyMode, authenticate, provisioner};
use crate::app::{AppState, ProvisionerKind, SharedState};
use crate::store::{CertificateRow, CertificateSubject, OrderRow, random_token};

/// `Content-Type` of the certificate chain.
pub(super) const PEM_CHAIN: &str = "application/pem-certificate-chain";

fn bad_csr(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemType::BadCsr, detail)
}

pub(super) async fn finalize(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let order = owned_order_for(&state, &p.name, &id, &account).await?;
    let order = super::orders::heal_stale_processing(&state, order).await?;
    match order.effective_status(state.now()) {
        OrderStatus::Ready => {}
        OrderStatus::Valid => return super::orders::order_response(&state, &order).await,
        OrderStatus::Pending => {
            return Err(Problem::new(ProblemType::OrderNotReady, "the order is not ready").into());
        }
        OrderStatus::Processing => {
            return Err(
                Problem::new(ProblemType::OrderNotReady, "the order is being processed").into(),
            );
        }
        OrderStatus::Invalid => {
            return Err(Problem::new(ProblemType::OrderNotReady, "the order was abandoned").into());
        }
    }
    let request: FinalizeRequest = auth.request.payload_as()?;
    let issuer = state.issuer.as_ref().ok_or_else(|| {
        AcmeError(Problem::new(
            ProblemType::ServerInternal,
            "no issuing CA is configured",
        ))
    })?;
    let (csr, key) = parse_csr(&request.csr, &account.jwk)?;
    let cap = issuer.max_validity();
    let (leaf_kind, default, max) = match &p.kind {
        ProvisionerKind::Wire(wire) => (
            Leaf::Wire(check_wire_csr(&order, &csr)?),
            wire.validity.default.min(cap),
            wire.validity.max.min(cap),
        ),
        ProvisionerKind::Standard(standard) => (
            Leaf::Tls(check_tls_csr(&order, &csr)?),
            standard.validity.default.min(cap),
            standard.validity.max.min(cap),
        ),
    };
    if !state.store.start_processing(&order.id, state.now()).await? {
        return Err(
            Problem::new(ProblemType::OrderNotReady, "the order is being processed").into(),
        );
    }
    let now =
        OffsetDateTime::from_unix_timestamp(state.now()).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (not_before, not_after) = leaf_window(&order, now, default, max);
    // A leaf never outlives its issuer (RFC 5280 path validation would reject it).
    let not_after = not_after.min(issuer.not_after());
    let issued = match &leaf_kind {
        Leaf::Wire(identity) => issuer.issue_wire_leaf(identity, key, not_before, not_after),
        Leaf::Tls(names) => issuer.issue_tls_leaf(names, key, not_before, not_after),
    }
    .and_then(|(leaf, shard)| Ok((issuer.chain_pem(&leaf)?, leaf, shard)));
    let (chain_pem, leaf, shard) = match issued {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, order = %order.id, "issuance failed");
            let problem = Problem::server_internal();
            state.store.fail_order(&order.id, &problem).await?;
            return Err(problem.into());
        }
    };
    let cert = CertificateRow {
        id: random_token(18),
        provisioner: p.name.clone(),
        order_id: order.id.clone(),
        account_id: account.id.clone(),
        serial: serial_to_hex(leaf.tbs_certificate().serial_number()),
        chain_pem,
        not_after: not_after.unix_timestamp(),
    };
    let subject = match &leaf_kind {
        Leaf::Wire(identity) => CertificateSubject {
            shard,
            client_id: ClientId::from_uri(&identity.client_id_uri)
                .ok()
                .map(|c| c.to_uri()),
            handle: Some(identity.handle_uri.clone()),
        },
        Leaf::Tls(_) => CertificateSubject {
            shard,
            ..CertificateSubject::default()
        },
    };
    state
        .store
        .record_certificate(&cert, &subject, state.now())
        .await?;
    state.metrics.inc(
        super::CERTIFICATES_ISSUED,
        "Certificates issued.",
        &[("provisioner", &p.name)],
    );
    tracing::info!(order = %order.id, account = %account.id, serial = %cert.serial, "certificate issued");
    let order = state
        .store
        .order(&p.name, &order.id)
        .await?
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    super::orders::order_response(&state, &order).await
}

/// What the finalized order becomes.
enum Leaf {
    /// A Wire client leaf with the validated identity.
    Wire(WireLeafExpectations),
    /// A TLS server leaf for the order's names.
    Tls(TlsLeafExpectations),
}

/// The leaf's validity: from the order's notBefore (not before now), until the order's notAfter
/// if it asked for one (at most `max` later), otherwise `default` later.
fn leaf_window(
    order: &OrderRow,
    now: OffsetDateTime,
    default: std::time::Duration,
    max: std::time::Duration,
) -> (OffsetDateTime, OffsetDateTime) {
    let parse = |v: &Option<String>| {
        v.as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    };
    let not_before = parse(&order.not_before).filter(|t| *t > now).unwrap_or(now);
    let latest = not_before + max;
    let not_after = parse(&order.not_after)
        .filter(|t| *t < latest && *t > not_before)
        .unwrap_or(not_before + default.min(max));
    (not_before, not_after)
}

/// rsaEncryption (RFC 8017): named in the refusal of RSA CSRs.
const RSA_ENCRYPTION: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The CSR decoded and its self-signature verified; its key, which must not be the account's.
fn parse_csr(
    csr_b64: &str,
    account_key: &e2ei_core::jwk::Jwk,
) -> Result<(CertReq, PublicKey), Problem> {
    let der = URL_SAFE_NO_PAD
        .decode(csr_b64)
        .map_err(|_| bad_csr("csr is not unpadded base64url"))?;
    let csr = CertReq::from_der(&der)
        .map_err(|e| bad_csr(format!("csr is not a PKCS#10 request: {e}")))?;
    if csr.info.public_key.algorithm.oid == RSA_ENCRYPTION {
        return Err(bad_csr(
            "RSA keys are not supported; use an Ed25519 or ECDSA P-256/P-384/P-521 key \
             (certbot --key-type ecdsa, lego --key-type ec256)",
        ));
    }
    let key = verify_csr(&csr).map_err(|e| bad_csr(e.to_string()))?;
    if &key == account_key.public_key() {
        return Err(bad_csr(
            "the CSR certifies the ACME account key; use another key for the certificate",
        ));
    }
    Ok((csr, key))
}

/// §7.1 / §7.4 checks of a Wire CSR; the leaf identity from the validated tokens.
fn check_wire_csr(order: &OrderRow, csr: &CertReq) -> Result<WireLeafExpectations, Problem> {
    let device = order
        .identifiers
        .iter()
        .find(|i| i.kind == e2ei_core::identifier::WIREAPP_DEVICE)
        .ok_or_else(|| bad_csr("the order has no wireapp-device identifier"))?;
    let device =
        WireDeviceIdentifier::from_value_str(&device.value).map_err(|e| bad_csr(e.to_string()))?;

    let subject = &csr.info.subject;
    if name_attribute(subject, oid::COMMON_NAME).is_some() {
        return Err(bad_csr("the CSR subject must not carry a CN"));
    }
    let organization = name_attribute(subject, oid::ORGANIZATION).unwrap_or_default();
    if !organization.eq_ignore_ascii_case(device.domain().as_str()) {
        return Err(bad_csr(format!(
            "CSR O `{organization}` is not the domain `{}`",
            device.domain()
        )));
    }
    let display_name = name_attribute(subject, oid::DISPLAY_NAME).unwrap_or_default();
    if display_name != device.name().as_str() {
        return Err(bad_csr("CSR displayName does not match the identifiers"));
    }

    let mut uris = Vec::new();
    for extension in csr_requested_extensions(csr).map_err(|e| bad_csr(e.to_string()))? {
        if extension.extn_id != oid::SUBJECT_ALT_NAME {
            continue;
        }
        let san = SubjectAltName::from_der(extension.extn_value.as_bytes())
            .map_err(|e| bad_csr(format!("subjectAltName: {e}")))?;
        for name in san.0 {
            match name {
                GeneralName::UniformResourceIdentifier(uri) => uris.push(uri.to_string()),
                GeneralName::Rfc822Name(_) => return Err(bad_csr("e-mail SANs are not allowed")),
                GeneralName::DnsName(_) | GeneralName::IpAddress(_) => {
                    return Err(bad_csr(
                        "DNS and IP SANs do not match the order's identifiers",
                    ));
                }
                _ => return Err(bad_csr("unexpected SAN type")),
            }
        }
    }
    let mismatch = || bad_csr("CSR URIs do not match identifiers exactly");
    if uris.len() != 2 {
        return Err(mismatch());
    }
    let client_ids: Vec<ClientId> = uris
        .iter()
        .filter_map(|u| ClientId::from_uri(u).ok())
        .collect();
    let handles: Vec<QualifiedHandle> = uris.iter().filter_map(|u| u.parse().ok()).collect();
    if client_ids != [device.client_id().clone()] || handles != [device.handle().clone()] {
        return Err(mismatch());
    }

    // The leaf's identity comes from the validated tokens (protocol doc §7.2).
    let (dpop, oidc) = match (&order.dpop_claims, &order.oidc_claims) {
        (Some(d), Some(o)) => (d, o),
        _ => {
            return Err(Problem::new(
                ProblemType::OrderNotReady,
                "the order lacks validated token data",
            ));
        }
    };
    let claim = |v: &Value, n: &str| {
        v.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let client_id =
        ClientId::from_uri(&claim(dpop, "sub")).map_err(|_| Problem::server_internal())?;
    let identity = WireLeafExpectations {
        display_name: claim(oidc, "name"),
        domain: device.domain().as_str().to_owned(),
        client_id_uri: client_id.to_certificate_uri(),
        handle_uri: claim(oidc, "preferred_username"),
    };
    Ok(identity)
}

/// RFC 8555 §7.4 checks of a standard CSR: dNSName SANs exactly the order's names, no other
/// SAN types, a CN (optional) that is one of them.
fn check_tls_csr(order: &OrderRow, csr: &CertReq) -> Result<TlsLeafExpectations, Problem> {
    let names: Vec<String> = order
        .identifiers
        .iter()
        .filter(|i| i.kind == "dns")
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    let subject = &csr.info.subject;
    let common_names = subject
        .iter()
        .filter(|atv| atv.oid == oid::COMMON_NAME)
        .count();
    if common_names > 1 {
        return Err(bad_csr("the CSR subject carries more than one CN"));
    }
    let common_name = name_attribute(subject, oid::COMMON_NAME).map(|cn| cn.to_ascii_lowercase());
    if let Some(cn) = &common_name {
        if !names.contains(cn) {
            return Err(bad_csr(format!(
                "CSR CN `{cn}` is not one of the order's names {names:?}"
            )));
        }
        if cn.len() > 64 {
            return Err(bad_csr(format!(
                "CSR CN `{cn}` is longer than 64 characters; leave the CN out"
            )));
        }
    }
    let mut requested = Vec::new();
    let mut has_san = false;
    for extension in csr_requested_extensions(csr).map_err(|e| bad_csr(e.to_string()))? {
        if extension.extn_id != oid::SUBJECT_ALT_NAME {
            continue;
        }
        has_san = true;
        let san = SubjectAltName::from_der(extension.extn_value.as_bytes())
            .map_err(|e| bad_csr(format!("subjectAltName: {e}")))?;
        for name in san.0 {
            match name {
                GeneralName::DnsName(dns) => requested.push(dns.as_str().to_ascii_lowercase()),
                GeneralName::IpAddress(_) => {
                    return Err(bad_csr(
                        "IP address SANs are not allowed; the order names DNS names",
                    ));
                }
                GeneralName::Rfc822Name(_) => return Err(bad_csr("e-mail SANs are not allowed")),
                GeneralName::UniformResourceIdentifier(_) => {
                    return Err(bad_csr("URI SANs are not allowed"));
                }
                _ => return Err(bad_csr("unexpected SAN type; only DNS names are allowed")),
            }
        }
    }
    if !has_san {
        return Err(bad_csr(
            "the CSR carries no subjectAltName with the order's names",
        ));
    }
    let missing: Vec<&String> = names.iter().filter(|n| !requested.contains(n)).collect();
    let extra: Vec<&String> = requested.iter().filter(|n| !names.contains(n)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(bad_csr(format!(
            "CSR names do not match the order: missing {missing:?}, not in the order {extra:?}"
        )));
    }
    Ok(TlsLeafExpectations {
        dns_names: names,
        common_name,
    })
}

/// `POST certificate/{id}`: the chain through the issuing intermediate, with a
/// `Link: <…/certificate/{id}/{n}>;rel="alternate"` for each chain through a cross-signed
/// intermediate (RFC 8555 §7.4.2).
pub(super) async fn certificate(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let cert = owned_certificate(&state, &name, &id, uri.path(), &headers, &body).await?;
    let mut response = pem_chain(cert.chain_pem);
    for n in 1..=alternate_issuers(&state).len() {
        let url = state.settings.url(&name, &format!("certificate/{id}/{n}"));
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>;rel=\"alternate\"")) {
            response.headers_mut().append(header::LINK, v);
        }
    }
    Ok(response)
}

/// `POST certificate/{id}/{n}`: the leaf with the `n`-th cross-signed intermediate of its
/// issuer, for clients that trust the partner's root.
pub(super) async fn alternate_certificate(
    State(state): State<SharedState>,
    Path((name, id, alternate)): Path<(String, String, usize)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let cert = owned_certificate(&state, &name, &id, uri.path(), &headers, &body).await?;
    let cross = alternate
        .checked_sub(1)
        .and_then(|i| alternate_issuers(&state).get(i).copied())
        .ok_or_else(|| {
            let mut p = Problem::malformed("no such alternate chain");
            p.status = 404;
            AcmeError(p)
        })?;
    let leaf_pem = cert
        .chain_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap_or_default()
        .to_owned();
    let cross_pem = e2ei_core::x509::certificate_to_pem(cross)
        .map_err(|_| AcmeError(Problem::server_internal()))?;
    Ok(pem_chain(leaf_pem + &cross_pem))
}

/// Cross-signed intermediates (from `/federation`) that certify the issuing key under the
/// issuing certificate's subject.
fn alternate_issuers(state: &AppState) -> Vec<&x509_cert::Certificate> {
    let Some(issuer) = &state.issuer else {
        return Vec::new();
    };
    let own = issuer.certificate().tbs_certificate();
    state
        .federation
        .iter()
        .filter(|c| {
            let tbs = c.tbs_certificate();
            tbs.subject() == own.subject()
                && tbs.subject_public_key_info() == own.subject_public_key_info()
                && tbs.issuer() != own.issuer()
        })
        .collect()
}

/// The certificate `id` of provisioner `name`, after the request's JWS (POST-as-GET by the
/// owning account).
async fn owned_certificate(
    state: &AppState,
    name: &str,
    id: &str,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<CertificateRow, AcmeError> {
    let p = provisioner(state, name)?;
    let auth = authenticate(state, p, path, headers, body, KeyMode::Kid).await?;
    auth.request.require_post_as_get()?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let cert = state.store.certificate(&p.name, id).await?.ok_or_else(|| {
        let mut p = Problem::malformed("no such certificate");
        p.status = 404;
        AcmeError(p)
    })?;
    if cert.account_id != account.id {
        return Err(Problem::unauthorized("the certificate belongs to another account").into());
    }
    Ok(cert)
}

fn pem_chain(pem: String) -> Response {
    let mut response = (StatusCode::OK, pem).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PEM_CHAIN));
    response
}
