//! What the client checks on the issued chain before using it as its MLS credential
//! (protocol doc §8.1, as core-crypto does, plus §15.6's Subject Key Identifier on every
//! certificate):
//!
//! 1. at least one certificate; the first is the leaf, the rest are intermediates;
//! 2. RFC 5280 path validation from the leaf through the returned intermediates to a trust
//!    anchor (the authority's `/roots.pem`), with e2ei-core's validator — URI name constraints
//!    included; a leaf with extKeyUsage must allow clientAuth; revocation is not determined
//!    here (no CRLs yet), which core-crypto tolerates;
//! 3. the leaf key has the requested algorithm and **is** the MLS signing key;
//! 4. identity: the subjectAltName URI that parses as a client id equals ours in the
//!    certificate form (`%21`, which wire-server's key-package parser requires), the one that
//!    parses as a handle equals ours, subject `O` is our domain and subject `CN` our display
//!    name;
//! 5. a Subject Key Identifier on the leaf and on every returned intermediate.

use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::id::{ClientId, QualifiedHandle};
use e2ei_core::identifier::WireIdentifiers;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::path::{
    PathError, RevocationStatus, ValidationOptions, certificate_uris, validate_path,
};
use e2ei_core::x509::{name_attribute, name_to_string, subject_key_id};
use time::OffsetDateTime;
use x509_cert::Certificate;

/// Why an issued chain is not accepted (core-crypto's names where it has them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// No certificate at all.
    #[error("the chain is empty")]
    EmptyChain,
    /// No trust anchor to validate against (`/roots.pem` empty or unusable).
    #[error("no trust anchor to validate the chain against")]
    NoTrustAnchor,
    /// RFC 5280 path validation failed.
    #[error("the chain does not validate: {0}")]
    Path(#[from] PathError),
    /// The leaf key is not usable.
    #[error("the leaf public key is not supported: {0}")]
    LeafKey(String),
    /// The leaf key is of another algorithm than the ciphersuite's.
    #[error("the leaf key is {found}, the ciphersuite needs {expected}")]
    AlgorithmMismatch {
        /// The ciphersuite's algorithm.
        expected: KeyAlgorithm,
        /// The leaf's.
        found: KeyAlgorithm,
    },
    /// The leaf certifies another key than the MLS signing key.
    #[error("the leaf certifies another key than the MLS signing key")]
    KeyMismatch,
    /// No subjectAltName URI parses as a client id.
    #[error("the leaf has no client-id URI")]
    MissingClientId,
    /// The client-id URI is not ours in the certificate form.
    #[error("the leaf's client id is {found:?}, expected {expected:?}")]
    ClientIdMismatch {
        /// Ours, in the `%21` form.
        expected: String,
        /// The leaf's.
        found: String,
    },
    /// No subjectAltName URI parses as a handle.
    #[error("the leaf has no handle URI")]
    MissingHandle,
    /// The handle URI is not ours.
    #[error("the leaf's handle is {found:?}, expected {expected:?}")]
    HandleMismatch {
        /// Ours.
        expected: String,
        /// The leaf's.
        found: String,
    },
    /// The subject has no `CN`.
    #[error("the leaf subject has no CN (display name)")]
    MissingDisplayName,
    /// The subject `CN` is not our display name.
    #[error("the leaf's display name is {found:?}, expected {expected:?}")]
    DisplayNameMismatch {
        /// Ours.
        expected: String,
        /// The leaf's.
        found: String,
    },
    /// The subject has no `O`.
    #[error("the leaf subject has no O (domain)")]
    MissingDomain,
    /// The subject `O` is not our domain.
    #[error("the leaf's domain is {found:?}, expected {expected:?}")]
    DomainMismatch {
        /// Ours.
        expected: String,
        /// The leaf's.
        found: String,
    },
    /// A certificate of the chain lacks a Subject Key Identifier.
    #[error("`{subject}` has no Subject Key Identifier")]
    MissingSubjectKeyIdentifier {
        /// Its subject.
        subject: String,
    },
}

/// What the leaf must certify.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedLeaf<'a> {
    /// Who the device is.
    pub identifiers: &'a WireIdentifiers,
    /// The MLS signing key.
    pub key: &'a PublicKey,
    /// The ciphersuite's key algorithm.
    pub algorithm: KeyAlgorithm,
}

/// A chain that passed every check of §8.1.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    /// The path: leaf, intermediates, trust anchor.
    pub path: Vec<Certificate>,
    /// How far revocation could be checked.
    pub revocation: RevocationStatus,
}

