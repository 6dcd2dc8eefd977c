//! Shared helpers for the e2ei-ca integration tests: running the binary and external tools.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The e2ei-ca binary under test.
pub fn e2ei_ca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_e2ei-ca"))
}

/// Runs e2ei-ca with `args`.
pub fn run_ca(args: &[&str]) -> Output {
    e2ei_ca().args(args).output().expect("e2ei-ca runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Finds an external tool. Under CI a missing tool fails the test; locally the test is
/// skipped with a loud message (returns `None`).
pub fn tool(name: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    let venv = std::env::var_os("E2EI_CHECKS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/e2ei-checks-venv"))
        });
    let from_venv = venv.map(|v| v.join("bin").join(name));
    let found = candidates
        .into_iter()
        .chain(from_venv)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is required under CI but is not installed (run scripts/test.sh)");
        }
        eprintln!("SKIPPED: {name} is not installed; run scripts/test.sh to install the checks");
    }
    found
}

/// Runs a tool, returning its output.
pub fn run_tool(tool: &Path, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()))
}

/// Every file under `dir`, sorted, as relative paths.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Parses `name=path` lines.
pub fn name_paths(text: &str) -> std::collections::BTreeMap<String, PathBuf> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), PathBuf::from(v)))
        .collect()
}
