//! ScimService end to end over the in-memory directory: CRUD, PATCH edge cases, ETags and
//! preconditions, attributes/excludedAttributes, sorting, paging, routing and error mapping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use e2ei_scim::{ScimRequest, ServiceConfig};
use serde_json::{Value, json};

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn users_path(v: &Value) -> String {
    format!("/Users/{}", id_of(v))
}

fn with_headers<'a>(
    method: &'a str,
    path: &'a str,
    body: &'a [u8],
    if_match: Option<&'a str>,
) -> ScimRequest<'a> {
    ScimRequest {
        method,
        path,
        query: None,
        if_match,
        if_none_match: None,
        content_type: (!body.is_empty()).then_some("application/json"),
        body,
    }
}

// --- create / get / put / delete ---

#[test]
fn create_returns_201_with_location_etag_meta_and_e2ei_extension() {
    let h = Harness::new();
    let r = h.send(
        "POST",
        "/Users",
        None,
        Some(&json!({"schemas": [USER], "userName": "Alice", "active": "True"})),
    );
    assert_eq!(r.status, 201);
    let body = r.json_body();
    let id = id_of(&body);
    assert_eq!(
        r.header("Location"),
        Some(format!("{BASE}/Users/{id}").as_str())
    );
    assert_eq!(r.header("ETag"), Some("W/\"1\""));
    assert_eq!(body["active"], json!(true));
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["meta"]["version"], "W/\"1\"");
    assert_eq!(
        body["meta"]["location"],
        json!(format!("{BASE}/Users/{id}"))
    );
    // `team` is returned on request; no explicit Wire handle was given.
    assert_eq!(
        body["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"],
        Value::Null
    );
    let team = h.get(
        &format!("/Users/{id}"),
        Some("attributes=urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User:team"),
    );
    assert_eq!(
        team.json_body()["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"],
        json!({"team": TENANT})
    );
    let got = h.get(&format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json_body(), body);
}

#[test]
fn duplicate_user_name_is_409_uniqueness_case_insensitively() {
    let h = Harness::new();
    h.user("alice", json!({}));
    let r = h.send(
        "POST",
        "/Users",
        None,
        Some(&json!({"schemas": [USER], "userName": "ALICE"})),
    );
    assert_error(&r, 409, Some("uniqueness"));
}

#[test]
fn create_rejects_missing_user_name_unknown_attributes_and_missing_core_schema() {
    let h = Harness::new();
    for body in [
        json!({"schemas": [USER]}),
        json!({"schemas": [USER], "userName": "a", "shoeSize": 42}),
        json!({"schemas": [ENTERPRISE], "userName": "a"}),
        json!({"schemas": [USER, "urn:example:unknown"], "userName": "a"}),
        json!({"schemas": [USER], "userName": "a", "active": "maybe"}),
        json!({"schemas": [USER], "userName": "a", "emails": {"value": "x"}}),
        json!({"schemas": [USER], "userName": "a", "emails": [{"value": "x", "primary": true}, {"value": "y", "primary": true}]}),
    ] {
        assert_error(
            &h.send("POST", "/Users", None, Some(&body)),
            400,
            Some("invalidValue"),
        );
    }
}

#[test]
fn read_only_input_is_ignored() {
    let h = Harness::new();
    let u = h.create(
        "/Users",
        json!({"schemas": [USER, "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"], "id": "mine", "userName": "a",
               "meta": {"version": "W/\"99\""}, "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User": {"team": "other", "handle": "h"}}),
    );
    assert_ne!(u["id"], "mine");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    let id = u["id"].as_str().unwrap();
    let ext = h
        .get(
            &format!("/Users/{id}"),
            Some("attributes=urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"),
        )
        .json_body();
    assert_eq!(
        ext["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"],
        json!({"team": TENANT, "handle": "h"})
    );
}

#[test]
fn malformed_json_is_invalid_syntax_and_oversized_body_is_413() {
    let h = Harness::with_config(ServiceConfig {
        max_body_bytes: 64,
        ..ServiceConfig::default()
    });
    let r = h.send_raw(with_headers("POST", "/Users", b"{\"schemas\": [", None));
    assert_error(&r, 400, Some("invalidSyntax"));
    let big = vec![b' '; 65];
    assert_error(
        &h.send_raw(with_headers("POST", "/Users", &big, None)),
        413,
        None,
    );
}