/// Runs the §8.1 checks on `chain` (leaf first, as downloaded) at `now`.
pub fn verify_chain(
    chain: &[Certificate],
    trust_anchors: &[Certificate],
    expected: &ExpectedLeaf<'_>,
    now: OffsetDateTime,
) -> Result<VerifiedChain, CertificateError> {
    let (leaf, intermediates) = chain.split_first().ok_or(CertificateError::EmptyChain)?;
    if trust_anchors.is_empty() {
        return Err(CertificateError::NoTrustAnchor);
    }
    let options = ValidationOptions::default().with_required_eku(oid::KP_CLIENT_AUTH);
    let validated = validate_path(trust_anchors, intermediates, leaf, now, &options)?;

    let key = PublicKey::from_spki(leaf.tbs_certificate().subject_public_key_info())
        .map_err(|e| CertificateError::LeafKey(e.to_string()))?;
    if key.algorithm() != expected.algorithm {
        return Err(CertificateError::AlgorithmMismatch {
            expected: expected.algorithm,
            found: key.algorithm(),
        });
    }
    if &key != expected.key {
        return Err(CertificateError::KeyMismatch);
    }

    check_identity(leaf, expected.identifiers)?;

    for cert in chain {
        if subject_key_id(cert.tbs_certificate()).is_none() {
            return Err(CertificateError::MissingSubjectKeyIdentifier {
                subject: name_to_string(cert.tbs_certificate().subject()),
            });
        }
    }
    Ok(VerifiedChain {
        revocation: validated.revocation().clone(),
        path: validated.into_certificates(),
    })
}

