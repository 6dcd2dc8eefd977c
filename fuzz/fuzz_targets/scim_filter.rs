//! SCIM filters from untrusted query strings and SearchRequest bodies: parsing never panics;
//! whatever parses prints to a filter that parses to the same AST, and validating and
//! evaluating it against a User never panics.
#![no_main]

use e2ei_scim::{ResourceKind, parse_filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = parse_filter(text) else { return };
    let printed = filter.to_string();
    assert_eq!(parse_filter(&printed).ok().as_ref(), Some(&filter), "{printed}");
    let schema = ResourceKind::User.schema();
    let _ = filter.validate(schema);
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "1", "userName": "Alice", "active": true, "title": "T",
        "name": {"givenName": "A", "familyName": "L"},
        "emails": [{"value": "a@x", "type": "work", "primary": true}, {"value": "b@y"}],
        "meta": {"created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-02T00:00:00Z", "version": "W/\"1\""}
    });
    let _ = filter.matches(&user, schema);
});
