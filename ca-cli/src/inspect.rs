//! A readable dump of certificates, to-be-signed certificates, CSRs and CRLs, as JSON and as
//! text rendered from the same JSON.

use der::{Decode, Encode};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::key::PublicKey;
use e2ei_core::x509::{
    CrlReason, name_to_string, serial_to_hex, sha256_fingerprint, time_to_offset,
};
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::certificate::TbsCertificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::constraints::name::NameConstraints;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, CrlNumber, ExtendedKeyUsage,
    KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::request::CertReq;
use x509_cert::time::Time;

use crate::output::now_rfc3339;

fn time_json(t: &Time) -> Value {
    Value::String(now_rfc3339(time_to_offset(t)))
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(d) => format!("DNS:{}", d.as_str()),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{}", u.as_str()),
        GeneralName::Rfc822Name(m) => format!("email:{}", m.as_str()),
        GeneralName::DirectoryName(n) => format!("DirName:{}", name_to_string(n)),
        GeneralName::IpAddress(ip) => format!("IP:{}", hex::encode(ip.as_bytes())),
        other => format!("{other:?}"),
    }
}

fn signature_algorithm(oid: &der::asn1::ObjectIdentifier) -> String {
    KeyAlgorithm::from_signature_oid(oid)
        .map(|a| match a {
            KeyAlgorithm::Ed25519 => "Ed25519".to_owned(),
            KeyAlgorithm::P256 => "ecdsa-with-SHA256".to_owned(),
            KeyAlgorithm::P384 => "ecdsa-with-SHA384".to_owned(),
            KeyAlgorithm::P521 => "ecdsa-with-SHA512".to_owned(),
        })
        .unwrap_or_else(|| oid.to_string())
}

