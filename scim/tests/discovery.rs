//! The discovery documents (RFC 7644 §4): complete, located under the base URL, and generated
//! from the same schema the service enforces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn service_provider_config_is_complete() {
    let h = Harness::new();
    let r = h.get("/ServiceProviderConfig", None);
    assert_eq!(r.status, 200);
    let b = r.json_body();
    assert_eq!(
        b["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert!(b["documentationUri"].is_string());
    assert_eq!(b["patch"], json!({"supported": true}));
    assert_eq!(
        b["bulk"],
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
    );
    assert_eq!(b["filter"], json!({"supported": true, "maxResults": 50}));
    assert_eq!(b["changePassword"], json!({"supported": true}));
    assert_eq!(b["sort"], json!({"supported": true}));
    assert_eq!(b["etag"], json!({"supported": true}));
    let scheme = &b["authenticationSchemes"][0];
    assert_eq!(scheme["type"], "oauthbearertoken");
    for k in ["name", "description", "specUri"] {
        assert!(scheme[k].is_string(), "{k}");
    }
    assert_eq!(scheme["primary"], json!(true));
    assert_eq!(
        b["meta"]["location"],
        json!(format!("{BASE}/ServiceProviderConfig"))
    );
}

#[test]
fn resource_types_list_user_with_extensions_and_group() {
    let h = Harness::new();
    let b = h.get("/ResourceTypes", None).json_body();
    assert_eq!(b["totalResults"], 2);
    let user = &b["Resources"][0];
    assert_eq!(
        (
            user["id"].as_str(),
            user["endpoint"].as_str(),
            user["schema"].as_str()
        ),
        (Some("User"), Some("/Users"), Some(USER))
    );
    assert_eq!(
        user["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}, {"schema": "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User", "required": false}])
    );
    assert_eq!(
        user["meta"]["location"],
        json!(format!("{BASE}/ResourceTypes/User"))
    );
    let single = h.get("/ResourceTypes/Group", None);
    assert_eq!(single.json_body(), b["Resources"][1]);
    assert_error(&h.get("/ResourceTypes/Nope", None), 404, None);
}

fn attr<'a>(schema: &'a Value, name: &str) -> &'a Value {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

#[test]
fn schemas_describe_every_attribute_with_a_write_only_password_and_no_groups() {
    let h = Harness::new();
    let b = h.get("/Schemas", None).json_body();
    let ids: Vec<&str> = b["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            USER,
            ENTERPRISE,
            "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User",
            GROUP
        ]
    );
    let user = &b["Resources"][0];
    let user_name = attr(user, "userName");
    assert_eq!(
        (
            user_name["required"].as_bool(),
            user_name["caseExact"].as_bool(),
            user_name["uniqueness"].as_str()
        ),
        (Some(true), Some(false), Some("server"))
    );
    assert!(
        user["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "groups")
    );
    let password = attr(user, "password");
    assert_eq!(
        (
            password["mutability"].as_str(),
            password["returned"].as_str()
        ),
        (Some("writeOnly"), Some("never"))
    );
    let emails = attr(user, "emails");
    assert_eq!(
        (emails["type"].as_str(), emails["multiValued"].as_bool()),
        (Some("complex"), Some(true))
    );
    let subs: Vec<&str> = emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["value", "display", "type", "primary"]);
    let group = h.get(&format!("/Schemas/{GROUP}"), None).json_body();
    let members = attr(&group, "members");
    let value = &members["subAttributes"][0];
    assert_eq!(
        (value["name"].as_str(), value["mutability"].as_str()),
        (Some("value"), Some("immutable"))
    );
    assert_eq!(
        group["meta"]["location"],
        json!(format!("{BASE}/Schemas/{GROUP}"))
    );
    let e2ei = h
        .get(
            "/Schemas/urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User",
            None,
        )
        .json_body();
    assert_eq!(attr(&e2ei, "team")["mutability"], "readOnly");
    assert_eq!(attr(&e2ei, "team")["returned"], "request");
    assert_eq!(attr(&e2ei, "handle")["mutability"], "readWrite");
    assert_eq!(attr(&e2ei, "handle")["uniqueness"], "server");
    assert_error(&h.get("/Schemas/urn:nope", None), 404, None);
}

#[test]
fn every_attribute_definition_carries_the_rfc_characteristics() {
    let h = Harness::new();
    let b = h.get("/Schemas", None).json_body();
    fn check(a: &Value) {
        for k in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "mutability",
            "returned",
        ] {
            assert!(a.get(k).is_some(), "{k} missing in {a}");
        }
        if a["type"] == "reference" {
            assert!(
                a["referenceTypes"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
                "{a}"
            );
        }
        if a["type"] == "complex" {
            a["subAttributes"]
                .as_array()
                .unwrap()
                .iter()
                .for_each(check);
        }
    }
    for s in b["Resources"].as_array().unwrap() {
        s["attributes"].as_array().unwrap().iter().for_each(check);
    }
}
