//! `dns-01` (RFC 8555 §8.4): a TXT record at `_acme-challenge.{name}` must hold
//! base64url(SHA-256(key authorization)). A record split into several character-strings counts
//! as their concatenation (RFC 7208 §3.3 practice, which ACME clients and CAs follow).

use e2ei_acme::challenge::{DNS_01_LABEL, dns01_txt_value};
use e2ei_acme::{Problem, ProblemType};

use super::{Validator, fqdn, lookup_failure};

pub(super) async fn validate(
    validator: &Validator,
    name: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let record = format!("{DNS_01_LABEL}.{name}");
    let expected = dns01_txt_value(key_authorization);
    let lookup = validator
        .resolver
        .txt_lookup(fqdn(&record))
        .await
        .map_err(|e| match lookup_failure(&e) {
            Some(rcode) => Problem::new(
                ProblemType::Unauthorized,
                format!("no TXT record at {record} ({rcode})"),
            ),
            None => Problem::new(
                ProblemType::Dns,
                format!("DNS query for TXT {record} failed: {e}"),
            ),
        })?;
    let values: Vec<String> = lookup
        .iter()
        .map(|txt| {
            let bytes: Vec<u8> = txt
                .txt_data()
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect();
    if values.is_empty() {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            format!("no TXT record at {record}"),
        ));
    }
    if values.iter().any(|v| v == &expected) {
        return Ok(());
    }
    let shown: Vec<String> = values
        .iter()
        .take(5)
        .map(|v| v.chars().take(64).collect())
        .collect();
    Err(Problem::new(
        ProblemType::IncorrectResponse,
        format!(
            "the TXT records at {record} ({shown:?}) do not include the expected value {expected:?}"
        ),
    ))
}
