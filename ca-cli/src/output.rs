//! Outputs are planned before anything is generated or signed: if any exists, the ceremony
//! stops with nothing written. Files are created exclusively, and a transcript is written next
//! to them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use e2ei_core::x509::sha256_fingerprint;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::CliError;

/// The transcript written next to a ceremony's outputs.
pub(crate) fn transcript_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".transcript.json");
    out.with_file_name(name)
}

/// Fails if any planned output exists.
pub(crate) fn ensure_absent(paths: &[&Path]) -> Result<(), CliError> {
    for path in paths {
        if path.exists() {
            return Err(CliError::OutputExists(path.to_path_buf()));
        }
    }
    Ok(())
}

/// Creates `path`, which must not exist.
pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::OutputExists(path.to_owned())
            } else {
                CliError::Io {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| CliError::Io {
            path: path.to_owned(),
            source: e,
        })
}

pub(crate) fn now_rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// What a ceremony records.
pub(crate) struct Transcript {
    pub(crate) ceremony: &'static str,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) config_path: PathBuf,
    pub(crate) config_text: String,
    pub(crate) key: Value,
    pub(crate) inputs: Vec<Value>,
    pub(crate) outputs: Vec<Value>,
    pub(crate) summary: Value,
}

impl Transcript {
    pub(crate) fn new(
        ceremony: &'static str,
        config_path: &Path,
        config_text: &str,
        started_at: OffsetDateTime,
    ) -> Self {
        Self {
            ceremony,
            started_at,
            config_path: config_path.to_owned(),
            config_text: config_text.to_owned(),
            key: Value::Null,
            inputs: Vec::new(),
            outputs: Vec::new(),
            summary: Value::Null,
        }
    }

    pub(crate) fn input(&mut self, name: &str, path: &Path, bytes: &[u8]) {
        self.inputs.push(json!({
            "name": name,
            "path": path.display().to_string(),
            "sha256": sha256_fingerprint(bytes),
        }));
    }

    pub(crate) fn output(&mut self, name: &str, path: &Path, bytes: &[u8]) {
        self.outputs.push(json!({
            "name": name,
            "path": path.display().to_string(),
            "sha256": sha256_fingerprint(bytes),
        }));
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "ceremony": self.ceremony,
            "tool": concat!("e2ei-ca ", env!("CARGO_PKG_VERSION")),
            "started_at": now_rfc3339(self.started_at),
            "finished_at": now_rfc3339(OffsetDateTime::now_utc()),
            "config": {
                "path": self.config_path.display().to_string(),
                "sha256": sha256_fingerprint(self.config_text.as_bytes()),
                "contents": self.config_text,
            },
            "key": self.key,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "summary": self.summary,
        })
    }
}