#[test]
fn wrong_content_type_is_415_and_json_is_accepted() {
    let h = Harness::new();
    let body = json!({"schemas": [USER], "userName": "a"}).to_string();
    let mut req = with_headers("POST", "/Users", body.as_bytes(), None);
    req.content_type = Some("text/plain");
    assert_error(&h.send_raw(req), 415, None);
    req.content_type = Some("application/json; charset=utf-8");
    assert_eq!(h.send_raw(req).status, 201);
}

#[test]
fn put_replaces_writable_attributes_and_keeps_active_when_omitted() {
    let h = Harness::new();
    let u = h.user("a", json!({"active": false, "title": "T", "nickName": "n"}));
    let r = h.send(
        "PUT",
        &users_path(&u),
        None,
        Some(&json!({"schemas": [USER], "userName": "a", "title": "New"})),
    );
    assert_eq!(r.status, 200);
    let b = r.json_body();
    assert_eq!(b["title"], "New");
    assert_eq!(b["active"], json!(false));
    assert!(b.get("nickName").is_none());
    assert_eq!(r.header("ETag"), Some("W/\"2\""));
}

#[test]
fn delete_is_204_then_404_and_removes_group_membership() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let g = h.create(
        "/Groups",
        json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": id_of(&u)}]}),
    );
    let r = h.send("DELETE", &users_path(&u), None, None);
    assert_eq!((r.status, r.body), (204, None));
    assert_error(&h.get(&users_path(&u), None), 404, None);
    assert_error(&h.send("DELETE", &users_path(&u), None, None), 404, None);
    let g = h.get(&format!("/Groups/{}", id_of(&g)), None).json_body();
    assert!(g.get("members").is_none(), "{g}");
}

#[test]
fn group_with_unknown_member_is_400_invalid_value() {
    let h = Harness::new();
    let r = h.send(
        "POST",
        "/Groups",
        None,
        Some(&json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": "nope"}]})),
    );
    assert_error(&r, 400, Some("invalidValue"));
}

// --- PATCH ---

#[test]
fn patch_add_replace_remove_without_and_with_paths() {
    let h = Harness::new();
    let u = h.user("a", json!({"name": {"givenName": "A"}, "emails": [{"value": "a@w", "type": "work", "primary": true}]}));
    let p = users_path(&u);
    let r = h.patch(
        &p,
        json!([
            {"op": "add", "value": {"title": "T", "name": {"familyName": "F"}}},
            {"op": "add", "path": "emails", "value": [{"value": "a@h", "type": "home", "primary": true}]},
            {"op": "replace", "path": "name.givenName", "value": "B"},
            {"op": "remove", "path": "title"}
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.json_body());
    let b = r.json_body();
    assert_eq!(b["name"], json!({"givenName": "B", "familyName": "F"}));
    assert!(b.get("title").is_none());
    // Setting a new primary clears the old one.
    assert_eq!(
        b["emails"],
        json!([{"value": "a@w", "type": "work", "primary": false}, {"value": "a@h", "type": "home", "primary": true}])
    );
    assert_eq!(b["meta"]["version"], "W/\"2\"");
}

#[test]
fn patch_value_filter_replaces_sub_attribute_of_matching_values_only() {
    let h = Harness::new();
    let u = h.user(
        "a",
        json!({"emails": [{"value": "a@w", "type": "work"}, {"value": "a@h", "type": "home"}]}),
    );
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "new@h"}]),
    );
    assert_eq!(
        r.json_body()["emails"],
        json!([{"value": "a@w", "type": "work"}, {"value": "new@h", "type": "home"}])
    );
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
    );
    assert_eq!(
        r.json_body()["emails"],
        json!([{"value": "new@h", "type": "home"}])
    );
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "replace", "path": "emails[value eq \"new@h\"].primary", "value": true}]),
    );
    assert_eq!(
        r.json_body()["emails"],
        json!([{"value": "new@h", "type": "home", "primary": true}])
    );
}

#[test]
fn patch_replace_through_filter_matching_nothing_is_no_target() {
    let h = Harness::new();
    let u = h.user("a", json!({"emails": [{"value": "a@w", "type": "work"}]}));
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]),
    );
    assert_error(&r, 400, Some("noTarget"));
    let r = h.patch(&users_path(&u), json!([{"op": "remove"}]));
    assert_error(&r, 400, Some("noTarget"));
}

