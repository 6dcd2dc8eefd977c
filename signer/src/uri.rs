//! Key URIs: `file:PATH`, RFC 7512 `pkcs11:` URIs and `yubikey:slot=9c;serial=N`.
//!
//! URIs never carry secrets: RFC 7512's `pin-value` is refused; PINs and passwords are named by
//! a source (`pin-source=env:NAME` or `pin-source=file:PATH`) instead.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{SecretSource, SignerError};

/// Environment variable holding the default PKCS#11 module path.
pub const PKCS11_MODULE_ENV: &str = "E2EI_PKCS11_MODULE";
/// Environment variable holding the PKCS#11 user PIN when the URI names no `pin-source`.
pub const PKCS11_PIN_ENV: &str = "E2EI_PKCS11_PIN";
/// Environment variable holding a key file's password when the URI names no `password-source`.
pub const KEY_PASSWORD_ENV: &str = "E2EI_KEY_PASSWORD";
/// Environment variable holding the YubiKey PIV PIN when the URI names no `pin-source`.
pub const YUBIKEY_PIN_ENV: &str = "E2EI_YUBIKEY_PIN";

/// Where a key lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyUri {
    /// A PKCS#8 PEM file.
    File(FileUri),
    /// An object on a PKCS#11 token.
    Pkcs11(Pkcs11Uri),
    /// A YubiKey PIV slot.
    YubiKey(YubiKeyUri),
}

/// `file:PATH[?password-source=SOURCE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileUri {
    /// The PEM file.
    pub path: PathBuf,
    /// Where the file's password comes from, if it is encrypted. When absent,
    /// `E2EI_KEY_PASSWORD` is used for an encrypted file.
    pub password_source: Option<SecretSource>,
}

/// RFC 7512 `pkcs11:` URI, the attributes e2ei uses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pkcs11Uri {
    /// `token`: token label.
    pub token: Option<String>,
    /// `serial`: token serial number.
    pub serial: Option<String>,
    /// `slot-id`: slot number.
    pub slot_id: Option<u64>,
    /// `object`: key label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id`: key id (`CKA_ID`) bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path`: the PKCS#11 library; default from `E2EI_PKCS11_MODULE`.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: where the user PIN comes from; default `env:E2EI_PKCS11_PIN`.
    pub pin_source: Option<SecretSource>,
}

/// `yubikey:slot=9c[;serial=N][?pin-source=SOURCE&management-key-source=SOURCE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YubiKeyUri {
    /// PIV slot as its hex number: 9a, 9c, 9d, 9e, 82–95.
    pub slot: u8,
    /// The device serial, to choose among several YubiKeys.
    pub serial: Option<u32>,
    /// Where the PIN comes from; default `env:E2EI_YUBIKEY_PIN`.
    pub pin_source: Option<SecretSource>,
    /// Where the PIV management key (hex) comes from, needed to generate; default: the
    /// factory default management key.
    pub management_key_source: Option<SecretSource>,
}

/// The URI with any `pin-value` (a secret that must never be echoed) masked.
fn redact(uri: &str) -> String {
    match uri.find("pin-value=") {
        None => uri.to_owned(),
        Some(start) => {
            let value_start = start + "pin-value=".len();
            let end = uri[value_start..]
                .find('&')
                .map(|i| value_start + i)
                .unwrap_or(uri.len());
            format!("{}***{}", &uri[..value_start], &uri[end..])
        }
    }
}

fn invalid(uri: &str, reason: impl Into<String>) -> SignerError {
    SignerError::InvalidUri {
        uri: redact(uri),
        reason: reason.into(),
    }
}

/// Percent-decodes `text` (RFC 3986 §2.1).
fn percent_decode(uri: &str, text: &str) -> Result<Vec<u8>, SignerError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid(uri, format!("bad percent-encoding in `{text}`")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_decode_string(uri: &str, text: &str) -> Result<String, SignerError> {
    String::from_utf8(percent_decode(uri, text)?)
        .map_err(|_| invalid(uri, format!("`{text}` is not UTF-8 once decoded")))
}

/// Percent-encodes everything but RFC 7512's `pchar` unreserved set.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits `a=b;c=d` (or `&`-separated) into pairs, refusing duplicates.
fn attributes<'a>(
    uri: &str,
    text: &'a str,
    separator: char,
) -> Result<Vec<(&'a str, &'a str)>, SignerError> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for part in text.split(separator).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| invalid(uri, format!("attribute `{part}` has no `=`")))?;
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(invalid(uri, format!("attribute `{k}` appears twice")));
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

