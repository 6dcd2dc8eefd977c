//! The ceremonies. Each one: parse its file, plan its outputs (refusing existing ones), open
//! the keys, build the to-be-signed artifact, check it against its profile, and only then sign,
//! write the outputs and the transcript. `--dry-run` stops before signing and shows what would
//! be signed.

use std::path::{Path, PathBuf};

use der::Encode;
use e2ei_core::key::PublicKey;
use e2ei_core::oid;
use e2ei_core::profile::{self, IssuerRef, Profile};
use e2ei_core::x509::{
    CertificateParts, CrlParts, CrlScope, CsrToBeSigned, NameAttribute, RevokedEntry, ToBeSigned,
    authority_key_identifier, basic_constraints, build_name, certificate_to_pem,
    crl_distribution_points, key_usage, name_constraints, random_serial, serial_from_hex,
    sha256_fingerprint, subject_key_id, subject_key_identifier, validity,
};
use e2ei_crl::PreparedCrl;
use e2ei_signer::{GenerateOptions, KeyUri, SecretSource, Signer, uri::KEY_PASSWORD_ENV};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;

use crate::config::{self, Loaded, NameConstraintsConfig, SubjectConfig, ValidityConfig};
use crate::error::CliError;
use crate::inspect;
use crate::output::{Transcript, ensure_absent, publish, transcript_path};

/// What a ceremony reports on success.
pub(crate) struct Report {
    pub(crate) outputs: Vec<(String, PathBuf)>,
    pub(crate) summary: Value,
    pub(crate) dry_run: bool,
}

fn subject_name(subject: &SubjectConfig) -> Result<Name, CliError> {
    let mut attrs = Vec::new();
    if let Some(c) = &subject.country {
        attrs.push(NameAttribute {
            oid: oid::COUNTRY,
            value: c.clone(),
        });
    }
    if let Some(o) = &subject.organization {
        attrs.push(NameAttribute {
            oid: oid::ORGANIZATION,
            value: o.clone(),
        });
    }
    if let Some(ou) = &subject.organizational_unit {
        attrs.push(NameAttribute {
            oid: oid::ORGANIZATIONAL_UNIT,
            value: ou.clone(),
        });
    }
    attrs.push(NameAttribute {
        oid: oid::COMMON_NAME,
        value: subject.common_name.clone(),
    });
    Ok(build_name(&attrs)?)
}

fn validity_window(v: &ValidityConfig, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    // Whole seconds: X.509 times carry no fractions.
    let start = v
        .not_before
        .unwrap_or(now)
        .replace_nanosecond(0)
        .unwrap_or(now);
    (start, start + Duration::days(i64::from(v.days)))
}

fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Input {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn read_certificate(path: &Path) -> Result<(Certificate, Vec<u8>), CliError> {
    let bytes = read_input(path)?;
    let mut certs =
        e2ei_core::x509::certificates_from_pem_or_der(&bytes).map_err(|e| CliError::Input {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.len() != 1 {
        return Err(CliError::Input {
            path: path.to_owned(),
            reason: format!("expected exactly one certificate, found {}", certs.len()),
        });
    }
    Ok((certs.remove(0), bytes))
}

/// Opens the issuer key and checks it belongs to the issuer certificate.
fn open_issuer(uri: &KeyUri, issuer: &Certificate, issuer_path: &Path) -> Result<Signer, CliError> {
    let signer = Signer::open(uri)?;
    let cert_key =
        e2ei_core::x509::certificate_public_key(issuer).map_err(|e| CliError::Input {
            path: issuer_path.to_owned(),
            reason: e.to_string(),
        })?;
    if signer.public_key() != &cert_key {
        return Err(CliError::KeyMismatch {
            key: signer.describe(),
            certificate: issuer_path.to_owned(),
        });
    }
    Ok(signer)
}

fn key_json(signer: &Signer) -> Value {
    json!({
        "uri": signer.describe(),
        "algorithm": signer.algorithm().name(),
        "public_key_sha256": signer.public_key().fingerprint_sha256(),
    })
}

fn ca_extensions(
    subject_key: &PublicKey,
    issuer_key_id: Option<&[u8]>,
    path_len: u8,
    constraints: Option<&NameConstraintsConfig>,
    crl_dps: &[String],
) -> Result<Vec<x509_cert::ext::Extension>, CliError> {
    let mut exts = vec![
        basic_constraints(true, Some(path_len))?,
        key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)?,
        subject_key_identifier(subject_key)?,
    ];
    if let Some(aki) = issuer_key_id {
        exts.push(authority_key_identifier(aki)?);
    }
    if let Some(nc) = constraints {
        // An empty constraint set is left out entirely; the profile then names what is missing.
        if !nc.permitted_dns.is_empty() || !nc.permitted_uri.is_empty() {
            exts.push(name_constraints(&nc.permitted_dns, &nc.permitted_uri)?);
        }
    }
    if !crl_dps.is_empty() {
        exts.push(crl_distribution_points(crl_dps)?);
    }
    Ok(exts)
}

/// Signs a checked TBS and writes certificate + transcript.
fn sign_and_write_certificate(
    tbs: ToBeSigned,
    signer: &Signer,
    out: &Path,
    mut transcript: Transcript,
) -> Result<Report, CliError> {
    let signature = signer.sign(tbs.der())?.to_x509()?;
    let cert = tbs.into_certificate(&signature)?;
    let pem = certificate_to_pem(&cert)?;
    let summary = inspect::certificate_json(&cert);
    transcript.output("certificate", out, &cert.to_der().unwrap_or_default());
    finish("certificate", out, pem.as_bytes(), transcript, summary)
}

/// Publishes `contents` at `out` with its transcript and reports both.
fn finish(
    name: &str,
    out: &Path,
    contents: &[u8],
    mut transcript: Transcript,
    summary: Value,
) -> Result<Report, CliError> {
    transcript.summary = summary.clone();
    let transcript_file = publish(out, contents, &transcript)?;
    Ok(Report {
        outputs: vec![
            (name.into(), out.to_owned()),
            ("transcript".into(), transcript_file),
        ],
        summary,
        dry_run: false,
    })
}

fn dry_run_report(tbs_json: Value, tbs_der: &[u8], signer: &Signer) -> Report {
    Report {
        outputs: Vec::new(),
        summary: json!({
            "dry_run": true,
            "would_sign_with": key_json(signer),
            "to_be_signed_sha256": sha256_fingerprint(tbs_der),
            "to_be_signed": tbs_json,
        }),
        dry_run: true,
    }
}

/// `e2ei-ca key`.
pub(crate) fn key(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::KeyCeremony> = config::load(file)?;
    let c = &loaded.config;
    let uri = loaded.resolve_key_uri(&c.key)?;
    let public_out = loaded.resolve(&c.public_key_out);
    let transcript_file = transcript_path(&public_out);
    let mut planned = vec![public_out.as_path(), transcript_file.as_path()];
    if let KeyUri::File(f) = &uri {
        planned.push(f.path.as_path());
    }
    ensure_absent(&planned)?;
    if dry_run {
        return Ok(Report {
            outputs: Vec::new(),
            summary: json!({
                "dry_run": true,
                "would_generate": { "uri": uri.to_string(), "algorithm": c.algorithm.name() },
                "public_key_out": public_out.display().to_string(),
            }),
            dry_run: true,
        });
    }
    let mut options = GenerateOptions {
        pin_policy: c.pin_policy.clone(),
        touch_policy: c.touch_policy.clone(),
        ..Default::default()
    };
    if c.encrypt {
        let KeyUri::File(f) = &uri else {
            return Err(CliError::Config {
                path: loaded.path.clone(),
                reason: "`encrypt` applies to file: keys only".into(),
            });
        };
        let source = f
            .password_source
            .clone()
            .unwrap_or_else(|| SecretSource::Env(KEY_PASSWORD_ENV.into()));
        options.file_password = Some(source.read()?);
    }
    let started = OffsetDateTime::now_utc();
    let signer = Signer::generate(&uri, c.algorithm, &options)?;
    let pem = signer.public_key().to_pem();
    let mut transcript = Transcript::new("key", &loaded.path, &loaded.text, started);
    transcript.key = key_json(&signer);
    transcript.output("public_key", &public_out, signer.public_key().spki_der());
    finish(
        "public_key",
        &public_out,
        pem.as_bytes(),
        transcript,
        key_json(&signer),
    )
}

/// `e2ei-ca root`.
pub(crate) fn root(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::RootCeremony> = config::load(file)?;
    let c = &loaded.config;
    let out = loaded.resolve(&c.out);
    ensure_absent(&[&out, &transcript_path(&out)])?;
    let uri = loaded.resolve_key_uri(&c.key)?;
    let started = OffsetDateTime::now_utc();
    let signer = Signer::open(&uri)?;
    let subject = subject_name(&c.subject)?;
    let (not_before, not_after) = validity_window(&c.validity, started);
    let key = signer.public_key().clone();
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial()?,
        issuer: subject.clone(),
        subject,
        validity: validity(not_before, not_after)?,
        issuer_algorithm: key.algorithm(),
        extensions: ca_extensions(&key, Some(&key.key_identifier()), c.path_len, None, &[])?,
        subject_public_key: key,
    })?;
    profile::check(Profile::Root, tbs.parsed(), IssuerRef::SelfSigned, None)?;
    if dry_run {
        return Ok(dry_run_report(
            inspect::tbs_json(tbs.parsed()),
            tbs.der(),
            &signer,
        ));
    }
    let mut transcript = Transcript::new("root", &loaded.path, &loaded.text, started);
    transcript.key = key_json(&signer);
    sign_and_write_certificate(tbs, &signer, &out, transcript)
}

