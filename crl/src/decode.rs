//! Decoding a CRL received from a peer (RFC 5280 §5.1) into a [`CrlIn`]: the structure is
//! decoded, nothing is checked or trusted yet ([`CrlIn::verify`] does that).
//!
//! The revoked list is kept as the bytes of its SEQUENCE OF and walked on demand by
//! [`RevokedEntries`], which borrows serial numbers from the input and decodes times and
//! extensions in place: no per-entry allocation, so a list of a million entries decodes in a
//! fraction of the time x509-cert's owned `CertificateList` takes. The to-be-signed bytes are
//! kept exactly as received, so the signature is checked over what was signed rather than over
//! a re-encoding.

use std::borrow::Cow;

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, IntRef, OctetStringRef};
use der::{Decode, ErrorKind, Reader, SliceReader, Tag, TagNumber, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::verify::VerifyError;

/// The PEM label of a CRL.
const PEM_LABEL: &str = "X509 CRL";

/// A CRL as received: decoded, unverified.
#[derive(Clone, Debug)]
pub struct CrlIn<'a> {
    pub(crate) tbs_der: &'a [u8],
    pub(crate) version: Option<u8>,
    pub(crate) inner_signature: AlgorithmIdentifierOwned,
    pub(crate) issuer: Name,
    pub(crate) this_update: Time,
    pub(crate) next_update: Option<Time>,
    pub(crate) revoked: Option<&'a [u8]>,
    pub(crate) extensions: Option<Vec<Extension>>,
    pub(crate) signature_algorithm: AlgorithmIdentifierOwned,
    pub(crate) signature: BitStringRef<'a>,
}

/// The DER of a CRL given as DER or as PEM (`-----BEGIN X509 CRL-----`).
pub fn der_from_pem_or_der(bytes: &[u8]) -> Result<Cow<'_, [u8]>, VerifyError> {
    let text_start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if !text_start.is_some_and(|i| bytes[i..].starts_with(b"-----BEGIN")) {
        return Ok(Cow::Borrowed(bytes));
    }
    let (label, der) = der::pem::decode_vec(bytes).map_err(|e| VerifyError::Pem(e.to_string()))?;
    if label != PEM_LABEL {
        return Err(VerifyError::Pem(format!(
            "expected a `{PEM_LABEL}` block, got `{label}`"
        )));
    }
    Ok(Cow::Owned(der))
}

/// The mapping of DER errors: truncated input apart, every error is malformed input.
pub(crate) fn der_error(what: &'static str) -> impl Fn(der::Error) -> VerifyError {
    move |e| match e.kind() {
        ErrorKind::Incomplete {
            expected_len,
            actual_len,
        } => VerifyError::Truncated {
            what,
            expected_len: usize::try_from(expected_len).unwrap_or(usize::MAX),
            actual_len: usize::try_from(actual_len).unwrap_or(usize::MAX),
        },
        _ => VerifyError::Malformed {
            what,
            reason: e.to_string(),
        },
    }
}

fn expect_tag(any: &AnyRef<'_>, tag: Tag, what: &'static str) -> Result<(), VerifyError> {
    if any.tag() == tag {
        Ok(())
    } else {
        Err(VerifyError::Malformed {
            what,
            reason: format!("expected {tag}, got {}", any.tag()),
        })
    }
}

impl<'a> CrlIn<'a> {
    /// Decodes a DER `CertificateList`; nothing may follow it.
    pub fn from_der(der: &'a [u8]) -> Result<Self, VerifyError> {
        let outer = AnyRef::from_der(der).map_err(der_error("CertificateList"))?;
        expect_tag(&outer, Tag::Sequence, "CertificateList")?;
        let body = outer.value();
        let mut reader = SliceReader::new(body).map_err(der_error("CertificateList"))?;
        let tbs = AnyRef::decode(&mut reader).map_err(der_error("tbsCertList"))?;
        expect_tag(&tbs, Tag::Sequence, "tbsCertList")?;
        let tbs_len = usize::try_from(reader.position()).map_err(der_error("tbsCertList"))?;
        let tbs_der = &body[..tbs_len];
        let signature_algorithm = AlgorithmIdentifierOwned::decode(&mut reader)
            .map_err(der_error("signatureAlgorithm"))?;
        let signature = BitStringRef::decode(&mut reader).map_err(der_error("signatureValue"))?;
        reader.finish().map_err(der_error("CertificateList"))?;

        let mut t = SliceReader::new(tbs.value()).map_err(der_error("tbsCertList"))?;
        let version = if Tag::peek(&t).ok() == Some(Tag::Integer) {
            Some(u8::decode(&mut t).map_err(der_error("version"))?)
        } else {
            None
        };
        let inner_signature =
            AlgorithmIdentifierOwned::decode(&mut t).map_err(der_error("signature"))?;
        let issuer = Name::decode(&mut t).map_err(der_error("issuer"))?;
        let this_update = Time::decode(&mut t).map_err(der_error("thisUpdate"))?;
        let next_update = match Tag::peek(&t).ok() {
            Some(Tag::UtcTime | Tag::GeneralizedTime) => {
                Some(Time::decode(&mut t).map_err(der_error("nextUpdate"))?)
            }
            _ => None,
        };
        let revoked = if Tag::peek(&t).ok() == Some(Tag::Sequence) {
            Some(
                AnyRef::decode(&mut t)
                    .map_err(der_error("revokedCertificates"))?
                    .value(),
            )
        } else {
            None
        };
        let extensions = if t.is_finished() {
            None
        } else {
            let explicit = AnyRef::decode(&mut t).map_err(der_error("crlExtensions"))?;
            let tag = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(0),
            };
            expect_tag(&explicit, tag, "crlExtensions")?;
            Some(Vec::<Extension>::from_der(explicit.value()).map_err(der_error("crlExtensions"))?)
        };
        t.finish().map_err(der_error("tbsCertList"))?;