fn public_key_json(spki: &spki::SubjectPublicKeyInfoOwned) -> Value {
    match PublicKey::from_spki(spki) {
        Ok(key) => json!({
            "algorithm": key.algorithm().name(),
            "sha256": key.fingerprint_sha256(),
            "key_identifier": hex::encode(key.key_identifier()),
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn decoded<'a, T: Decode<'a>>(bytes: &'a [u8], f: impl FnOnce(T) -> Value) -> Value {
    T::from_der(bytes)
        .map(f)
        .unwrap_or_else(|e| json!({ "malformed": e.to_string() }))
}

fn extension_json(ext: &Extension) -> Value {
    let bytes = ext.extn_value.as_bytes();
    let oid = ext.extn_id;
    use e2ei_core::oid as o;
    let (name, value) = if oid == o::BASIC_CONSTRAINTS {
        (
            "basicConstraints",
            decoded(
                bytes,
                |bc: BasicConstraints| json!({ "ca": bc.ca, "path_len": bc.path_len_constraint }),
            ),
        )
    } else if oid == o::KEY_USAGE {
        (
            "keyUsage",
            decoded(bytes, |ku: KeyUsage| {
                Value::from(
                    ku.0.into_iter()
                        .map(|u| format!("{u:?}"))
                        .collect::<Vec<_>>(),
                )
            }),
        )
    } else if oid == o::EXT_KEY_USAGE {
        (
            "extKeyUsage",
            decoded(bytes, |eku: ExtendedKeyUsage| {
                Value::from(
                    eku.0
                        .iter()
                        .map(|p| match *p {
                            p if p == o::KP_CLIENT_AUTH => "clientAuth".to_owned(),
                            p if p == o::KP_SERVER_AUTH => "serverAuth".to_owned(),
                            p => p.to_string(),
                        })
                        .collect::<Vec<_>>(),
                )
            }),
        )
    } else if oid == o::SUBJECT_ALT_NAME {
        (
            "subjectAltName",
            decoded(bytes, |san: SubjectAltName| {
                Value::from(san.0.iter().map(general_name).collect::<Vec<_>>())
            }),
        )
    } else if oid == o::NAME_CONSTRAINTS {
        (
            "nameConstraints",
            decoded(bytes, |nc: NameConstraints| {
                let list =
                    |t: Option<Vec<x509_cert::ext::pkix::constraints::name::GeneralSubtree>>| {
                        Value::from(
                            t.unwrap_or_default()
                                .iter()
                                .map(|s| general_name(&s.base))
                                .collect::<Vec<_>>(),
                        )
                    };
                json!({ "permitted": list(nc.permitted_subtrees), "excluded": list(nc.excluded_subtrees) })
            }),
        )
    } else if oid == o::SUBJECT_KEY_IDENTIFIER {
        (
            "subjectKeyIdentifier",
            decoded(bytes, |ski: SubjectKeyIdentifier| {
                Value::from(hex::encode(ski.0.as_bytes()))
            }),
        )
    } else if oid == o::AUTHORITY_KEY_IDENTIFIER {
        (
            "authorityKeyIdentifier",
            decoded(bytes, |aki: AuthorityKeyIdentifier| {
                Value::from(
                    aki.key_identifier
                        .map(|k| hex::encode(k.as_bytes()))
                        .unwrap_or_default(),
                )
            }),
        )
    } else if oid == o::CRL_DISTRIBUTION_POINTS {
        (
            "cRLDistributionPoints",
            decoded(bytes, |dps: CrlDistributionPoints| {
                Value::from(
                    dps.0
                        .iter()
                        .flat_map(|dp| match &dp.distribution_point {
                            Some(DistributionPointName::FullName(names)) => {
                                names.iter().map(general_name).collect::<Vec<_>>()
                            }
                            _ => vec!["(relative name)".to_owned()],
                        })
                        .collect::<Vec<_>>(),
                )
            }),
        )
    } else if oid == o::CRL_NUMBER {
        (
            "cRLNumber",
            decoded(bytes, |n: CrlNumber| {
                Value::from(hex::encode(n.0.as_bytes()))
            }),
        )
    } else if oid == o::ISSUING_DISTRIBUTION_POINT {
        (
            "issuingDistributionPoint",
            decoded(bytes, |idp: IssuingDistributionPoint| {
                let names = match &idp.distribution_point {
                    Some(DistributionPointName::FullName(names)) => {
                        names.iter().map(general_name).collect::<Vec<_>>()
                    }
                    _ => Vec::new(),
                };
                json!({
                    "distribution_point": names,
                    "only_contains_user_certs": idp.only_contains_user_certs,
                    "only_contains_ca_certs": idp.only_contains_ca_certs,
                })
            }),
        )
    } else {
        ("unknown", Value::from(hex::encode(bytes)))
    };
    json!({ "name": name, "oid": oid.to_string(), "critical": ext.critical, "value": value })
}

/// A to-be-signed certificate.
pub(crate) fn tbs_json(tbs: &TbsCertificate) -> Value {
    json!({
        "version": format!("{:?}", tbs.version()),
        "serial": serial_to_hex(tbs.serial_number()),
        "signature_algorithm": signature_algorithm(&tbs.signature().oid),
        "issuer": name_to_string(tbs.issuer()),
        "subject": name_to_string(tbs.subject()),
        "not_before": time_json(&tbs.validity().not_before),
        "not_after": time_json(&tbs.validity().not_after),
        "public_key": public_key_json(tbs.subject_public_key_info()),
        "extensions": tbs.extensions().map(|e| e.iter().map(extension_json).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

/// A certificate.
pub(crate) fn certificate_json(cert: &Certificate) -> Value {
    let mut value = tbs_json(cert.tbs_certificate());
    value["type"] = "certificate".into();
    value["sha256"] = cert
        .to_der()
        .map(|d| sha256_fingerprint(&d))
        .unwrap_or_default()
        .into();
    value
}

/// A certification request.
pub(crate) fn csr_json(csr: &CertReq) -> Value {
    json!({
        "type": "certification request",
        "subject": name_to_string(&csr.info.subject),
        "signature_algorithm": signature_algorithm(&csr.algorithm.oid),
        "public_key": public_key_json(&csr.info.public_key),
        "signature_valid": e2ei_core::x509::verify_csr(csr).is_ok(),
        "attributes": csr.info.attributes.iter().map(|a| a.oid.to_string()).collect::<Vec<_>>(),
    })
}

/// A CRL's to-be-signed part.
pub(crate) fn tbs_crl_json(tbs: &x509_cert::crl::TbsCertList) -> Value {
    let revoked: Vec<Value> = tbs
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| {
            let reason = r
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == e2ei_core::oid::CRL_REASON)
                .and_then(|e| {
                    x509_cert::ext::pkix::CrlReason::from_der(e.extn_value.as_bytes()).ok()
                })
                .and_then(|r| CrlReason::from_code(r as u8))
                .map(|r| serde_json::to_value(r).unwrap_or_default());
            json!({
                "serial": serial_to_hex(&r.serial_number),
                "revocation_date": time_json(&r.revocation_date),
                "reason": reason,
            })
        })
        .collect();
    json!({
        "version": format!("{:?}", tbs.version),
        "signature_algorithm": signature_algorithm(&tbs.signature.oid),
        "issuer": name_to_string(&tbs.issuer),
        "this_update": time_json(&tbs.this_update),
        "next_update": tbs.next_update.as_ref().map(time_json),
        "revoked": revoked,
        "extensions": tbs.crl_extensions.iter().flatten().map(extension_json).collect::<Vec<_>>(),
    })
}

/// A CRL.
pub(crate) fn crl_json(crl: &CertificateList) -> Value {
    let mut value = tbs_crl_json(&crl.tbs_cert_list);
    value["type"] = "crl".into();
    value["sha256"] = crl
        .to_der()
        .map(|d| sha256_fingerprint(&d))
        .unwrap_or_default()
        .into();
    value
}

/// Renders the JSON as indented `key: value` lines.
pub(crate) fn render_text(value: &Value) -> String {
    let mut out = String::new();
    render(value, 0, &mut out);
    out
}

fn render(value: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render(v, indent + 1, out);
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in items {
                            if let Value::Object(m) = item {
                                // Extensions read best as one heading per entry.
                                if let (Some(name), Some(val)) = (m.get("name"), m.get("value")) {
                                    let critical = if m.get("critical") == Some(&Value::Bool(true))
                                    {
                                        " (critical)"
                                    } else {
                                        ""
                                    };
                                    out.push_str(&format!(
                                        "{pad}  - {}{critical}: {}\n",
                                        name.as_str().unwrap_or_default(),
                                        scalar(val)
                                    ));
                                    continue;
                                }
                            }
                            out.push_str(&format!("{pad}  -\n"));
                            render(item, indent + 2, out);
                        }
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(v))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", scalar(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// What a file holds.
pub(crate) enum Artifact {
    Certificates(Vec<Certificate>),
    Csr(Box<CertReq>),
    Crl(Box<CertificateList>),
}

/// Reads a certificate (PEM chain or DER), CSR (PEM or DER) or CRL (PEM or DER).
pub(crate) fn read_artifact(bytes: &[u8]) -> Result<Artifact, String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.contains("-----BEGIN CERTIFICATE REQUEST-----")
            || text.contains("-----BEGIN NEW CERTIFICATE REQUEST-----")
        {
            let (_, der) = der::pem::decode_vec(bytes).map_err(|e| e.to_string())?;
            return CertReq::from_der(&der)
                .map(|c| Artifact::Csr(Box::new(c)))
                .map_err(|e| format!("not a PKCS#10 request: {e}"));
        }
        if text.contains("-----BEGIN X509 CRL-----") {
            let (_, der) = der::pem::decode_vec(bytes).map_err(|e| e.to_string())?;
            return CertificateList::from_der(&der)
                .map(|c| Artifact::Crl(Box::new(c)))
                .map_err(|e| format!("not a CRL: {e}"));
        }
        if text.contains("-----BEGIN CERTIFICATE-----") {
            return Certificate::load_pem_chain(bytes)
                .map(Artifact::Certificates)
                .map_err(|e| format!("not a PEM certificate: {e}"));
        }
    }
    if let Ok(cert) = Certificate::from_der(bytes) {
        return Ok(Artifact::Certificates(vec![cert]));
    }
    if let Ok(crl) = CertificateList::from_der(bytes) {
        return Ok(Artifact::Crl(Box::new(crl)));
    }
    if let Ok(csr) = CertReq::from_der(bytes) {
        return Ok(Artifact::Csr(Box::new(csr)));
    }
    Err("not a certificate, CSR or CRL (PEM or DER)".into())
}