/// `e2ei-ca intermediate` and the signing half of `cross-sign`.
struct CaSigning<'a> {
    profile: Profile,
    ceremony: &'static str,
    issuer_key: &'a str,
    issuer_certificate: &'a Path,
    subject: Name,
    subject_key: PublicKey,
    validity: &'a ValidityConfig,
    path_len: u8,
    name_constraints: &'a NameConstraintsConfig,
    crl_distribution_points: &'a [String],
    out: &'a Path,
}

fn sign_ca<T>(
    loaded: &Loaded<T>,
    s: CaSigning<'_>,
    dry_run: bool,
    extra_input: Option<(&str, &Path, &[u8])>,
) -> Result<Report, CliError> {
    let out = loaded.resolve(s.out);
    ensure_absent(&[&out, &transcript_path(&out)])?;
    let issuer_path = loaded.resolve(s.issuer_certificate);
    let (issuer, issuer_bytes) = read_certificate(&issuer_path)?;
    let uri = loaded.resolve_key_uri(s.issuer_key)?;
    let started = OffsetDateTime::now_utc();
    let signer = open_issuer(&uri, &issuer, &issuer_path)?;
    let issuer_key_id =
        subject_key_id(issuer.tbs_certificate()).ok_or_else(|| CliError::Input {
            path: issuer_path.clone(),
            reason: "the issuer certificate has no subjectKeyIdentifier".into(),
        })?;
    let (not_before, not_after) = validity_window(s.validity, started);
    let tbs = ToBeSigned::new(CertificateParts {
        serial: random_serial()?,
        issuer: issuer.tbs_certificate().subject().clone(),
        subject: s.subject,
        validity: validity(not_before, not_after)?,
        issuer_algorithm: signer.algorithm(),
        extensions: ca_extensions(
            &s.subject_key,
            Some(&issuer_key_id),
            s.path_len,
            Some(s.name_constraints),
            s.crl_distribution_points,
        )?,
        subject_public_key: s.subject_key,
    })?;
    profile::check(
        s.profile,
        tbs.parsed(),
        IssuerRef::Certificate(&issuer),
        None,
    )?;
    if dry_run {
        return Ok(dry_run_report(
            inspect::tbs_json(tbs.parsed()),
            tbs.der(),
            &signer,
        ));
    }
    let mut transcript = Transcript::new(s.ceremony, &loaded.path, &loaded.text, started);
    transcript.key = key_json(&signer);
    transcript.input("issuer_certificate", &issuer_path, &issuer_bytes);
    if let Some((name, path, bytes)) = extra_input {
        transcript.input(name, path, bytes);
    }
    sign_and_write_certificate(tbs, &signer, &out, transcript)
}

