//! CRLs from peers: decoding (DER or PEM), verification against an issuer and indexing never
//! panic, whatever the bytes. The input is the issuer certificate preceded by its 2-byte
//! big-endian length, then the CRL. A CRL that verifies has an index that finds every serial it
//! lists, as many as the decoder walks.
#![no_main]

use der::Decode;
use e2ei_crl::decode::{CrlIn, der_from_pem_or_der};
use libfuzzer_sys::fuzz_target;
use x509_cert::Certificate;

fuzz_target!(|data: &[u8]| {
    let Some(len) = data.get(..2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
        return;
    };
    let Some((issuer, crl)) = data.get(2..).filter(|r| r.len() >= len).map(|r| r.split_at(len))
    else {
        return;
    };
    let Ok(der) = der_from_pem_or_der(crl) else {
        return;
    };
    let Ok(parsed) = CrlIn::from_der(&der) else {
        return;
    };
    let walked = parsed.revoked_entries().take_while(Result::is_ok).count();
    let Ok(issuer) = Certificate::from_der(issuer) else {
        return;
    };
    // At the CRL's own thisUpdate: the one instant it is current, if it ever is.
    if let Ok(verified) = parsed.verify(&issuer, parsed.this_update()) {
        let index = verified.index();
        assert_eq!(index.len(), walked);
        for (serial, revoked) in index.iter() {
            assert_eq!(index.is_revoked(serial), Some(revoked));
        }
    }
});
