//! The request shapes Entra ID and Okta send (tests/golden/{entra,okta}/*.json, written from
//! the vendors' published SCIM documentation; each file names its source), each applied to
//! its initial document and compared with the expected stored document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use e2ei_scim::resource::{merge_put, normalise_resource};
use e2ei_scim::{ResourceKind, apply_patch};
use serde_json::Value;

fn run_dir(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let name = path.display().to_string();
        let kind = match case["kind"].as_str() {
            Some("User") => ResourceKind::User,
            Some("Group") => ResourceKind::Group,
            other => panic!("{name}: kind {other:?}"),
        };
        let schema = kind.schema();
        let got = match case["operation"].as_str() {
            Some("create") => normalise_resource(schema, &case["request"]),
            Some("patch") => {
                let initial = normalise_resource(schema, &case["initial"])
                    .unwrap_or_else(|e| panic!("{name}: initial: {e}"));
                apply_patch(schema, &initial, &case["request"])
            }
            Some("put") => {
                let initial = normalise_resource(schema, &case["initial"]).unwrap();
                let incoming = normalise_resource(schema, &case["request"])
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                merge_put(schema, &initial, &incoming)
            }
            other => panic!("{name}: operation {other:?}"),
        };
        let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got, case["expected"],
            "{name}\n got: {got}\nwant: {}",
            case["expected"]
        );
        n += 1;
    }
    n
}

#[test]
fn entra_id_request_shapes_apply_as_documented() {
    assert!(run_dir("entra") >= 10);
}

#[test]
fn okta_request_shapes_apply_as_documented() {
    assert!(run_dir("okta") >= 7);
}
