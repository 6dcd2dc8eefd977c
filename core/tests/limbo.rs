//! x509-limbo (C2SP): every case of `testdata/x509-limbo/limbo.json` through e2ei's path
//! validation, compared with the case's `expected_result` and with the checked-in ledger of
//! known divergences, `testdata/x509-limbo/e2ei-divergences.txt`.
//!
//! A case fails the test when e2ei disagrees with the expected result and the ledger does not
//! say `fail`, or when the ledger says `fail` and e2ei now agrees: an unexpected pass is as loud
//! as an unexpected failure, so the ledger always describes e2ei as it is. Cases the ledger
//! marks `skip` are not run; each skip reason is one the harness can check against the case's
//! data (see [`SkipReason`]), so a skip cannot hide a path-validation result.
//!
//! How a case becomes a `validate_path` call:
//!
//! - `trusted_certs` → trust anchors, `untrusted_intermediates` → intermediates,
//!   `peer_certificate` → end entity; a certificate or CRL that does not parse is a rejection
//!   (e2ei cannot validate what it cannot read);
//! - `validation_time` → the validation time, or now when absent;
//! - `extended_key_usage` → the required EKU (each listed purpose is required in turn); when the
//!   list is empty, the purpose the `validation_kind` stands for: serverAuth for SERVER (a TLS
//!   server's certificate), clientAuth for CLIENT;
//! - `crls` → `with_crls(…, RevocationPolicy::CheckIfAvailable)`: each CRL given is checked, and
//!   a certificate whose issuer published none is not failed for that (limbo gives CRLs for the
//!   certificates it is about, not for every CA of the chain);
//! - `max_chain_depth` → `max_intermediates`;
//! - `expected_peer_name(s)`: e2ei's path validation does not match DNS, IP or e-mail peer
//!   names (callers match identities themselves, e.g. the client its `wireapp://` URIs), so the
//!   name is not checked. That is sound for a case that expects SUCCESS (its name matches by
//!   construction) and for one that expects FAILURE for a reason in the chain; a case whose
//!   failure *is* the peer name is a `skip peer-name` in the ledger;
//! - `key_usage`, `signature_algorithms`: validate_path takes no such constraint (the leaf
//!   profiles check keyUsage at issuance), so a case that sets them must be a ledger skip.
//!
//! `--nocapture` shows the counts; `LIMBO_VERBOSE=1` also prints e2ei's verdict on every case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ANY_EXTENDED_KEY_USAGE, ID_KP_CODE_SIGNING, ID_KP_EMAIL_PROTECTION, ID_KP_OCSP_SIGNING,
    ID_KP_TIME_STAMPING,
};
use der::DecodePem;
use e2ei_core::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH};
use e2ei_core::path::{PathError, RevocationPolicy, ValidationOptions, validate_path};
use e2ei_core::x509::certificates_from_pem_or_der;
use serde::Deserialize;
use serde::de::IgnoredAny;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

// ---------------------------------------------------------------------------------------------
// The suite's format (limbo-schema.json, version 1)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limbo {
    version: u32,
    testcases: Vec<Case>,
}

/// One test case; required fields and defaults as in the schema. Unknown fields are refused so
/// that a newer suite with a new constraint is not run as if the constraint were absent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    validation_kind: ValidationKind,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    signature_algorithms: Vec<String>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    expected_result: Expected,
    // Only their presence matters to the harness (see the module documentation).
    expected_peer_name: Option<IgnoredAny>,
    expected_peer_names: Vec<IgnoredAny>,
    max_chain_depth: Option<u32>,
    #[serde(default)]
    crls: Vec<String>,
    // Informational, or for the peer's side of a handshake: nothing to validate. `features`
    // tag optional behaviour; the ledger, not the tags, decides what is skipped.
    #[serde(rename = "features", default)]
    _features: IgnoredAny,
    #[serde(rename = "conflicts_with", default)]
    _conflicts_with: IgnoredAny,
    #[serde(rename = "importance", default)]
    _importance: IgnoredAny,
    #[serde(rename = "description")]
    _description: IgnoredAny,
    #[serde(rename = "peer_certificate_key", default)]
    _peer_certificate_key: IgnoredAny,
}

#[derive(Clone, Copy, Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "UPPERCASE")]
enum ValidationKind {
    Server,
    Client,
}

#[derive(Clone, Copy, Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "UPPERCASE")]
enum Expected {
    Success,
    Failure,
}

fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/x509-limbo")
        .join(file)
}

// ---------------------------------------------------------------------------------------------
// The ledger
// ---------------------------------------------------------------------------------------------

