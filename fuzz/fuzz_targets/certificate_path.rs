//! Certificates and CRLs from peers: DER parsing and path validation never panic, whatever
//! the bytes. The input is a trust anchor, an intermediate and a leaf, the first two each
//! preceded by a 2-byte big-endian length.
#![no_main]

use der::Decode;
use e2ei_core::path::{ValidationOptions, validate_path};
use libfuzzer_sys::fuzz_target;
use x509_cert::Certificate;

fuzz_target!(|data: &[u8]| {
    fn take(data: &[u8]) -> Option<(&[u8], &[u8])> {
        let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
        let rest = data.get(2..)?;
        (rest.len() >= len).then(|| rest.split_at(len))
    }
    let Some((a, rest)) = take(data) else { return };
    let Some((b, c)) = take(rest) else { return };
    let certs: Vec<Certificate> = [a, b, c]
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .collect();
    if let [anchor, rest @ ..] = certs.as_slice() {
        if let Some((leaf, intermediates)) = rest.split_last() {
            let _ = validate_path(
                std::slice::from_ref(anchor),
                intermediates,
                leaf,
                time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
                &ValidationOptions::default(),
            );
        }
    }
});