#[test]
fn patch_errors_read_only_unknown_type_and_required() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let p = users_path(&u);
    let cases = [
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User:team", "value": "x"}]),
            "mutability",
        ),
        (json!([{"op": "remove", "path": "userName"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "groups", "value": []}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "name.nope", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "title[type eq \"x\"]", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "yes"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": 5}]),
            "invalidValue",
        ),
        (json!([{"op": "replace", "path": "active"}]), "invalidValue"),
        (
            json!([{"op": "frobnicate", "path": "title", "value": "x"}]),
            "invalidSyntax",
        ),
    ];
    for (ops, scim_type) in cases {
        let r = h.patch(&p, ops.clone());
        assert_error(&r, 400, Some(scim_type));
    }
    let r = h.send(
        "PATCH",
        &p,
        None,
        Some(&json!({"schemas": [USER], "Operations": []})),
    );
    assert_error(&r, 400, Some("invalidSyntax"));
    // Nothing was written by the failed operations.
    assert_eq!(h.get(&p, None).json_body()["meta"]["version"], "W/\"1\"");
}

#[test]
fn patch_is_all_or_nothing() {
    let h = Harness::new();
    let u = h.user("a", json!({"title": "T"}));
    let r = h.patch(&users_path(&u), json!([{"op": "replace", "path": "title", "value": "U"}, {"op": "replace", "path": "nope", "value": 1}]));
    assert_error(&r, 400, Some("invalidPath"));
    assert_eq!(h.get(&users_path(&u), None).json_body()["title"], "T");
}

#[test]
fn patch_that_changes_nothing_returns_200_without_a_new_version() {
    let h = Harness::new();
    let u = h.user("a", json!({"title": "T"}));
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "replace", "path": "title", "value": "T"}]),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ETag"), Some("W/\"1\""));
}

#[test]
fn patch_user_name_and_handle_and_user_name_uniqueness() {
    let h = Harness::new();
    h.user("taken", json!({}));
    let u = h.user("a", json!({}));
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "Replace", "path": "userName", "value": "b"},
               {"op": "Add", "path": "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User:handle", "value": "b_wire"}]),
    );
    assert_eq!(r.json_body()["userName"], "b");
    assert_eq!(
        r.json_body()["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"]["handle"],
        "b_wire"
    );
    // Removing the whole extension removes the handle; the server's team stays.
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "Remove", "path": "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"}]),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json_body()["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"],
        Value::Null
    );
    let r = h.patch(
        &users_path(&u),
        json!([{"op": "Replace", "path": "userName", "value": "TAKEN"}]),
    );
    assert_error(&r, 409, Some("uniqueness"));
}

#[test]
fn patch_group_members_add_and_remove_and_member_value_is_immutable() {
    let h = Harness::new();
    let a = h.user("a", json!({}));
    let b = h.user("b", json!({}));
    let g = h.create("/Groups", json!({"schemas": [GROUP], "displayName": "G"}));
    let gp = format!("/Groups/{}", id_of(&g));
    let r = h.patch(&gp, json!([{"op": "add", "path": "members", "value": [{"value": id_of(&a)}, {"value": id_of(&b)}]}]));
    assert_eq!(
        r.json_body()["members"],
        json!([{"value": id_of(&a)}, {"value": id_of(&b)}])
    );
    // Adding an existing member again does not duplicate it.
    let r = h.patch(
        &gp,
        json!([{"op": "add", "path": "members", "value": [{"value": id_of(&a)}]}]),
    );
    assert_eq!(r.json_body()["members"].as_array().unwrap().len(), 2);
    let r = h.patch(&gp, json!([{"op": "replace", "path": format!("members[value eq \"{}\"].value", id_of(&a)), "value": "other"}]));
    assert_error(&r, 400, Some("mutability"));
    let r = h.patch(
        &gp,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", id_of(&a))}]),
    );
    assert_eq!(r.json_body()["members"], json!([{"value": id_of(&b)}]));
    let r = h.patch(
        &gp,
        json!([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}]),
    );
    assert_error(&r, 400, Some("invalidValue"));
    let r = h.patch(&gp, json!([{"op": "remove", "path": "members"}]));
    assert!(r.json_body().get("members").is_none());
}