/// Why a case is not run. Each reason has a precondition on the case's data that the harness
/// checks, so the ledger cannot skip a case for a reason that does not apply to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SkipReason {
    /// The case expects FAILURE because of its expected peer name, which e2ei does not match.
    PeerName,
    /// The case constrains the end entity's keyUsage, which validate_path does not check.
    KeyUsage,
    /// The case restricts signature algorithms, which validate_path takes no list of.
    SignatureAlgorithms,
}

impl SkipReason {
    fn parse(tag: &str) -> Option<Self> {
        match tag {
            "peer-name" => Some(Self::PeerName),
            "key-usage" => Some(Self::KeyUsage),
            "signature-algorithms" => Some(Self::SignatureAlgorithms),
            _ => None,
        }
    }

    fn applies_to(self, case: &Case) -> bool {
        match self {
            Self::PeerName => {
                case.expected_result == Expected::Failure
                    && (case.expected_peer_name.is_some() || !case.expected_peer_names.is_empty())
            }
            Self::KeyUsage => !case.key_usage.is_empty(),
            Self::SignatureAlgorithms => !case.signature_algorithms.is_empty(),
        }
    }
}

#[derive(Debug)]
enum Entry {
    /// e2ei is known to disagree with the expected result.
    Fail { tag: String },
    /// Not run, for a reason the harness checks.
    Skip { reason: SkipReason, tag: String },
}

/// Reads `<case id> <fail|skip> <tag>: <justification>` lines; `#` starts a comment line.
fn read_ledger(text: &str) -> BTreeMap<String, Entry> {
    let mut ledger = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Columns are aligned with any run of spaces.
        let Some((id, outcome, justification)) =
            line.split_once(char::is_whitespace).and_then(|(id, rest)| {
                let (outcome, justification) = rest.trim_start().split_once(char::is_whitespace)?;
                Some((id, outcome, justification))
            })
        else {
            panic!(
                "ledger line {}: `<id> <fail|skip> <tag>: <why>`",
                number + 1
            );
        };
        let (tag, why) = justification
            .trim()
            .split_once(':')
            .unwrap_or_else(|| panic!("ledger line {}: no `<tag>:`", number + 1));
        assert!(
            !tag.is_empty() && !why.trim().is_empty(),
            "ledger line {}: empty tag or justification",
            number + 1
        );
        let entry = match outcome {
            "fail" => Entry::Fail {
                tag: tag.to_owned(),
            },
            "skip" => Entry::Skip {
                reason: SkipReason::parse(tag).unwrap_or_else(|| {
                    panic!("ledger line {}: unknown skip reason `{tag}`", number + 1)
                }),
                tag: tag.to_owned(),
            },
            other => panic!("ledger line {}: outcome `{other}`", number + 1),
        };
        assert!(
            ledger.insert(id.to_owned(), entry).is_none(),
            "ledger line {}: {id} listed twice",
            number + 1
        );
    }
    ledger
}

// ---------------------------------------------------------------------------------------------
// Running one case
// ---------------------------------------------------------------------------------------------

fn parse_certificate(what: &str, pem: &str) -> Result<Certificate, String> {
    match certificates_from_pem_or_der(pem.as_bytes()) {
        Ok(mut certs) if certs.len() == 1 => Ok(certs.remove(0)),
        Ok(certs) => Err(format!("{what}: {} certificates in one PEM", certs.len())),
        Err(e) => Err(format!("{what} does not parse: {e}")),
    }
}

fn eku_oid(name: &str) -> ObjectIdentifier {
    match name {
        "serverAuth" => KP_SERVER_AUTH,
        "clientAuth" => KP_CLIENT_AUTH,
        "codeSigning" => ID_KP_CODE_SIGNING,
        "emailProtection" => ID_KP_EMAIL_PROTECTION,
        "timeStamping" => ID_KP_TIME_STAMPING,
        "OCSPSigning" => ID_KP_OCSP_SIGNING,
        "anyExtendedKeyUsage" => ANY_EXTENDED_KEY_USAGE,
        dotted => ObjectIdentifier::new(dotted)
            .unwrap_or_else(|e| panic!("extended_key_usage `{dotted}`: {e}")),
    }
}