        Ok(Self {
            tbs_der,
            version,
            inner_signature,
            issuer,
            this_update,
            next_update,
            revoked,
            extensions,
            signature_algorithm,
            signature,
        })
    }

    /// The issuer name, as the CRL states it.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// thisUpdate, as the CRL states it.
    pub fn this_update(&self) -> time::OffsetDateTime {
        e2ei_core::x509::time_to_offset(&self.this_update)
    }

    /// nextUpdate, as the CRL states it (optional in RFC 5280's syntax; the profile requires
    /// it). A proxy or cache holds the bytes no longer than this.
    pub fn next_update(&self) -> Option<time::OffsetDateTime> {
        self.next_update
            .as_ref()
            .map(e2ei_core::x509::time_to_offset)
    }

    /// The revoked entries, decoded one by one as the iterator advances.
    pub fn revoked_entries(&self) -> RevokedEntries<'a> {
        Elements::new(self.revoked, decode_entry)
    }
}

/// One revoked entry, borrowed from the CRL's bytes.
#[derive(Clone, Debug)]
pub struct RevokedEntryIn<'a> {
    /// The serial number's DER INTEGER contents (as `SerialNumber::as_bytes` gives them).
    pub serial: &'a [u8],
    /// revocationDate.
    pub revocation_date: Time,
    extensions: Option<&'a [u8]>,
}

impl<'a> RevokedEntryIn<'a> {
    /// The entry's extensions, decoded one by one.
    pub fn extensions(&self) -> EntryExtensions<'a> {
        Elements::new(self.extensions, decode_extension)
    }
}

/// The revoked entries of a [`CrlIn`]; stops after the first error.
pub type RevokedEntries<'a> = Elements<'a, RevokedEntryIn<'a>>;

/// The extensions of a revoked entry; stops after the first error.
pub type EntryExtensions<'a> = Elements<'a, ExtensionIn<'a>>;

/// The elements of a DER SEQUENCE OF, decoded one at a time; stops after the first error.
#[derive(Clone, Debug)]
pub struct Elements<'a, T> {
    reader: Option<SliceReader<'a>>,
    decode: fn(&mut SliceReader<'a>) -> Result<T, VerifyError>,
}

impl<'a, T> Elements<'a, T> {
    fn new(
        contents: Option<&'a [u8]>,
        decode: fn(&mut SliceReader<'a>) -> Result<T, VerifyError>,
    ) -> Self {
        Self {
            // The contents were read out of a valid DER length, so they fit a reader.
            reader: contents.and_then(|c| SliceReader::new(c).ok()),
            decode,
        }
    }
}

impl<T> Iterator for Elements<'_, T> {
    type Item = Result<T, VerifyError>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        if reader.is_finished() {
            self.reader = None;
            return None;
        }
        let element = (self.decode)(reader);
        if element.is_err() {
            self.reader = None;
        }
        Some(element)
    }
}

fn decode_entry<'a>(reader: &mut SliceReader<'a>) -> Result<RevokedEntryIn<'a>, VerifyError> {
    let what = "revoked entry";
    let entry = AnyRef::decode(reader).map_err(der_error(what))?;
    expect_tag(&entry, Tag::Sequence, what)?;
    let mut r = SliceReader::new(entry.value()).map_err(der_error(what))?;
    let serial = IntRef::decode(&mut r)
        .map_err(der_error("userCertificate"))?
        .as_bytes();
    let revocation_date = Time::decode(&mut r).map_err(der_error("revocationDate"))?;
    let extensions = if r.is_finished() {
        None
    } else {
        let list = AnyRef::decode(&mut r).map_err(der_error("crlEntryExtensions"))?;
        expect_tag(&list, Tag::Sequence, "crlEntryExtensions")?;
        Some(list.value())
    };
    r.finish().map_err(der_error(what))?;
    Ok(RevokedEntryIn {
        serial,
        revocation_date,
        extensions,
    })
}

/// One extension, borrowed from the CRL's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionIn<'a> {
    /// extnID.
    pub oid: ObjectIdentifier,
    /// critical.
    pub critical: bool,
    /// The extnValue OCTET STRING's contents.
    pub value: &'a [u8],
}

fn decode_extension<'a>(reader: &mut SliceReader<'a>) -> Result<ExtensionIn<'a>, VerifyError> {
    let what = "entry extension";
    let ext = AnyRef::decode(reader).map_err(der_error(what))?;
    expect_tag(&ext, Tag::Sequence, what)?;
    let mut r = SliceReader::new(ext.value()).map_err(der_error(what))?;
    let oid = ObjectIdentifier::decode(&mut r).map_err(der_error(what))?;
    let critical = if Tag::peek(&r).ok() == Some(Tag::Boolean) {
        bool::decode(&mut r).map_err(der_error(what))?
    } else {
        false
    };
    let value = <&OctetStringRef>::decode(&mut r)
        .map_err(der_error(what))?
        .as_bytes();
    r.finish().map_err(der_error(what))?;
    Ok(ExtensionIn {
        oid,
        critical,
        value,
    })
}