#[test]
fn patch_extension_attributes_add_and_remove_the_schema_urn() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let r = h.patch(&users_path(&u), json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "D"}]));
    let b = r.json_body();
    assert_eq!(b[ENTERPRISE], json!({"department": "D"}));
    assert!(
        b["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE))
    );
    let r = h.patch(&users_path(&u), json!([{"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}]));
    let b = r.json_body();
    assert!(b.get(ENTERPRISE).is_none());
    assert!(
        !b["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE))
    );
}

// --- ETags ---

#[test]
fn stale_if_match_is_412_on_put_patch_and_delete_and_current_one_succeeds() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let p = users_path(&u);
    let put = json!({"schemas": [USER], "userName": "a", "title": "x"}).to_string();
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "y"}]}).to_string();
    for (m, body) in [
        ("PUT", put.as_bytes()),
        ("PATCH", patch.as_bytes()),
        ("DELETE", b"".as_slice()),
    ] {
        assert_error(
            &h.send_raw(with_headers(m, &p, body, Some("W/\"7\""))),
            412,
            None,
        );
    }
    let r = h.send_raw(with_headers("PUT", &p, put.as_bytes(), Some("W/\"1\"")));
    assert_eq!((r.status, r.header("ETag")), (200, Some("W/\"2\"")));
    assert_error(
        &h.send_raw(with_headers("PATCH", &p, patch.as_bytes(), Some("W/\"1\""))),
        412,
        None,
    );
    let r = h.send_raw(with_headers("PATCH", &p, patch.as_bytes(), Some("\"2\"")));
    assert_eq!((r.status, r.header("ETag")), (200, Some("W/\"3\"")));
    assert_error(
        &h.send_raw(with_headers("DELETE", &p, b"", Some("W/\"2\""))),
        412,
        None,
    );
    assert_eq!(
        h.send_raw(with_headers("DELETE", &p, b"", Some("W/\"3\"")))
            .status,
        204
    );
}

#[test]
fn if_none_match_with_the_current_etag_is_304() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let p = users_path(&u);
    let mut req = with_headers("GET", &p, b"", None);
    req.if_none_match = Some("W/\"1\"");
    let r = h.send_raw(req);
    assert_eq!(
        (r.status, r.body.is_none(), r.header("ETag")),
        (304, true, Some("W/\"1\""))
    );
    req.if_none_match = Some("W/\"0\"");
    assert_eq!(h.send_raw(req).status, 200);
}

// --- attributes / excludedAttributes ---

#[test]
fn attributes_returns_only_named_attributes_plus_id_and_schemas() {
    let h = Harness::new();
    let u = h.user("a", json!({"title": "T", "name": {"givenName": "G", "familyName": "F"}, ENTERPRISE: {"department": "D", "division": "V"}}));
    let r = h.get(&users_path(&u), Some("attributes=userName,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"));
    let b = r.json_body();
    let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["schemas", "id", "userName", "name", ENTERPRISE]);
    assert_eq!(b["name"], json!({"givenName": "G"}));
    assert_eq!(b[ENTERPRISE], json!({"department": "D"}));
}

#[test]
fn excluded_attributes_drops_them_but_never_id() {
    let h = Harness::new();
    let u = h.user(
        "a",
        json!({"title": "T", "name": {"givenName": "G", "familyName": "F"}}),
    );
    let r = h.get(
        &users_path(&u),
        Some("excludedAttributes=title,id,name.familyName,meta"),
    );
    let b = r.json_body();
    assert!(b.get("title").is_none() && b.get("meta").is_none());
    assert_eq!(b["id"], u["id"]);
    assert_eq!(b["name"], json!({"givenName": "G"}));
    // Lists honour the parameters too.
    let l = h.get("/Users", Some("attributes=userName")).json_body();
    assert_eq!(l["Resources"][0].as_object().unwrap().len(), 3);
}

// --- sorting and paging ---

