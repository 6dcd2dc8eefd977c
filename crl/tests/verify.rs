//! Building, signing, verifying and indexing CRLs end to end, and one negative test per check
//! the verifier and the builder make, named after what it rejects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use der::Encode;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_crl::build::{BuildError, PreparedCrl};
use e2ei_crl::decode::{CrlIn, der_from_pem_or_der};
use e2ei_crl::{CrlReason, CrlScope, VerifyError, sign_crl, verify_crl};
use e2ei_signer::Signer;
use time::Duration;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::KeyUsages;

const UNKNOWN_EXTENSION: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55738.666.1");

fn unknown_critical_extension() -> Extension {
    Extension {
        extn_id: UNKNOWN_EXTENSION,
        critical: true,
        extn_value: der::asn1::OctetString::new(der::asn1::Null.to_der().unwrap()).unwrap(),
    }
}

fn p256() -> TestPki {
    TestPki::new(KeyAlgorithm::P256)
}

#[test]
fn builds_and_verifies_a_crl_with_every_reason() {
    let pki = p256();
    let reasons = REASONS;
    let mut entries = random_entries(reasons.len());
    for (entry, reason) in entries.iter_mut().zip(reasons) {
        entry.reason = reason;
    }
    let parts = pki.crl_parts(entries.clone());
    let (this_update, next_update) = (parts.this_update, parts.next_update);
    let signed = sign_crl(parts, &pki.intermediate_key).unwrap();
    assert_eq!(signed.len(), reasons.len());
    assert_eq!(signed.crl_number(), 7);

    let decoded = CrlIn::from_der(signed.der()).unwrap();
    assert_eq!(decoded.this_update(), this_update);
    assert_eq!(decoded.next_update(), Some(next_update));
    let crl = verify_crl(signed.der(), &pki.intermediate, now()).unwrap();
    assert_eq!(crl.this_update(), this_update);
    assert_eq!(crl.next_update(), next_update);
    assert_eq!(crl.crl_number().to_u64(), Some(7));
    assert_eq!(crl.scope(), CrlScope::UserCertificates);
    assert_eq!(crl.distribution_points(), [CRL_URL.to_owned()]);
    assert_eq!(crl.index().len(), entries.len());
    for entry in &entries {
        let found = crl.index().is_revoked(entry.serial.as_bytes()).unwrap();
        assert_eq!(found.revocation_date(), entry.revocation_date);
        // RFC 5280 §5.3.1: unspecified is written as no reasonCode at all.
        let expected = entry.reason.filter(|r| *r != CrlReason::Unspecified);
        assert_eq!(found.reason(), expected);
    }
    let other = e2ei_core::x509::random_serial().unwrap();
    assert_eq!(crl.index().is_revoked(other.as_bytes()), None);
}

#[test]
fn verifies_crls_signed_with_every_key_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let pki = TestPki::new(alg);
        let signed = sign_crl(pki.crl_parts(random_entries(3)), &pki.intermediate_key).unwrap();
        let crl = verify_crl(signed.der(), &pki.intermediate, now()).unwrap();
        assert_eq!(crl.index().len(), 3, "{alg}");
    }
}

#[test]
fn writes_the_same_bytes_for_the_same_entries_in_any_order() {
    // Ed25519 signatures are deterministic, so equal TBS bytes give equal CRLs.
    let pki = TestPki::new(KeyAlgorithm::Ed25519);
    let entries = random_entries(50);
    let mut reversed = entries.clone();
    reversed.reverse();
    let mut parts = pki.crl_parts(entries);
    let a = sign_crl(parts.clone(), &pki.intermediate_key).unwrap();
    parts.revoked = reversed;
    let b = sign_crl(parts, &pki.intermediate_key).unwrap();
    assert_eq!(a.der(), b.der());
    let crl = verify_crl(a.der(), &pki.intermediate, now()).unwrap();
    let serials: Vec<&[u8]> = crl.index().iter().map(|(s, _)| s).collect();
    let mut sorted = serials.clone();
    sorted.sort_by(|x, y| e2ei_core::x509::serial_cmp(x, y));
    assert_eq!(serials, sorted);
}

