//! SCIM PATCH paths from untrusted request bodies: parsing never panics; whatever parses
//! prints to a path that parses to the same value, and a PATCH through it against a User
//! either applies or fails with a 400, never panics.
#![no_main]

use e2ei_scim::{ResourceKind, apply_patch, parse_patch_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(path) = parse_patch_path(text) else { return };
    let printed = path.to_string();
    assert_eq!(parse_patch_path(&printed).ok().as_ref(), Some(&path), "{printed}");
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "alice", "emails": [{"value": "a@x", "type": "work", "primary": true}]
    });
    for (op, value) in [("add", serde_json::json!("v")), ("replace", serde_json::json!({"value": "v"})), ("remove", serde_json::Value::Null)] {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": text, "value": value}]
        });
        if let Err(e) = apply_patch(ResourceKind::User.schema(), &user, &body) {
            assert!(e.status == 400 || e.status == 409, "{e}");
        }
    }
});