/// e2ei's verdict: `Ok` when the peer certificate validates, `Err` with the reason otherwise.
/// Only inputs e2ei rejects become `Err`; malformed test data panics.
fn run(case: &Case) -> Result<(), String> {
    let anchors = case
        .trusted_certs
        .iter()
        .map(|pem| parse_certificate("trusted certificate", pem))
        .collect::<Result<Vec<_>, _>>()?;
    let intermediates = case
        .untrusted_intermediates
        .iter()
        .map(|pem| parse_certificate("untrusted intermediate", pem))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = parse_certificate("peer certificate", &case.peer_certificate)?;
    let crls = case
        .crls
        .iter()
        .map(|pem| CertificateList::from_pem(pem).map_err(|e| format!("CRL does not parse: {e}")))
        .collect::<Result<Vec<_>, _>>()?;

    let time = match &case.validation_time {
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .unwrap_or_else(|e| panic!("{}: validation_time `{text}`: {e}", case.id)),
        None => OffsetDateTime::now_utc(),
    };
    let required: Vec<ObjectIdentifier> = if case.extended_key_usage.is_empty() {
        vec![match case.validation_kind {
            ValidationKind::Server => KP_SERVER_AUTH,
            ValidationKind::Client => KP_CLIENT_AUTH,
        }]
    } else {
        case.extended_key_usage.iter().map(|e| eku_oid(e)).collect()
    };

    for eku in required {
        let mut options = ValidationOptions::default().with_required_eku(eku);
        if !crls.is_empty() {
            options = options.with_crls(&crls, RevocationPolicy::CheckIfAvailable);
        }
        if let Some(depth) = case.max_chain_depth {
            options = options.with_max_intermediates(depth as usize);
        }
        validate_path(&anchors, &intermediates, &leaf, time, &options)
            .map_err(|e: PathError| e.to_string())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn x509_limbo_matches_the_divergence_ledger() {
    let limbo: Limbo =
        serde_json::from_slice(&std::fs::read(testdata("limbo.json")).unwrap()).unwrap();
    assert_eq!(limbo.version, 1, "limbo schema version");
    let ledger = read_ledger(&std::fs::read_to_string(testdata("e2ei-divergences.txt")).unwrap());
    let verbose = std::env::var_os("LIMBO_VERBOSE").is_some();

    let ids: HashMap<&str, &Case> = limbo.testcases.iter().map(|c| (c.id.as_str(), c)).collect();
    assert_eq!(ids.len(), limbo.testcases.len(), "duplicate case ids");
    let mut problems: Vec<String> = ledger
        .keys()
        .filter(|id| !ids.contains_key(id.as_str()))
        .map(|id| format!("{id}: in the ledger but not in limbo.json"))
        .collect();

    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut by_tag: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for case in &limbo.testcases {
        let entry = ledger.get(&case.id);
        if let Some(Entry::Skip { reason, tag }) = entry {
            if !reason.applies_to(case) {
                problems.push(format!(
                    "{}: skipped as `{tag}`, which does not apply to this case",
                    case.id
                ));
            }
            skipped += 1;
            *by_tag.entry(("skip", tag)).or_default() += 1;
            continue;
        }
        for (needed, reason) in [
            (!case.key_usage.is_empty(), "key-usage"),
            (
                !case.signature_algorithms.is_empty(),
                "signature-algorithms",
            ),
        ] {
            if needed {
                problems.push(format!(
                    "{}: sets a constraint validate_path cannot apply: needs `skip {reason}`",
                    case.id
                ));
            }
        }

        let started = std::time::Instant::now();
        let verdict = run(case);
        let elapsed = started.elapsed();
        let agrees = match (&verdict, case.expected_result) {
            (Ok(()), Expected::Success) | (Err(_), Expected::Failure) => true,
            (Ok(()), Expected::Failure) | (Err(_), Expected::Success) => false,
        };
        let shown = match &verdict {
            Ok(()) => "SUCCESS".to_owned(),
            Err(e) => format!("FAILURE ({e})"),
        };
        if verbose {
            println!(
                "{:<8} {:<70} {:>5} ms  expected {:?}, e2ei {shown}",
                if agrees { "agree" } else { "DISAGREE" },
                case.id,
                elapsed.as_millis(),
                case.expected_result
            );
        }
        // Skips were handled above: what is left is a `fail` entry or none.
        let listed = match entry {
            Some(Entry::Fail { tag }) => Some(tag),
            Some(Entry::Skip { .. }) | None => None,
        };
        match (agrees, listed) {
            (true, None) => passed += 1,
            (false, Some(tag)) => {
                failed += 1;
                *by_tag.entry(("fail", tag)).or_default() += 1;
            }
            (false, None) => problems.push(format!(
                "{}: unexpected result: expected {:?}, e2ei {shown}",
                case.id, case.expected_result
            )),
            (true, Some(_)) => problems.push(format!(
                "{}: listed as `fail` in the ledger but now agrees ({shown}): remove it",
                case.id
            )),
        }
    }

    println!(
        "limbo: {passed} passed, {failed} failed (ledger), {skipped} skipped of {}",
        limbo.testcases.len()
    );
    for ((outcome, tag), n) in &by_tag {
        println!("  {outcome} {tag}: {n}");
    }
    assert!(
        problems.is_empty(),
        "x509-limbo results differ from testdata/x509-limbo/e2ei-divergences.txt:\n{}",
        problems.join("\n")
    );
    assert_eq!(passed + failed + skipped, limbo.testcases.len());
}