/// §8.1 step 4: the identity the leaf names is ours.
pub fn check_identity(
    leaf: &Certificate,
    identifiers: &WireIdentifiers,
) -> Result<(), CertificateError> {
    let uris = certificate_uris(leaf);
    let client_id = uris
        .iter()
        .find(|u| ClientId::from_uri(u).is_ok())
        .ok_or(CertificateError::MissingClientId)?;
    let expected = identifiers.client_id().to_certificate_uri();
    if *client_id != expected {
        return Err(CertificateError::ClientIdMismatch {
            expected,
            found: client_id.clone(),
        });
    }
    let handle = uris
        .iter()
        .find(|u| u.parse::<QualifiedHandle>().is_ok())
        .ok_or(CertificateError::MissingHandle)?;
    let expected = identifiers.handle().to_uri();
    if *handle != expected {
        return Err(CertificateError::HandleMismatch {
            expected,
            found: handle.clone(),
        });
    }
    let subject = leaf.tbs_certificate().subject();
    let domain =
        name_attribute(subject, oid::ORGANIZATION).ok_or(CertificateError::MissingDomain)?;
    if domain != identifiers.domain().as_str() {
        return Err(CertificateError::DomainMismatch {
            expected: identifiers.domain().to_string(),
            found: domain,
        });
    }
    let name =
        name_attribute(subject, oid::COMMON_NAME).ok_or(CertificateError::MissingDisplayName)?;
    if name != identifiers.name().as_str() {
        return Err(CertificateError::DisplayNameMismatch {
            expected: identifiers.name().to_string(),
            found: name,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use e2ei_core::id::{DisplayName, Handle};
    use e2ei_core::x509::{
        CertificateParts, NameAttribute, ToBeSigned, authority_key_identifier, basic_constraints,
        build_name, ext_key_usage, key_usage, name_constraints, random_serial,
        subject_alt_name_uris, subject_key_identifier, validity,
    };
    use e2ei_signer::Signer;
    use x509_cert::ext::pkix::KeyUsages;

    const DOMAIN: &str = "wire.example.com";

    fn ids() -> WireIdentifiers {
        let client_id: ClientId =
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com"
                .parse()
                .unwrap();
        WireIdentifiers::for_client(
            client_id,
            Handle::new("alice_wire").unwrap(),
            DisplayName::new("Alice Smith").unwrap(),
        )
    }

    fn name(attributes: &[(der::asn1::ObjectIdentifier, &str)]) -> x509_cert::name::Name {
        build_name(
            &attributes
                .iter()
                .map(|(oid, value)| NameAttribute {
                    oid: *oid,
                    value: (*value).into(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn sign(parts: CertificateParts, key: &Signer) -> Certificate {
        let tbs = ToBeSigned::new(parts).unwrap();
        let signature = key.sign(tbs.der()).unwrap().to_x509().unwrap();
        tbs.into_certificate(&signature).unwrap()
    }

    /// A root, a name-constrained intermediate and what a leaf needs; each leaf part editable.
    struct Pki {
        root: Certificate,
        intermediate: Certificate,
        intermediate_key: Signer,
    }

    struct LeafSpec {
        subject: Vec<(der::asn1::ObjectIdentifier, String)>,
        uris: Vec<String>,
        ski: bool,
    }

    impl LeafSpec {
        fn wire() -> Self {
            Self {
                subject: vec![
                    (oid::ORGANIZATION, DOMAIN.into()),
                    (oid::COMMON_NAME, "Alice Smith".into()),
                ],
                uris: vec![
                    "wireapp://%40alice_wire@wire.example.com".into(),
                    "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.example.com".into(),
                ],
                ski: true,
            }
        }
    }

    impl Pki {
        fn new() -> Self {
            let now = OffsetDateTime::now_utc();
            let root_key = Signer::ephemeral(KeyAlgorithm::P384).unwrap();
            let intermediate_key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
            let root_name = name(&[(oid::COMMON_NAME, "Root")]);
            let root = sign(
                CertificateParts {
                    serial: random_serial().unwrap(),
                    issuer: root_name.clone(),
                    subject: root_name.clone(),
                    validity: validity(
                        now - time::Duration::hours(1),
                        now + time::Duration::days(10),
                    )
                    .unwrap(),
                    subject_public_key: root_key.public_key().clone(),
                    issuer_algorithm: KeyAlgorithm::P384,
                    extensions: vec![
                        basic_constraints(true, Some(1)).unwrap(),
                        key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                        subject_key_identifier(root_key.public_key()).unwrap(),
                    ],
                },
                &root_key,
            );
            let intermediate = sign(
                CertificateParts {
                    serial: random_serial().unwrap(),
                    issuer: root_name,
                    subject: name(&[(oid::COMMON_NAME, "Intermediate")]),
                    validity: validity(
                        now - time::Duration::hours(1),
                        now + time::Duration::days(10),
                    )
                    .unwrap(),
                    subject_public_key: intermediate_key.public_key().clone(),
                    issuer_algorithm: KeyAlgorithm::P384,
                    extensions: vec![
                        basic_constraints(true, Some(0)).unwrap(),
                        key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign).unwrap(),
                        subject_key_identifier(intermediate_key.public_key()).unwrap(),
                        authority_key_identifier(&root_key.public_key().key_identifier()).unwrap(),
                        name_constraints(&[DOMAIN.into()], &[DOMAIN.into()]).unwrap(),
                    ],
                },
                &root_key,
            );
            Self {
                root,
                intermediate,
                intermediate_key,
            }
        }

        fn leaf(&self, key: &PublicKey, spec: LeafSpec) -> Certificate {
            let now = OffsetDateTime::now_utc();
            let subject: Vec<(der::asn1::ObjectIdentifier, &str)> =
                spec.subject.iter().map(|(o, v)| (*o, v.as_str())).collect();
            let mut extensions = vec![
                key_usage(KeyUsages::DigitalSignature.into()).unwrap(),
                ext_key_usage(&[oid::KP_CLIENT_AUTH]).unwrap(),
                authority_key_identifier(&self.intermediate_key.public_key().key_identifier())
                    .unwrap(),
                subject_alt_name_uris(&spec.uris).unwrap(),
            ];
            if spec.ski {
                extensions.push(subject_key_identifier(key).unwrap());
            }
            sign(
                CertificateParts {
                    serial: random_serial().unwrap(),
                    issuer: self.intermediate.tbs_certificate().subject().clone(),
                    subject: name(&subject),
                    validity: validity(
                        now - time::Duration::minutes(1),
                        now + time::Duration::days(1),
                    )
                    .unwrap(),
                    subject_public_key: key.clone(),
                    issuer_algorithm: KeyAlgorithm::P256,
                    extensions,
                },
                &self.intermediate_key,
            )
        }

        fn verify(
            &self,
            leaf: Certificate,
            key: &PublicKey,
        ) -> Result<VerifiedChain, CertificateError> {
            let expected = ExpectedLeaf {
                identifiers: &ids(),
                key,
                algorithm: key.algorithm(),
            };
            verify_chain(
                &[leaf, self.intermediate.clone()],
                std::slice::from_ref(&self.root),
                &expected,
                OffsetDateTime::now_utc(),
            )
        }
    }

    /// Path validation verifies RSA chains of other PKIs, but an RSA leaf key is never the MLS
    /// key: an openssl-made RSA chain (`testdata/rsa-path`, clientAuth leaf) is refused here.
    #[test]
    fn refuses_an_rsa_leaf_after_path_validation_accepts_it() {
        let read = |file: &str| {
            let path = format!("{}/../testdata/rsa-path/{file}", env!("CARGO_MANIFEST_DIR"));
            e2ei_core::x509::certificates_from_pem_or_der(&std::fs::read(path).unwrap())
                .unwrap()
                .remove(0)
        };
        let (root, leaf) = (read("root.pem"), read("leaf-sha256.pem"));
        let not_before = leaf
            .tbs_certificate()
            .validity()
            .not_before
            .to_unix_duration();
        let now = OffsetDateTime::from_unix_timestamp(i64::try_from(not_before.as_secs()).unwrap())
            .unwrap()
            + time::Duration::hours(1);
        let key = Signer::ephemeral(KeyAlgorithm::P256)
            .unwrap()
            .public_key()
            .clone();
        let expected = ExpectedLeaf {
            identifiers: &ids(),
            key: &key,
            algorithm: KeyAlgorithm::P256,
        };
        match verify_chain(&[leaf], &[root], &expected, now) {
            Err(CertificateError::LeafKey(why)) => assert!(why.contains("RSA"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accepts_a_wire_leaf_for_the_mls_key() {
        let pki = Pki::new();
        for alg in KeyAlgorithm::ALL {
            let key = Signer::ephemeral(alg).unwrap();
            let leaf = pki.leaf(key.public_key(), LeafSpec::wire());
            let verified = pki.verify(leaf, key.public_key()).unwrap();
            assert_eq!(verified.path.len(), 3);
            assert!(matches!(
                verified.revocation,
                RevocationStatus::NotDetermined { .. }
            ));
        }
    }

    #[test]
    fn rejects_a_leaf_for_another_key() {
        let pki = Pki::new();
        let mls = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let leaf = pki.leaf(other.public_key(), LeafSpec::wire());
        assert_eq!(
            pki.verify(leaf, mls.public_key()).unwrap_err(),
            CertificateError::KeyMismatch
        );
        let ed = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        let leaf = pki.leaf(ed.public_key(), LeafSpec::wire());
        assert!(matches!(
            pki.verify(leaf, mls.public_key()).unwrap_err(),
            CertificateError::AlgorithmMismatch {
                expected: KeyAlgorithm::P256,
                found: KeyAlgorithm::Ed25519
            }
        ));
    }

    #[test]
    fn rejects_identity_mismatches() {
        let pki = Pki::new();
        let key = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
        let check = |edit: &dyn Fn(&mut LeafSpec)| {
            let mut spec = LeafSpec::wire();
            edit(&mut spec);
            pki.verify(pki.leaf(key.public_key(), spec), key.public_key())
                .unwrap_err()
        };
        assert!(matches!(
            check(&|s| s.uris[1] =
                "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.example.com".into()),
            CertificateError::ClientIdMismatch { .. }
        ));
        assert!(matches!(
            check(
                &|s| s.uris[1] = "wireapp://yRbSiljXSnCl77-QkM634g%21aaaa@wire.example.com".into()
            ),
            CertificateError::ClientIdMismatch { .. }
        ));
        assert_eq!(
            check(&|s| {
                s.uris.remove(1);
            }),
            CertificateError::MissingClientId
        );
        assert!(matches!(
            check(&|s| s.uris[0] = "wireapp://%40mallory@wire.example.com".into()),
            CertificateError::HandleMismatch { .. }
        ));
        assert_eq!(
            check(&|s| {
                s.uris.remove(0);
            }),
            CertificateError::MissingHandle
        );
        assert!(matches!(
            check(&|s| s.subject[1].1 = "Mallory".into()),
            CertificateError::DisplayNameMismatch { .. }
        ));
        assert_eq!(
            check(&|s| {
                s.subject.remove(1);
            }),
            CertificateError::MissingDisplayName
        );
        assert_eq!(
            check(&|s| {
                s.subject.remove(0);
            }),
            CertificateError::MissingDomain
        );
        assert_eq!(
            check(&|s| s.ski = false),
            CertificateError::MissingSubjectKeyIdentifier {
                subject: "O=wire.example.com, CN=Alice Smith".into()
            }
        );
    }

    #[test]
    fn rejects_names_outside_the_intermediates_constraints_and_foreign_roots() {
        let pki = Pki::new();
        let key = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
        let mut spec = LeafSpec::wire();
        spec.uris[0] = "wireapp://%40alice_wire@evil.example.org".into();
        let leaf = pki.leaf(key.public_key(), spec);
        assert!(matches!(
            pki.verify(leaf, key.public_key()).unwrap_err(),
            CertificateError::Path(_)
        ));

        let leaf = pki.leaf(key.public_key(), LeafSpec::wire());
        let other = Pki::new();
        let expected = ExpectedLeaf {
            identifiers: &ids(),
            key: key.public_key(),
            algorithm: KeyAlgorithm::P256,
        };
        let result = verify_chain(
            &[leaf, pki.intermediate.clone()],
            std::slice::from_ref(&other.root),
            &expected,
            OffsetDateTime::now_utc(),
        );
        assert!(matches!(
            result.unwrap_err(),
            CertificateError::Path(
                PathError::BadSignature { .. } | PathError::NoPathToTrustAnchor { .. }
            )
        ));
        assert_eq!(
            verify_chain(
                &[],
                std::slice::from_ref(&pki.root),
                &expected,
                OffsetDateTime::now_utc()
            )
            .unwrap_err(),
            CertificateError::EmptyChain
        );
    }
}