fn secret_source(uri: &str, value: &str) -> Result<SecretSource, SignerError> {
    SecretSource::parse(&percent_decode_string(uri, value)?).map_err(|reason| invalid(uri, reason))
}

impl KeyUri {
    /// Resolves relative file paths (key files and `file:` secret sources) against `base`, the
    /// directory of the configuration file that named this URI.
    pub fn relative_to(mut self, base: &Path) -> Self {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        let resolve_source = |source: &mut Option<SecretSource>| {
            if let Some(SecretSource::File(path)) = source {
                resolve(path);
            }
        };
        match &mut self {
            KeyUri::File(file) => {
                resolve(&mut file.path);
                resolve_source(&mut file.password_source);
            }
            KeyUri::Pkcs11(p11) => resolve_source(&mut p11.pin_source),
            KeyUri::YubiKey(yk) => {
                resolve_source(&mut yk.pin_source);
                resolve_source(&mut yk.management_key_source);
            }
        }
        self
    }
}

impl FromStr for KeyUri {
    type Err = SignerError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = uri.strip_prefix("file:") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(invalid(uri, "`file:` needs a path"));
            }
            let mut password_source = None;
            for (k, v) in attributes(uri, query, '&')? {
                match k {
                    "password-source" => password_source = Some(secret_source(uri, v)?),
                    other => {
                        return Err(invalid(
                            uri,
                            format!("unknown file key attribute `{other}`"),
                        ));
                    }
                }
            }
            Ok(KeyUri::File(FileUri {
                path: PathBuf::from(path),
                password_source,
            }))
        } else if let Some(rest) = uri.strip_prefix("pkcs11:") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut p11 = Pkcs11Uri::default();
            for (k, v) in attributes(uri, path, ';')? {
                match k {
                    "token" => p11.token = Some(percent_decode_string(uri, v)?),
                    "serial" => p11.serial = Some(percent_decode_string(uri, v)?),
                    "object" => p11.object = Some(percent_decode_string(uri, v)?),
                    "id" => p11.id = Some(percent_decode(uri, v)?),
                    "slot-id" => {
                        p11.slot_id =
                            Some(v.parse().map_err(|_| {
                                invalid(uri, format!("slot-id `{v}` is not a number"))
                            })?)
                    }
                    // Accepted by RFC 7512 and irrelevant to key selection here.
                    "manufacturer"
                    | "model"
                    | "library-manufacturer"
                    | "library-description"
                    | "library-version"
                    | "slot-manufacturer"
                    | "slot-description" => {}
                    "type" => {
                        if v != "private" {
                            return Err(invalid(uri, "only `type=private` keys sign"));
                        }
                    }
                    other => {
                        return Err(invalid(
                            uri,
                            format!("unknown pkcs11 path attribute `{other}`"),
                        ));
                    }
                }
            }
            for (k, v) in attributes(uri, query, '&')? {
                match k {
                    "module-path" => {
                        p11.module_path = Some(PathBuf::from(percent_decode_string(uri, v)?))
                    }
                    "pin-source" => p11.pin_source = Some(secret_source(uri, v)?),
                    "pin-value" => {
                        return Err(invalid(
                            uri,
                            "`pin-value` puts the PIN in the URI; use `pin-source=env:NAME` or `pin-source=file:PATH`",
                        ));
                    }
                    other => {
                        return Err(invalid(
                            uri,
                            format!("unknown pkcs11 query attribute `{other}`"),
                        ));
                    }
                }
            }
            if p11.object.is_none() && p11.id.is_none() {
                return Err(invalid(uri, "a pkcs11 key URI needs `object` or `id`"));
            }
            Ok(KeyUri::Pkcs11(p11))
        } else if let Some(rest) = uri.strip_prefix("yubikey:") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut slot = None;
            let mut serial = None;
            for (k, v) in attributes(uri, path, ';')? {
                match k {
                    "slot" => {
                        let n = u8::from_str_radix(v, 16)
                            .map_err(|_| invalid(uri, format!("slot `{v}` is not hex")))?;
                        if !matches!(n, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95) {
                            return Err(invalid(uri, format!("`{v}` is not a PIV key slot")));
                        }
                        slot = Some(n);
                    }
                    "serial" => {
                        serial =
                            Some(v.parse().map_err(|_| {
                                invalid(uri, format!("serial `{v}` is not a number"))
                            })?)
                    }
                    other => {
                        return Err(invalid(uri, format!("unknown yubikey attribute `{other}`")));
                    }
                }
            }
            let mut yk = YubiKeyUri {
                slot: slot.ok_or_else(|| invalid(uri, "a yubikey URI needs `slot`"))?,
                serial,
                pin_source: None,
                management_key_source: None,
            };
            for (k, v) in attributes(uri, query, '&')? {
                match k {
                    "pin-source" => yk.pin_source = Some(secret_source(uri, v)?),
                    "management-key-source" => {
                        yk.management_key_source = Some(secret_source(uri, v)?)
                    }
                    other => {
                        return Err(invalid(
                            uri,
                            format!("unknown yubikey query attribute `{other}`"),
                        ));
                    }
                }
            }
            Ok(KeyUri::YubiKey(yk))
        } else {
            Err(invalid(
                uri,
                "unknown scheme; expected `file:`, `pkcs11:` or `yubikey:`",
            ))
        }
    }
}

impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyUri::File(file) => {
                write!(f, "file:{}", file.path.display())?;
                if let Some(src) = &file.password_source {
                    write!(f, "?password-source={src}")?;
                }
                Ok(())
            }
            KeyUri::Pkcs11(p) => {
                let mut path = Vec::new();
                if let Some(t) = &p.token {
                    path.push(format!("token={}", percent_encode(t.as_bytes())));
                }
                if let Some(s) = &p.serial {
                    path.push(format!("serial={}", percent_encode(s.as_bytes())));
                }
                if let Some(s) = p.slot_id {
                    path.push(format!("slot-id={s}"));
                }
                if let Some(o) = &p.object {
                    path.push(format!("object={}", percent_encode(o.as_bytes())));
                }
                if let Some(id) = &p.id {
                    let encoded: String = id.iter().map(|b| format!("%{b:02X}")).collect();
                    path.push(format!("id={encoded}"));
                }
                write!(f, "pkcs11:{}", path.join(";"))?;
                let mut query = Vec::new();
                if let Some(m) = &p.module_path {
                    query.push(format!("module-path={}", m.display()));
                }
                if let Some(src) = &p.pin_source {
                    query.push(format!("pin-source={src}"));
                }
                if !query.is_empty() {
                    write!(f, "?{}", query.join("&"))?;
                }
                Ok(())
            }
            KeyUri::YubiKey(y) => {
                write!(f, "yubikey:slot={:02x}", y.slot)?;
                if let Some(s) = y.serial {
                    write!(f, ";serial={s}")?;
                }
                let mut query = Vec::new();
                if let Some(src) = &y.pin_source {
                    query.push(format!("pin-source={src}"));
                }
                if let Some(src) = &y.management_key_source {
                    query.push(format!("management-key-source={src}"));
                }
                if !query.is_empty() {
                    write!(f, "?{}", query.join("&"))?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> KeyUri {
        uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    #[test]
    fn parses_rfc7512_uri_with_module_and_pin_source() {
        let uri = parse(
            "pkcs11:token=test-ca;object=root%20key;id=%01%a2?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        );
        let KeyUri::Pkcs11(p) = &uri else {
            panic!("not pkcs11")
        };
        assert_eq!(p.token.as_deref(), Some("test-ca"));
        assert_eq!(p.object.as_deref(), Some("root key"));
        assert_eq!(p.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(
            p.pin_source,
            Some(SecretSource::File(PathBuf::from("/run/pin")))
        );
        assert_eq!(parse(&uri.to_string()), uri);
    }

    #[test]
    fn rejects_pin_value_in_uri() {
        let err = "pkcs11:token=t;object=k?pin-value=1234"
            .parse::<KeyUri>()
            .expect_err("pin-value must be refused");
        assert!(err.to_string().contains("pin-source"), "{err}");
        // The PIN must not be echoed back in the error.
        assert!(!err.to_string().contains("1234"), "{err}");
    }

    #[test]
    fn rejects_unknown_schemes_and_attributes() {
        for bad in [
            "ftp:/x",
            "file:",
            "file:/k.pem?password=hunter2",
            "pkcs11:token=t",
            "pkcs11:token=t;object=k;colour=red",
            "pkcs11:object=k;object=j",
            "yubikey:serial=5",
            "yubikey:slot=9f",
        ] {
            assert!(bad.parse::<KeyUri>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn yubikey_and_file_round_trip() {
        for text in [
            "yubikey:slot=9c;serial=1234?pin-source=env:PIN",
            "file:/tmp/root.key?password-source=env:PW",
            "file:relative/key.pem",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
    }
}
