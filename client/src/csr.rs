//! The CSR Wire's client sends to finalize (protocol doc §7.1): PKCS#10 v1 for the **MLS
//! signing key** (not the ACME account key), subject `O=<domain>` then the displayName
//! attribute (2.16.840.1.113730.3.1.241) with the display name — both UTF8String, no CN — and an
//! `extensionRequest` holding one non-critical subjectAltName with the client-id URI (literal
//! `!`) and the handle URI. Signed by the MLS key through e2ei-signer.

use der::Encode;
use e2ei_core::identifier::WireIdentifiers;
use e2ei_core::oid;
use e2ei_core::x509::{CsrToBeSigned, NameAttribute, X509Error, build_name, subject_alt_name_uris};
use e2ei_signer::{Signer, SignerError};

/// Why the CSR could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// A value cannot be encoded.
    #[error("encoding the CSR: {0}")]
    Encoding(#[from] X509Error),
    /// The MLS key failed to sign.
    #[error("signing the CSR with the MLS key: {0}")]
    Signer(#[from] SignerError),
}

/// The DER CSR for `identifiers`, signed by `mls_key`.
pub fn build_csr(mls_key: &Signer, identifiers: &WireIdentifiers) -> Result<Vec<u8>, CsrError> {
    let subject = build_name(&[
        NameAttribute {
            oid: oid::ORGANIZATION,
            value: identifiers.domain().as_str().to_owned(),
        },
        NameAttribute {
            oid: oid::DISPLAY_NAME,
            value: identifiers.name().as_str().to_owned(),
        },
    ])?;
    let san = subject_alt_name_uris(&[
        identifiers.client_id().to_uri(),
        identifiers.handle().to_uri(),
    ])?;
    let tbs = CsrToBeSigned::with_extensions(subject, mls_key.public_key(), vec![san])?;
    let signature = mls_key.sign(tbs.der())?.to_x509()?;
    let csr = tbs.into_csr(&signature)?;
    csr.to_der().map_err(|e| {
        CsrError::Encoding(X509Error::Encoding {
            what: "CSR",
            reason: e.to_string(),
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use der::Decode;
    use e2ei_core::ciphersuite::KeyAlgorithm;
    use e2ei_core::id::{ClientId, DisplayName, Handle};
    use e2ei_core::x509::{csr_requested_extensions, name_attribute, verify_csr};
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::request::CertReq;

    #[test]
    fn csr_follows_section_7_1_for_every_algorithm() {
        let client_id: ClientId = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"
            .parse()
            .unwrap();
        let ids = WireIdentifiers::for_client(
            client_id,
            Handle::new("alice_wire").unwrap(),
            DisplayName::new("Smith, Alice M (QA)").unwrap(),
        );
        for alg in KeyAlgorithm::ALL {
            let key = Signer::ephemeral(alg).unwrap();
            let csr = CertReq::from_der(&build_csr(&key, &ids).unwrap()).unwrap();
            assert_eq!(&verify_csr(&csr).unwrap(), key.public_key());
            let subject = &csr.info.subject;
            let oids: Vec<_> = subject.iter().map(|a| a.oid).collect();
            assert_eq!(oids, [oid::ORGANIZATION, oid::DISPLAY_NAME], "no CN");
            assert_eq!(
                name_attribute(subject, oid::DISPLAY_NAME).unwrap(),
                "Smith, Alice M (QA)"
            );
            for atv in subject.iter() {
                assert!(
                    atv.value
                        .decode_as::<der::asn1::Utf8StringRef<'_>>()
                        .is_ok()
                );
            }
            let extensions = csr_requested_extensions(&csr).unwrap();
            assert_eq!(extensions.len(), 1);
            assert_eq!(extensions[0].extn_id, oid::SUBJECT_ALT_NAME);
            assert!(!extensions[0].critical);
            let san = SubjectAltName::from_der(extensions[0].extn_value.as_bytes()).unwrap();
            let uris: Vec<String> = san
                .0
                .iter()
                .map(|n| match n {
                    GeneralName::UniformResourceIdentifier(u) => u.as_str().to_owned(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                uris,
                [
                    "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
                    "wireapp://%40alice_wire@wire.com"
                ]
            );
        }
    }
}
