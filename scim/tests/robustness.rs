//! No input panics: arbitrary JSON as resource bodies, PATCH requests (with paths drawn from
//! real attribute names and from noise) and SearchRequests through the service; every answer
//! is either a success or a well-formed SCIM error, never a 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use e2ei_scim::resource::normalise_resource;
use e2ei_scim::{ResourceKind, apply_patch};
use proptest::prelude::*;
use serde_json::{Value, json};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("schemas".to_owned()),
        Just("userName".to_owned()),
        Just("active".to_owned()),
        Just("emails".to_owned()),
        Just("name".to_owned()),
        Just("members".to_owned()),
        Just("displayName".to_owned()),
        Just("value".to_owned()),
        Just("primary".to_owned()),
        Just(ENTERPRISE.to_owned()),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_owned()),
        Just("emails[type eq \"work\"].value".to_owned()),
        Just("name.givenName".to_owned()),
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("True".to_owned()),
            Just(USER.to_owned()),
            any::<String>()
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_resource_bodies_never_panic(mut body in json_value(), with_schema in any::<bool>()) {
        if let (true, Some(o)) = (with_schema, body.as_object_mut()) {
            o.insert("schemas".into(), json!([USER, ENTERPRISE]));
        }
        for kind in [ResourceKind::User, ResourceKind::Group] {
            if let Err(e) = normalise_resource(kind.schema(), &body) {
                prop_assert_eq!(e.status, 400);
            }
        }
    }

    #[test]
    fn arbitrary_patch_operations_never_panic(op in prop_oneof![Just("add"), Just("Replace"), Just("remove"), Just("x")], path in proptest::option::of(key()), value in json_value()) {
        let doc = json!({"schemas": [USER], "userName": "a", "emails": [{"value": "a@x", "type": "work", "primary": true}], "name": {"givenName": "A"}});
        let mut o = serde_json::Map::new();
        o.insert("op".into(), json!(op));
        if let Some(p) = path {
            o.insert("path".into(), json!(p));
        }
        o.insert("value".into(), value);
        let body = json!({"schemas": [PATCH_OP], "Operations": [Value::Object(o)]});
        for kind in [ResourceKind::User, ResourceKind::Group] {
            if let Err(e) = apply_patch(kind.schema(), &doc, &body) {
                prop_assert_eq!(e.status, 400, "{}", e);
            }
        }
    }

    #[test]
    fn arbitrary_requests_through_the_service_answer_with_scim_errors(body in json_value(), method in prop_oneof![Just("POST"), Just("PUT"), Just("PATCH")], path in prop_oneof![Just("/Users"), Just("/Groups"), Just("/Users/.search"), Just("/Users/00000000-0000-4000-8000-000000000001")]) {
        let h = Harness::new();
        h.user("a", json!({}));
        let r = h.send(method, path, None, Some(&body));
        prop_assert!(r.status < 500, "{} {}", r.status, r.json_body());
        if r.status >= 400 {
            prop_assert_eq!(&r.json_body()["schemas"], &json!(["urn:ietf:params:scim:api:messages:2.0:Error"]));
        }
    }
}
