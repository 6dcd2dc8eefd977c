//! The filter grammar end to end: a table of filters with the users each must select over a
//! fixture set (through `GET /Users?filter=` and `POST /Users/.search`), one malformed filter
//! per kind of mistake (each a 400 invalidFilter), and properties: parsing never panics, and
//! printing then re-parsing gives the same AST.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use e2ei_scim::{Filter, parse_filter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture() -> Harness {
    let h = Harness::new();
    h.user(
        "alice",
        json!({"name": {"givenName": "Alice", "familyName": "Liddell"}, "title": "Engineer", "active": true,
               "emails": [{"value": "alice@work.example", "type": "work", "primary": true}, {"value": "alice@home.example", "type": "home"}],
               ENTERPRISE: {"department": "R&D", "employeeNumber": "100", "manager": {"value": "m-1"}}}),
    );
    h.user(
        "Bob",
        json!({"name": {"givenName": "Bob", "familyName": "Builder"}, "title": "Manager", "active": false,
               "emails": [{"value": "bob@work.example", "type": "work"}], "userType": "Contractor"}),
    );
    h.user("carol", json!({"displayName": "Carol \"C\" Danvers", "active": true, "emails": [{"value": "carol@home.example", "type": "home"}]}));
    h.user("dave", json!({"externalId": "EXT-4", "nickName": "d"}));
    h
}

