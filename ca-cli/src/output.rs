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

/// Publishes a ceremony's artifact and its transcript all or nothing: both are written and
/// synced as temporary files in the target directory, then linked into place without replacing
/// anything (artifact first, transcript second); on any failure the new names are removed again
/// and the temporaries always are. Returns the transcript's path.
pub(crate) fn publish(
    out: &Path,
    contents: &[u8],
    transcript: &Transcript,
) -> Result<PathBuf, CliError> {
    let transcript_file = transcript_path(out);
    let transcript_json = serde_json::to_string_pretty(&transcript.to_json()).unwrap_or_default();
    let staged_artifact = staging_path(out);
    let staged_transcript = staging_path(&transcript_file);
    let result = (|| {
        write_new(&staged_artifact, contents)?;
        write_new(&staged_transcript, transcript_json.as_bytes())?;
        link_new(&staged_artifact, out)?;
        if let Err(e) = link_new(&staged_transcript, &transcript_file) {
            let _ = std::fs::remove_file(out);
            return Err(e);
        }
        sync_dir(out);
        Ok(())
    })();
    let _ = std::fs::remove_file(&staged_artifact);
    let _ = std::fs::remove_file(&staged_transcript);
    result.map(|()| transcript_file)
}

/// `.NAME.partial-PID` next to `path`.
fn staging_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Gives `staged` the name `path`, failing if `path` exists (a hard link never replaces).
fn link_new(staged: &Path, path: &Path) -> Result<(), CliError> {
    std::fs::hard_link(staged, path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::OutputExists(path.to_owned())
        } else {
            CliError::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    })
}

/// Makes the new directory entries durable (best effort; not every platform can).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn transcript() -> Transcript {
        Transcript::new("test", Path::new("c.toml"), "", OffsetDateTime::UNIX_EPOCH)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn publishes_artifact_and_transcript_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("root.pem");
        let t = publish(&out, b"pem", &transcript()).unwrap();
        assert_eq!(t, dir.path().join("root.pem.transcript.json"));
        assert_eq!(std::fs::read(&out).unwrap(), b"pem");
        assert_eq!(names(dir.path()), ["root.pem", "root.pem.transcript.json"]);
    }

    #[test]
    fn leaves_nothing_new_when_the_transcript_name_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("root.pem");
        std::fs::write(transcript_path(&out), b"older").unwrap();
        let err = publish(&out, b"pem", &transcript()).unwrap_err();
        assert!(matches!(err, CliError::OutputExists(_)));
        assert_eq!(names(dir.path()), ["root.pem.transcript.json"]);
        assert_eq!(std::fs::read(transcript_path(&out)).unwrap(), b"older");
    }

    #[test]
    fn never_replaces_an_existing_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("root.pem");
        std::fs::write(&out, b"older").unwrap();
        assert!(matches!(
            publish(&out, b"pem", &transcript()).unwrap_err(),
            CliError::OutputExists(_)
        ));
        assert_eq!(std::fs::read(&out).unwrap(), b"older");
        assert_eq!(names(dir.path()), ["root.pem"]);
    }
}
