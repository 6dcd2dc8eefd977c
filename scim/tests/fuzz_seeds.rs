//! The cargo-fuzz seed corpora (fuzz/corpus/scim_filter, fuzz/corpus/scim_patch_path) replayed
//! with the fuzz targets' assertions, so the seeds stay valid and the properties are checked
//! on every test run, not only where a nightly toolchain is at hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use e2ei_scim::{ResourceKind, apply_patch, parse_filter, parse_patch_path};
use serde_json::json;

fn corpus(name: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

#[test]
fn filter_seeds_parse_and_round_trip() {
    for (name, text) in corpus("scim_filter") {
        let f = parse_filter(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parse_filter(&f.to_string()).unwrap(), f, "{name}");
        let _ = f.validate(ResourceKind::User.schema());
    }
}

#[test]
fn patch_path_seeds_parse_round_trip_and_apply_or_fail_cleanly() {
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice",
                      "emails": [{"value": "a@x", "type": "work", "primary": true}]});
    for (name, text) in corpus("scim_patch_path") {
        let p = parse_patch_path(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parse_patch_path(&p.to_string()).unwrap(), p, "{name}");
        for (op, value) in [
            ("add", json!("v")),
            ("replace", json!({"value": "v"})),
            ("remove", json!(null)),
        ] {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": op, "path": text, "value": value}]});
            if let Err(e) = apply_patch(ResourceKind::User.schema(), &user, &body) {
                assert_eq!(e.status, 400, "{name} {op}: {e}");
            }
        }
    }
}