#[test]
fn verifies_pem_and_an_empty_list() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key).unwrap();
    assert!(signed.is_empty());
    let pem = signed.to_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
    let crl = verify_crl(pem.as_bytes(), &pki.intermediate, now()).unwrap();
    assert!(crl.index().is_empty());
}

#[test]
fn indexes_ten_thousand_entries() {
    let pki = p256();
    let entries = random_entries(10_000);
    let signed = sign_crl(pki.crl_parts(entries.clone()), &pki.intermediate_key).unwrap();
    let crl = verify_crl(signed.der(), &pki.intermediate, now()).unwrap();
    assert_eq!(crl.index().len(), 10_000);
    assert!(
        entries
            .iter()
            .all(|e| crl.index().is_revoked(e.serial.as_bytes()).is_some())
    );
}

#[test]
fn a_root_crl_covers_ca_certificates() {
    let pki = p256();
    let mut parts = pki.crl_parts(vec![revoke(&pki.intermediate, None)]);
    parts.issuer = pki.root.clone();
    parts.distribution_point = Some(ROOT_CRL_URL.into());
    parts.scope = CrlScope::CaCertificates;
    let signed = sign_crl(parts, &pki.root_key).unwrap();
    let crl = verify_crl(signed.der(), &pki.root, now()).unwrap();
    assert_eq!(crl.scope(), CrlScope::CaCertificates);
    let serial = pki.intermediate.tbs_certificate().serial_number();
    assert!(crl.index().is_revoked(serial.as_bytes()).is_some());
}

// ----- what the verifier rejects --------------------------------------------------------------

fn verify_err(der: &[u8], issuer: &x509_cert::Certificate) -> VerifyError {
    verify_crl(der, issuer, now()).expect_err("the CRL must be rejected")
}

#[test]
fn rejects_bad_signature() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(random_entries(2)), &pki.intermediate_key).unwrap();
    let mut der = signed.into_der();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert!(matches!(
        verify_err(&der, &pki.intermediate),
        VerifyError::BadSignature { .. }
    ));
    // The intermediate's name and key identifier, another key's signature.
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let der = sign_tbs(tbs_of(pki.crl_parts(Vec::new())), &other);
    assert!(matches!(
        verify_err(&der, &pki.intermediate),
        VerifyError::BadSignature { .. }
    ));
}

#[test]
fn rejects_wrong_issuer() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key).unwrap();
    let err = verify_err(signed.der(), &pki.root);
    assert_eq!(
        err,
        VerifyError::IssuerMismatch {
            expected: "O=wire.example.com, CN=Wire Root CA".into(),
            got: "O=wire.example.com, CN=Wire Intermediate CA".into(),
        }
    );
}

#[test]
fn rejects_issuer_with_the_same_name_and_another_key() {
    let pki = p256();
    let other = p256();
    let signed = sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key).unwrap();
    assert!(matches!(
        verify_err(signed.der(), &other.intermediate),
        VerifyError::AuthorityKeyIdMismatch { got: Some(_), .. }
    ));
}

#[test]
fn rejects_expired_crl() {
    let pki = p256();
    let parts = pki.crl_parts(Vec::new());
    let next_update = parts.next_update;
    let signed = sign_crl(parts, &pki.intermediate_key).unwrap();
    // nextUpdate itself is already too late: thisUpdate <= now < nextUpdate.
    for at in [next_update, next_update + Duration::days(1)] {
        assert_eq!(
            verify_crl(signed.der(), &pki.intermediate, at).unwrap_err(),
            VerifyError::Expired {
                next_update,
                now: at
            }
        );
    }
    assert!(
        verify_crl(
            signed.der(),
            &pki.intermediate,
            next_update - Duration::SECOND
        )
        .is_ok()
    );
}