#[test]
fn sort_by_honours_order_case_exactness_and_missing_values() {
    let h = Harness::new();
    h.user(
        "b",
        json!({"title": "beta", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
    );
    h.user("A", json!({"title": "Alpha", "emails": [{"value": "m@x"}]}));
    h.user("c", json!({}));
    let order = |q: &str| -> Vec<String> {
        h.get("/Users", Some(q)).json_body()["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order("sortBy=userName"), ["A", "b", "c"]);
    assert_eq!(
        order("sortBy=userName&sortOrder=descending"),
        ["c", "b", "A"]
    );
    assert_eq!(order("sortBy=title"), ["A", "b", "c"]);
    assert_eq!(order("sortBy=emails"), ["b", "A", "c"]);
    assert_eq!(
        order("sortBy=meta.created&sortOrder=descending"),
        ["c", "A", "b"]
    );
    assert_error(
        &h.get("/Users", Some("sortBy=userName&sortOrder=sideways")),
        400,
        Some("invalidValue"),
    );
}

#[test]
fn pagination_clamps_start_index_and_count() {
    let h = Harness::with_config(ServiceConfig {
        max_results: 3,
        ..ServiceConfig::default()
    });
    for i in 0..5 {
        h.user(&format!("u{i}"), json!({}));
    }
    let page = |q: &str| h.get("/Users", Some(q)).json_body();
    let p = page("startIndex=2&count=2");
    assert_eq!(
        (
            p["totalResults"].as_u64(),
            p["itemsPerPage"].as_u64(),
            p["startIndex"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    assert_eq!(p["Resources"][0]["userName"], "u1");
    assert_eq!(
        p["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    let p = page("startIndex=-4&count=1");
    assert_eq!(
        (
            p["startIndex"].as_u64(),
            p["Resources"][0]["userName"].as_str()
        ),
        (Some(1), Some("u0"))
    );
    let p = page("count=-1");
    assert_eq!(
        (p["totalResults"].as_u64(), p["itemsPerPage"].as_u64()),
        (Some(5), Some(0))
    );
    let p = page("count=100");
    assert_eq!(p["itemsPerPage"].as_u64(), Some(3));
    let p = page("startIndex=5");
    assert_eq!(p["itemsPerPage"].as_u64(), Some(1));
    let p = page("startIndex=9");
    assert_eq!(
        (p["totalResults"].as_u64(), p["itemsPerPage"].as_u64()),
        (Some(5), Some(0))
    );
    assert_error(
        &h.get("/Users", Some("count=many")),
        400,
        Some("invalidValue"),
    );
}

// --- routing ---

#[test]
fn unknown_paths_are_404_and_wrong_methods_405_as_scim_errors() {
    let h = Harness::new();
    assert_error(&h.get("/Nope", None), 404, None);
    assert_error(&h.get("/Users/a/b", None), 404, None);
    let r = h.send("DELETE", "/Users", None, None);
    assert_error(&r, 405, None);
    assert_eq!(r.header("Allow"), Some("GET, POST"));
    assert_error(
        &h.send("POST", "/Schemas", None, Some(&json!({}))),
        405,
        None,
    );
    assert_error(&h.get("/Users/.search", None), 405, None);
    assert_error(&h.send("POST", "/Bulk", None, Some(&json!({}))), 501, None);
    assert_error(&h.get("/Groups/unknown-id", None), 404, None);
}

#[test]
fn root_search_lists_users_then_groups_as_one_page_set() {
    let h = Harness::new();
    let a = h.user("a", json!({"displayName": "Team A"}));
    h.user("b", json!({}));
    h.create(
        "/Groups",
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Team G",
               "members": [{"value": a["id"]}]}),
    );
    let search = |body: Value| h.send("POST", "/.search", None, Some(&body)).json_body();
    let all = search(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}));
    assert_eq!(all["totalResults"], 3);
    let kinds: Vec<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["User", "User", "Group"]);
    // The window may start in one type and end in the next.
    let window = search(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                               "startIndex": 2, "count": 2}),
    );
    assert_eq!(window["totalResults"], 3);
    assert_eq!(window["Resources"][0]["userName"], "b");
    assert_eq!(window["Resources"][1]["displayName"], "Team G");
    // displayName exists on both types; userName only on Users.
    let named = search(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                              "filter": "displayName sw \"Team\""}),
    );
    assert_eq!(named["totalResults"], 2);
    let users = search(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                              "filter": "userName eq \"a\""}),
    );
    assert_eq!(users["totalResults"], 1);
}

#[test]
fn tenants_are_isolated() {
    let h = Harness::new();
    let u = h.user("a", json!({}));
    let r = e2ei_scim_block(&h, "other-team", &users_path(&u));
    assert_error(&r, 404, None);
}

fn e2ei_scim_block(h: &Harness, tenant: &str, path: &str) -> e2ei_scim::ScimResponse {
    block_on(h.svc.handle(tenant, with_headers("GET", path, b"", None)))
}

#[test]
fn search_request_takes_attributes_as_a_list_and_requires_its_schema() {
    let h = Harness::new();
    h.user("a", json!({"title": "T"}));
    let r = h.send(
        "POST",
        "/Users/.search",
        None,
        Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "attributes": ["title"], "startIndex": 1, "count": 10})),
    );
    assert_eq!(r.json_body()["Resources"][0]["title"], "T");
    assert!(r.json_body()["Resources"][0].get("userName").is_none());
    let r = h.send(
        "POST",
        "/Users/.search",
        None,
        Some(&json!({"filter": "userName pr"})),
    );
    assert_error(&r, 400, Some("invalidSyntax"));
}