fn names(h: &Harness, filter: &str) -> Vec<String> {
    let q = format!("filter={}&sortBy=userName", encode(filter));
    let r = h.get("/Users", Some(&q));
    assert_eq!(r.status, 200, "{filter}: {}", r.json_body());
    let via_get: Vec<String> = r.json_body()["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    let s = h.send(
        "POST",
        "/Users/.search",
        None,
        Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": filter, "sortBy": "userName"})),
    );
    let via_search: Vec<String> = s.json_body()["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(via_get, via_search, "{filter}");
    via_get
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn valid_filters_select_the_expected_users() {
    let h = fixture();
    let table: &[(&str, &[&str])] = &[
        (r#"userName eq "alice""#, &["alice"]),
        (r#"username EQ "ALICE""#, &["alice"]),
        (r#"userName eq "bob""#, &["Bob"]),
        (r#"userName ne "alice""#, &["Bob", "carol", "dave"]),
        (r#"userName sw "c""#, &["carol"]),
        (r#"userName ew "VE""#, &["dave"]),
        (r#"userName co "o""#, &["Bob", "carol"]),
        (r#"userName gt "bob""#, &["carol", "dave"]),
        (r#"userName le "Bob""#, &["alice", "Bob"]),
        (r#"name.givenName eq "Alice""#, &["alice"]),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName sw "b""#,
            &["Bob"],
        ),
        (r#"title pr"#, &["alice", "Bob"]),
        (r#"not (title pr)"#, &["carol", "dave"]),
        (r#"title eq null"#, &["carol", "dave"]),
        (r#"active eq true"#, &["alice", "carol"]),
        (r#"active eq false"#, &["Bob"]),
        (r#"emails co "work.example""#, &["alice", "Bob"]),
        (r#"emails.value ew "@home.example""#, &["alice", "carol"]),
        (r#"emails[type eq "work" and value co "alice"]"#, &["alice"]),
        (r#"emails[type eq "home"]"#, &["alice", "carol"]),
        (r#"emails[not (type eq "work")]"#, &["alice", "carol"]),
        (r#"emails[primary eq true]"#, &["alice"]),
        (
            r#"emails.type eq "work" and not (emails.type eq "home")"#,
            &["Bob"],
        ),
        (
            r#"title eq "Engineer" or title eq "Manager" and active eq false"#,
            &["alice", "Bob"],
        ),
        (
            r#"(title eq "Engineer" or title eq "Manager") and active eq false"#,
            &["Bob"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#,
            &["alice"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#,
            &["alice"],
        ),
        (r#"displayName eq "Carol \"C\" Danvers""#, &["carol"]),
        (r#"displayName co "\u0022C\u0022""#, &["carol"]),
        (r#"externalId eq "EXT-4""#, &["dave"]),
        (r#"externalId eq "ext-4""#, &[]),
        (
            r#"meta.resourceType eq "User""#,
            &["alice", "Bob", "carol", "dave"],
        ),
        (
            r#"meta.created gt "2024-01-01T00:00:02Z""#,
            &["carol", "dave"],
        ),
        (
            r#"meta.lastModified le "2024-01-01T01:00:02+01:00""#,
            &["alice", "Bob"],
        ),
        (r#"id pr and userType eq "contractor""#, &["Bob"]),
        (r#"noSuchAttribute eq "x""#, &[]),
        (r#"noSuchAttribute pr or userName eq "dave""#, &["dave"]),
        (
            r#"urn:ietf:params:scim:schemas:e2ei:2.0:Nope:x eq "x""#,
            &[],
        ),
        (
            r#"urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User:team eq "team-1" and userName eq "carol""#,
            &["carol"],
        ),
    ];
    for (filter, want) in table {
        assert_eq!(names(&h, filter), *want, "{filter}");
    }
}

#[test]
fn malformed_filters_are_invalid_filter_errors() {
    let h = fixture();
    let depth_bomb = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
    let not_bomb = format!("{}userName pr{}", "not (".repeat(40), ")".repeat(40));
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    let cases: &[&str] = &[
        r#"(userName eq "a""#,
        r#"userName eq "a")"#,
        r#"userName xx "a""#,
        r#"userName eq"#,
        r#"userName eq "a" garbage"#,
        r#"userName pr "a""#,
        r#"userName eq "\q""#,
        r#"userName eq "unterminated"#,
        r#"userName eq bareword"#,
        r#"and userName pr"#,
        r#"userName pr and"#,
        r#"emails[type eq "work"].value co "x""#,
        r#"emails[type eq "work""#,
        r#"emails[type[value eq "x"]]"#,
        r#"active gt true"#,
        r#"active lt false"#,
        r#"userName gt null"#,
        r#"x509Certificates.value ge "a""#,
        r#"1userName eq "a""#,
        r#"userName.a.b eq "a""#,
        "()",
        &depth_bomb,
        &not_bomb,
        &long,
    ];
    for filter in cases {
        let q = format!("filter={}", encode(filter));
        let r = h.get("/Users", Some(&q));
        assert_eq!(r.status, 400, "{filter}");
        assert_error(&r, 400, Some("invalidFilter"));
    }
    // An empty filter parameter is no filter at all, not an error.
    assert_eq!(h.get("/Users", Some("filter=")).status, 200);
}

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("emails".to_owned()),
        Just("$ref".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keywords", |s| !["not", "and", "or"]
            .contains(&s.to_ascii_lowercase().as_str())),
    ]
}

fn attr_path() -> impl Strategy<Value = e2ei_scim::AttrPath> {
    (
        proptest::option::of(Just(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned(),
        )),
        attr_name(),
        proptest::option::of(attr_name()),
    )
        .prop_map(|(schema, attr, sub_attr)| e2ei_scim::AttrPath {
            schema,
            attr,
            sub_attr,
        })
}

fn comp_value() -> impl Strategy<Value = e2ei_scim::CompValue> {
    use e2ei_scim::CompValue;
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        any::<i64>().prop_map(|n| CompValue::Num(n.into())),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(CompValue::Num)),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    use e2ei_scim::CompareOp::*;
    prop_oneof![
        attr_path().prop_map(Filter::Present),
        (
            attr_path(),
            prop_oneof![
                Just(Eq),
                Just(Ne),
                Just(Co),
                Just(Sw),
                Just(Ew),
                Just(Gt),
                Just(Ge),
                Just(Lt),
                Just(Le)
            ],
            comp_value()
        )
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
    ]
}

fn filter_ast() -> impl Strategy<Value = Filter> {
    let inner = leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    });
    let with_value_path = (attr_name(), inner.clone()).prop_map(value_path);
    let with_value_path2 = (attr_name(), inner.clone()).prop_map(value_path);
    prop_oneof![
        inner.clone(),
        with_value_path,
        (inner, with_value_path2).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b)))
    ]
}

fn value_path((attr, f): (String, Filter)) -> Filter {
    {
        // A value filter's paths are plain sub-attribute names.
        fn strip(f: Filter) -> Filter {
            match f {
                Filter::And(a, b) => Filter::And(Box::new(strip(*a)), Box::new(strip(*b))),
                Filter::Or(a, b) => Filter::Or(Box::new(strip(*a)), Box::new(strip(*b))),
                Filter::Not(a) => Filter::Not(Box::new(strip(*a))),
                Filter::Present(mut p) => {
                    p.schema = None;
                    p.sub_attr = None;
                    Filter::Present(p)
                }
                Filter::Compare {
                    mut path,
                    op,
                    value,
                } => {
                    path.schema = None;
                    path.sub_attr = None;
                    Filter::Compare { path, op, value }
                }
                other => other,
            }
        }
        Filter::ValuePath {
            attr: e2ei_scim::AttrPath::attr(attr),
            filter: Box::new(strip(f)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_text_never_panics(s in any::<String>()) {
        let _ = parse_filter(&s);
    }

    #[test]
    fn parsing_filter_like_text_never_panics_and_round_trips(s in r#"[a-zA-Z.:\[\]() "\\0-9eqnotandr-]{0,60}"#) {
        if let Ok(f) = parse_filter(&s) {
            let printed = f.to_string();
            prop_assert_eq!(parse_filter(&printed).ok(), Some(f), "{}", printed);
        }
    }

    #[test]
    fn printed_filters_parse_back_to_the_same_ast(f in filter_ast()) {
        let printed = f.to_string();
        let parsed = parse_filter(&printed);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&f), "{} -> {:?}", printed, parsed.as_ref().err());
    }

    #[test]
    fn matching_never_panics_on_any_resource(f in filter_ast(), v in any::<bool>()) {
        let doc = json!({"schemas": [USER], "id": "1", "userName": "x", "active": v, "emails": [{"value": "a", "primary": v}]});
        let _ = f.matches(&doc, e2ei_scim::ResourceKind::User.schema());
        let _: Value = doc;
    }
}