fn read_public_key(path: &Path) -> Result<(PublicKey, Vec<u8>), CliError> {
    let bytes = read_input(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let key = PublicKey::from_pem(&text).map_err(|e| CliError::Input {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((key, bytes))
}

/// `e2ei-ca intermediate`.
pub(crate) fn intermediate(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::IntermediateCeremony> = config::load(file)?;
    let c = &loaded.config;
    let key_path = loaded.resolve(&c.subject_public_key);
    let (subject_key, key_bytes) = read_public_key(&key_path)?;
    sign_ca(
        &loaded,
        CaSigning {
            profile: Profile::Intermediate,
            ceremony: "intermediate",
            issuer_key: &c.issuer_key,
            issuer_certificate: &c.issuer_certificate,
            subject: subject_name(&c.subject)?,
            subject_key,
            validity: &c.validity,
            path_len: c.path_len,
            name_constraints: &c.name_constraints,
            crl_distribution_points: &c.crl_distribution_points,
            out: &c.out,
        },
        dry_run,
        Some(("subject_public_key", &key_path, &key_bytes)),
    )
}

/// `e2ei-ca cross-sign`.
pub(crate) fn cross_sign(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::CrossSignCeremony> = config::load(file)?;
    let c = &loaded.config;
    let csr_path = loaded.resolve(&c.csr);
    let csr_bytes = read_input(&csr_path)?;
    let csr = match inspect::read_artifact(&csr_bytes) {
        Ok(inspect::Artifact::Csr(csr)) => csr,
        Ok(_) => {
            return Err(CliError::Input {
                path: csr_path,
                reason: "not a certification request".into(),
            });
        }
        Err(reason) => {
            return Err(CliError::Input {
                path: csr_path,
                reason,
            });
        }
    };
    let subject_key = e2ei_core::x509::verify_csr(&csr).map_err(|e| CliError::Input {
        path: csr_path.clone(),
        reason: e.to_string(),
    })?;
    sign_ca(
        &loaded,
        CaSigning {
            profile: Profile::CrossSignedIntermediate,
            ceremony: "cross-sign",
            issuer_key: &c.issuer_key,
            issuer_certificate: &c.issuer_certificate,
            subject: csr.info.subject.clone(),
            subject_key,
            validity: &c.validity,
            path_len: c.path_len,
            name_constraints: &c.name_constraints,
            crl_distribution_points: &c.crl_distribution_points,
            out: &c.out,
        },
        dry_run,
        Some(("csr", &csr_path, &csr_bytes)),
    )
}

/// `e2ei-ca cross-csr`.
pub(crate) fn cross_csr(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::CrossCsrCeremony> = config::load(file)?;
    let c = &loaded.config;
    let out = loaded.resolve(&c.out);
    ensure_absent(&[&out, &transcript_path(&out)])?;
    let uri = loaded.resolve_key_uri(&c.key)?;
    let started = OffsetDateTime::now_utc();
    let signer = Signer::open(&uri)?;
    let subject = subject_name(&c.subject)?;
    let tbs = CsrToBeSigned::new(subject, signer.public_key())?;
    if dry_run {
        return Ok(Report {
            outputs: Vec::new(),
            summary: json!({
                "dry_run": true,
                "would_sign_with": key_json(&signer),
                "to_be_signed_sha256": sha256_fingerprint(tbs.der()),
                "subject": e2ei_core::x509::name_to_string(&subject_name(&c.subject)?),
            }),
            dry_run: true,
        });
    }
    let signature = signer.sign(tbs.der())?.to_x509()?;
    let csr = tbs.into_csr(&signature)?;
    let der = csr.to_der().map_err(|e| CliError::Usage(e.to_string()))?;
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut transcript = Transcript::new("cross-csr", &loaded.path, &loaded.text, started);
    transcript.key = key_json(&signer);
    transcript.output("csr", &out, &der);
    finish(
        "csr",
        &out,
        pem.as_bytes(),
        transcript,
        inspect::csr_json(&csr),
    )
}

/// `e2ei-ca crl`.
pub(crate) fn crl(file: &Path, dry_run: bool) -> Result<Report, CliError> {
    let loaded: Loaded<config::CrlCeremony> = config::load(file)?;
    let c = &loaded.config;
    let out = loaded.resolve(&c.out);
    ensure_absent(&[&out, &transcript_path(&out)])?;
    let issuer_path = loaded.resolve(&c.issuer_certificate);
    let (issuer, issuer_bytes) = read_certificate(&issuer_path)?;
    let started = OffsetDateTime::now_utc();
    let this_update = c
        .this_update
        .unwrap_or(started)
        .replace_nanosecond(0)
        .unwrap_or(started);
    let mut revoked = Vec::new();
    for (i, r) in c.revoked.iter().enumerate() {
        let serial = match (&r.serial, &r.certificate) {
            (Some(hex), None) => serial_from_hex(hex)?,
            (None, Some(path)) => {
                let path = loaded.resolve(path);
                let (cert, _) = read_certificate(&path)?;
                if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
                    return Err(CliError::Input {
                        path,
                        reason: "was not issued by the CRL issuer".into(),
                    });
                }
                cert.tbs_certificate().serial_number().clone()
            }
            _ => {
                return Err(CliError::Config {
                    path: loaded.path.clone(),
                    reason: format!("revoked[{i}] needs exactly one of `serial` or `certificate`"),
                });
            }
        };
        if revoked.iter().any(|e: &RevokedEntry| e.serial == serial) {
            return Err(CliError::Config {
                path: loaded.path.clone(),
                reason: format!("revoked[{i}]: serial listed twice"),
            });
        }
        revoked.push(RevokedEntry {
            serial,
            revocation_date: r
                .revocation_date
                .unwrap_or(this_update)
                .replace_nanosecond(0)
                .unwrap_or(this_update),
            reason: r.reason,
        });
    }
    if c.next_update_days == 0 {
        return Err(CliError::Config {
            path: loaded.path.clone(),
            reason: "next_update_days must be at least 1".into(),
        });
    }
    let uri = loaded.resolve_key_uri(&c.issuer_key)?;
    let signer = open_issuer(&uri, &issuer, &issuer_path)?;
    // Assembled and checked against the CRL profile (issuer with cRLSign among it) before
    // anything is signed.
    let prepared = PreparedCrl::new(CrlParts {
        issuer: issuer.clone(),
        this_update,
        next_update: this_update + Duration::days(i64::from(c.next_update_days)),
        crl_number: c.crl_number,
        revoked,
        distribution_point: c.distribution_point.clone(),
        // A root's CRL lists intermediates only.
        scope: if c.distribution_point.is_some() {
            CrlScope::CaCertificates
        } else {
            CrlScope::All
        },
    })?;
    if dry_run {
        return Ok(dry_run_report(
            inspect::tbs_crl_json(prepared.tbs().parsed()),
            prepared.tbs().der(),
            &signer,
        ));
    }
    let der = prepared.sign(&signer)?.into_der();
    let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&der)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut transcript = Transcript::new("crl", &loaded.path, &loaded.text, started);
    transcript.key = key_json(&signer);
    transcript.input("issuer_certificate", &issuer_path, &issuer_bytes);
    transcript.output("crl", &out, &der);
    // DER, as CRLs are served (`application/pkix-crl`).
    finish("crl", &out, &der, transcript, inspect::crl_json(&crl))
}