#[test]
fn rejects_not_yet_valid_crl() {
    let pki = p256();
    let parts = pki.crl_parts(Vec::new());
    let this_update = parts.this_update;
    let signed = sign_crl(parts, &pki.intermediate_key).unwrap();
    let at = this_update - Duration::SECOND;
    assert_eq!(
        verify_crl(signed.der(), &pki.intermediate, at).unwrap_err(),
        VerifyError::NotYetValid {
            this_update,
            now: at
        }
    );
    assert!(verify_crl(signed.der(), &pki.intermediate, this_update).is_ok());
}

#[test]
fn rejects_crl_without_next_update() {
    let pki = p256();
    let mut tbs = tbs_of(pki.crl_parts(Vec::new()));
    tbs.next_update = None;
    let der = sign_tbs(tbs, &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &pki.intermediate),
        VerifyError::MissingNextUpdate
    );
}

#[test]
fn rejects_issuer_without_crl_sign() {
    let pki = p256();
    let issuer = TestPki::intermediate(
        &pki.root,
        &pki.root_key,
        &pki.intermediate_key,
        KeyUsages::KeyCertSign.into(),
    );
    let mut parts = pki.crl_parts(Vec::new());
    parts.issuer = issuer.clone();
    let der = sign_tbs(tbs_of(parts), &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &issuer),
        VerifyError::IssuerNotCrlSigner {
            issuer: "O=wire.example.com, CN=Wire Intermediate CA".into()
        }
    );
}

#[test]
fn rejects_unknown_critical_extension() {
    let pki = p256();
    let mut tbs = tbs_of(pki.crl_parts(Vec::new()));
    tbs.crl_extensions
        .as_mut()
        .unwrap()
        .push(unknown_critical_extension());
    let der = sign_tbs(tbs, &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &pki.intermediate),
        VerifyError::UnknownCriticalExtension {
            oid: UNKNOWN_EXTENSION
        }
    );
}

#[test]
fn rejects_unknown_critical_entry_extension() {
    let pki = p256();
    let entries = random_entries(3);
    let serial = hex::encode(entries[1].serial.as_bytes());
    let mut tbs = tbs_of(pki.crl_parts(entries.clone()));
    let listed = tbs.revoked_certificates.as_mut().unwrap();
    let entry = listed
        .iter_mut()
        .find(|r| hex::encode(r.serial_number.as_bytes()) == serial)
        .unwrap();
    entry
        .crl_entry_extensions
        .get_or_insert_with(Vec::new)
        .push(unknown_critical_extension());
    let der = sign_tbs(tbs, &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &pki.intermediate),
        VerifyError::UnknownCriticalEntryExtension {
            serial,
            oid: UNKNOWN_EXTENSION
        }
    );
}

#[test]
fn rejects_delta_crl() {
    let pki = p256();
    let mut tbs = tbs_of(pki.crl_parts(Vec::new()));
    tbs.crl_extensions.as_mut().unwrap().push(Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
        critical: true,
        extn_value: der::asn1::OctetString::new(
            der::asn1::Uint::new(&[6]).unwrap().to_der().unwrap(),
        )
        .unwrap(),
    });
    let der = sign_tbs(tbs, &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &pki.intermediate),
        VerifyError::Unsupported("delta CRLs")
    );
}

#[test]
fn rejects_serial_listed_twice() {
    let pki = p256();
    let mut entries = random_entries(3);
    entries.push(entries[0].clone());
    let serial = hex::encode(entries[0].serial.as_bytes());
    let der = sign_tbs(tbs_of(pki.crl_parts(entries)), &pki.intermediate_key);
    assert_eq!(
        verify_err(&der, &pki.intermediate),
        VerifyError::DuplicateSerial { serial }
    );
}

#[test]
fn rejects_signature_algorithm_differing_inside_and_outside() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key).unwrap();
    let der = signed.der();
    let mut list: x509_cert::crl::CertificateList = der::Decode::from_der(der).unwrap();
    list.signature_algorithm = KeyAlgorithm::P384.signature_algorithm_identifier();
    let err = verify_err(&list.to_der().unwrap(), &pki.intermediate);
    assert!(
        matches!(err, VerifyError::SignatureAlgorithmMismatch { .. }),
        "{err}"
    );
}

#[test]
fn rejects_truncated_der() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(random_entries(5)), &pki.intermediate_key).unwrap();
    let der = signed.der();
    for cut in [1, 10, der.len() / 2, der.len() - 1] {
        let err = verify_err(&der[..der.len() - cut], &pki.intermediate);
        assert!(
            matches!(err, VerifyError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    assert!(matches!(
        verify_err(&[], &pki.intermediate),
        VerifyError::Truncated { .. } | VerifyError::Malformed { .. }
    ));
}

#[test]
fn rejects_trailing_bytes() {
    let pki = p256();
    let signed = sign_crl(pki.crl_parts(Vec::new()), &pki.intermediate_key).unwrap();
    let mut der = signed.into_der();
    der.push(0);
    assert!(matches!(
        verify_err(&der, &pki.intermediate),
        VerifyError::Malformed { .. }
    ));
}

#[test]
fn rejects_pem_of_another_kind() {
    let pki = p256();
    let pem = e2ei_core::x509::certificate_to_pem(&pki.root).unwrap();
    assert!(matches!(
        verify_err(pem.as_bytes(), &pki.intermediate),
        VerifyError::Pem(_)
    ));
}

#[test]
fn decodes_entries_lazily_and_borrows_serials() {
    let pki = p256();
    let entries = random_entries(4);
    let signed = sign_crl(pki.crl_parts(entries.clone()), &pki.intermediate_key).unwrap();
    let der = der_from_pem_or_der(signed.der()).unwrap();
    let crl = CrlIn::from_der(&der).unwrap();
    let decoded: Vec<Vec<u8>> = crl
        .revoked_entries()
        .map(|e| e.unwrap().serial.to_vec())
        .collect();
    assert_eq!(decoded.len(), 4);
    for entry in &entries {
        assert!(decoded.iter().any(|s| s == entry.serial.as_bytes()));
    }
}

// ----- what the builder refuses ---------------------------------------------------------------

fn profile_violations(err: BuildError) -> Vec<e2ei_core::profile::Violation> {
    match err {
        BuildError::Profile(e) => e.violations,
        other => panic!("expected a profile error, got {other}"),
    }
}

#[test]
fn refuses_to_sign_with_a_key_other_than_the_issuers() {
    let pki = p256();
    let err = sign_crl(pki.crl_parts(Vec::new()), &pki.root_key).unwrap_err();
    assert!(matches!(err, BuildError::KeyMismatch { .. }), "{err}");
}

#[test]
fn refuses_issuer_without_crl_sign() {
    let pki = p256();
    let mut parts = pki.crl_parts(Vec::new());
    parts.issuer = TestPki::intermediate(
        &pki.root,
        &pki.root_key,
        &pki.intermediate_key,
        KeyUsages::KeyCertSign.into(),
    );
    let v = profile_violations(PreparedCrl::new(parts).unwrap_err());
    assert_eq!(v, [e2ei_core::profile::Violation::IssuerLacksCrlSign]);
}

#[test]
fn refuses_next_update_not_after_this_update() {
    let pki = p256();
    let mut parts = pki.crl_parts(Vec::new());
    parts.next_update = parts.this_update;
    let v = profile_violations(PreparedCrl::new(parts).unwrap_err());
    assert!(
        matches!(
            v.as_slice(),
            [e2ei_core::profile::Violation::UpdateTimes(_)]
        ),
        "{v:?}"
    );
}

#[test]
fn refuses_a_serial_listed_twice_and_entries_revoked_after_this_update() {
    let pki = p256();
    let mut entries = random_entries(2);
    entries.push(entries[0].clone());
    let mut late = random_entries(1).remove(0);
    late.revocation_date = now() + Duration::hours(1);
    entries.push(late);
    let v = profile_violations(PreparedCrl::new(pki.crl_parts(entries)).unwrap_err());
    let whys: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert!(whys.iter().any(|w| w.contains("listed twice")), "{whys:?}");
    assert!(
        whys.iter().any(|w| w.contains("after thisUpdate")),
        "{whys:?}"
    );
}
