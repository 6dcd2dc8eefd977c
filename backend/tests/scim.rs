//! SCIM at `/scim/v2` over the backend's storage, in-process, on SQLite and on PostgreSQL:
//! tokens, team isolation, the User ↔ backend-user bridge, SQL filters agreeing with e2ei-scim's
//! evaluation, ETags, deprovisioning (devices, cookies, revocation outbox, login), and the
//! rule that E2EI teams change names and handles only through SCIM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{PASSWORD, Reply, TestApp};
use serde_json::{Value, json};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    scim_with(app, method, path, token, body, None).await
}

async fn scim_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("/scim/v2{path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/scim+json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    };
    app.send(request.unwrap()).await
}

/// A team owned by `owner` and a SCIM token for it.
async fn team_token(app: &TestApp, owner: &str) -> (String, String) {
    let (_, team) = app.register_owner(owner).await;
    let (access, _) = app.login(owner).await;
    let reply = app
        .call(
            Method::POST,
            "/scim/auth-tokens",
            Some(&access),
            Some(json!({ "description": "Entra ID", "password": PASSWORD })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    (team, reply.body["token"].as_str().unwrap().to_owned())
}

async fn create_user(app: &TestApp, token: &str, body: Value) -> Reply {
    scim(app, Method::POST, "/Users", token, Some(body)).await
}

fn user(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "displayName": format!("{user_name} Display"),
        "externalId": format!("ext-{user_name}"),
        "emails": [{ "value": format!("{user_name}@example.org"), "type": "work", "primary": true }],
        "password": PASSWORD,
    })
}

fn assert_scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status.as_u16(), status, "{reply:?}");
    assert_eq!(
        reply.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{reply:?}"
    );
    assert_eq!(reply.body["status"], status.to_string(), "{reply:?}");
    if let Some(t) = scim_type {
        assert_eq!(reply.body["scimType"], t, "{reply:?}");
    }
}

async fn count_rows(app: &TestApp, sql: &str, user: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(user)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    n
}

async fn scim_tokens_are_made_by_team_admins_with_their_password(app: TestApp) {
    let (_, team) = app.register_owner("owner_a").await;
    let (owner, _) = app.login("owner_a").await;
    let new = |password: Option<&str>| {
        let mut body = json!({ "description": "Okta" });
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        body
    };
    let reply = app
        .call(
            Method::POST,
            "/scim/auth-tokens",
            Some(&owner),
            Some(new(None)),
        )
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "missing-auth")
    );
    let reply = app
        .call(
            Method::POST,
            "/scim/auth-tokens",
            Some(&owner),
            Some(new(Some("wrong password!"))),
        )
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "invalid-credentials")
    );
    // A plain member may not.
    let member = app
        .call(
            Method::POST,
            &format!("/teams/{team}/members"),
            Some(&owner),
            Some(json!({ "name": "Mem Ber", "handle": "member_a", "password": PASSWORD })),
        )
        .await;
    assert_eq!(member.status, StatusCode::CREATED, "{member:?}");
    let (member_token, _) = app.login("member_a").await;
    let reply = app
        .call(
            Method::POST,
            "/scim/auth-tokens",
            Some(&member_token),
            Some(new(Some(PASSWORD))),
        )
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "insufficient-permissions")
    );

    let reply = app
        .call(
            Method::POST,
            "/scim/auth-tokens",
            Some(&owner),
            Some(new(Some(PASSWORD))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let id = reply.body["info"]["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.body["info"]["team"], team.as_str());
    // Only the hash is stored.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_sha256 FROM scim_tokens")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert!(stored.iter().all(|(h,)| h != &token && h.len() == 64));

    let list = app
        .call(Method::GET, "/scim/auth-tokens", Some(&owner), None)
        .await;
    assert_eq!(list.body["tokens"].as_array().unwrap().len(), 1);
    assert!(!list.body.to_string().contains(&token));
    assert_eq!(
        scim(&app, Method::GET, "/Users", &token, None).await.status,
        StatusCode::OK
    );

    for (path, status, label) in [
        ("/scim/auth-tokens", StatusCode::BAD_REQUEST, "bad-request"),
        (
            "/scim/auth-tokens?id=nope",
            StatusCode::BAD_REQUEST,
            "bad-request",
        ),
        (
            "/scim/auth-tokens?id=00000000-0000-4000-8000-000000000000",
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ] {
        let reply = app.call(Method::DELETE, path, Some(&owner), None).await;
        assert_eq!((reply.status, reply.label()), (status, label), "{path}");
    }
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/scim/auth-tokens?id={id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = scim(&app, Method::GET, "/Users", &token, None).await;
    assert_scim_error(&refused, 401, None);
    assert!(refused.header("www-authenticate").is_some());
}

async fn rejects_requests_without_a_valid_scim_token(app: TestApp) {
    let reply = app
        .send(
            Request::builder()
                .uri("/scim/v2/Users")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_scim_error(&reply, 401, None);
    let reply = scim(&app, Method::GET, "/Users", "not-a-token", None).await;
    assert_scim_error(&reply, 401, None);
    // A Wire access token is not a SCIM token.
    app.register_owner("owner_b").await;
    let (access, _) = app.login("owner_b").await;
    let reply = scim(&app, Method::GET, "/Users", &access, None).await;
    assert_scim_error(&reply, 401, None);
}

async fn another_teams_resources_are_not_found(app: TestApp) {
    let (_, token_a) = team_token(&app, "owner_c").await;
    let (_, token_b) = team_token(&app, "owner_d").await;
    let created = create_user(&app, &token_a, user("carol")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    assert_scim_error(
        &scim(&app, Method::GET, &path, &token_b, None).await,
        404,
        None,
    );
    let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "replace", "path": "displayName", "value": "Mallory" }] });
    assert_scim_error(
        &scim(&app, Method::PATCH, &path, &token_b, Some(patch)).await,
        404,
        None,
    );
    assert_scim_error(
        &scim(&app, Method::PUT, &path, &token_b, Some(user("carol"))).await,
        404,
        None,
    );
    assert_scim_error(
        &scim(&app, Method::DELETE, &path, &token_b, None).await,
        404,
        None,
    );
    let listed = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22carol%22",
        &token_b,
        None,
    )
    .await;
    assert_eq!(listed.body["totalResults"], 0);
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Stolen",
        "members": [{ "value": id }],
    });
    let reply = scim(&app, Method::POST, "/Groups", &token_b, Some(group)).await;
    assert_scim_error(&reply, 400, Some("invalidValue"));
    // Still there for its own team.
    let own = scim(&app, Method::GET, &path, &token_a, None).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["displayName"], "carol Display");
}

async fn users_map_onto_backend_users(app: TestApp) {
    let (team, token) = team_token(&app, "owner_e").await;
    let created = create_user(&app, &token, user("Dave.Smith")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(created.body.get("password").is_none(), "{created:?}");
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        created
            .header("location")
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    let with_team = scim(
        &app,
        Method::GET,
        &format!(
            "/Users/{id}?attributes=urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User:team"
        ),
        &token,
        None,
    )
    .await;
    let ext = &with_team.body["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"];
    assert_eq!(ext["team"], team.as_str(), "{with_team:?}");
    // The backend user: handle, name, e-mail; the password logs in.
    let (_, login) = app.login("dave.smith").await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let (access, _) = app.login("dave.smith").await;
    let me = app.call(Method::GET, "/self", Some(&access), None).await;
    assert_eq!(me.body["handle"], "dave.smith");
    assert_eq!(me.body["name"], "Dave.Smith Display");
    assert_eq!(me.body["email"], "dave.smith@example.org");
    assert_eq!(me.body["team"], team.as_str());
    assert_eq!(me.body["role"], "member");
    // userName is case-insensitive and global like handles.
    let again = create_user(&app, &token, user("DAVE.SMITH")).await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    let bad = create_user(&app, &token, user("not a handle!")).await;
    assert_scim_error(&bad, 400, Some("invalidValue"));
    let (_, other) = team_token(&app, "owner_f").await;
    let taken = create_user(&app, &other, user("owner_e")).await;
    assert_scim_error(&taken, 409, Some("uniqueness"));
    // A UPN as userName with the Wire handle in the e2ei extension (Entra ID's usual mapping).
    let mut upn = user("erin@contoso.example");
    upn["schemas"] = json!([
        USER_SCHEMA,
        "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"
    ]);
    upn["urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User"] = json!({ "handle": "erin_c" });
    upn["emails"] = json!([{ "value": "erin@contoso.example", "type": "work", "primary": true }]);
    let erin = create_user(&app, &token, upn).await;
    assert_eq!(erin.status, StatusCode::CREATED, "{erin:?}");
    assert_eq!(erin.body["userName"], "erin@contoso.example");
    let (_, login) = app.login("erin_c").await;
    assert_eq!(login.status, StatusCode::OK);
    // A rename through SCIM renames the backend user.
    let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": [
        { "op": "replace", "path": "userName", "value": "dave.jones" },
        { "op": "replace", "path": "displayName", "value": "Dave Jones" },
    ] });
    let renamed = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(patch),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(renamed.header("etag"), Some("W/\"2\""));
    let me = app.call(Method::GET, "/self", Some(&access), None).await;
    assert_eq!(me.body["handle"], "dave.jones");
    assert_eq!(me.body["name"], "Dave Jones");
    // Nothing was written for the refused requests.
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM scim_users")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

/// The SQL translation of filters must agree with e2ei-scim's own evaluation.
async fn sql_filters_agree_with_the_scim_evaluation(app: TestApp) {
    let (_, token) = team_token(&app, "owner_g").await;
    let names = [
        "alice", "alicia", "bob", "bobby_t", "carol", "caroline", "dave", "eve_x", "mallory",
        "trent", "a_b", "a%b",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut body = user(&name.replace('%', "-"));
        body["active"] = json!(i % 3 != 0);
        if i % 4 == 0 {
            body.as_object_mut().unwrap().remove("externalId");
        }
        let reply = create_user(&app, &token, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        app.clock.advance(1);
    }
    let all = scim(&app, Method::GET, "/Users?count=1000", &token, None).await;
    let all: Vec<Value> = all.body["Resources"].as_array().unwrap().clone();
    assert_eq!(all.len(), names.len());
    let schema = e2ei_scim::ResourceKind::User.schema();
    let filters = [
        r#"userName eq "alice""#,
        r#"USERNAME eq "ALICE""#,
        r#"userName sw "al""#,
        r#"userName co "b""#,
        r#"userName ew "_t""#,
        r#"userName sw "a_""#,
        r#"userName co "-""#,
        r#"userName ne "bob""#,
        r#"userName gt "carol""#,
        r#"externalId eq "ext-bob""#,
        r#"externalId eq "EXT-BOB""#,
        r#"externalId pr"#,
        r#"not (externalId pr)"#,
        r#"active eq true"#,
        r#"active eq false and userName sw "a""#,
        r#"displayName eq "BOB DISPLAY""#,
        r#"displayName co "e d""#,
        r#"userName eq "alice" or userName eq "trent""#,
        r#"(userName sw "a" or userName sw "b") and active eq true"#,
        r#"emails[type eq "work" and value ew "@example.org"]"#,
        r#"emails.value co "carol""#,
        r#"meta.lastModified gt "2027-01-15T08:00:03Z""#,
        r#"meta.created le "2027-01-15T08:00:05Z" and userName co "o""#,
        r#"userName eq "alice" and not (active eq false)"#,
    ];
    for filter in filters {
        let parsed = e2ei_scim::parse_filter(filter).unwrap();
        let mut expected: Vec<&str> = all
            .iter()
            .filter(|u| parsed.matches(u, schema))
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        expected.sort_unstable();
        let encoded = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let reply = scim(
            &app,
            Method::GET,
            &format!("/Users?count=1000&filter={encoded}"),
            &token,
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{filter}: {reply:?}");
        let mut got: Vec<&str> = reply.body["Resources"]
            .as_array()
            .map(|a| a.iter().map(|u| u["id"].as_str().unwrap()).collect())
            .unwrap_or_default();
        got.sort_unstable();
        assert_eq!(got, expected, "{filter}");
        assert_eq!(reply.body["totalResults"], expected.len(), "{filter}");
    }
    // Sorting and paging through SQL match the in-memory order.
    let page = scim(
        &app,
        Method::GET,
        "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=3",
        &token,
        None,
    )
    .await;
    let got: Vec<&str> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    let mut sorted: Vec<String> = names.iter().map(|n| n.replace('%', "-")).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted[1..4].to_vec());
    assert_eq!(page.body["totalResults"], names.len());
    assert_eq!(page.body["startIndex"], 2);
    // Malformed filters are SCIM errors.
    for bad in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "userName eq \"a\" junk",
    ] {
        let encoded = url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>();
        let reply = scim(
            &app,
            Method::GET,
            &format!("/Users?filter={encoded}"),
            &token,
            None,
        )
        .await;
        assert_scim_error(&reply, 400, Some("invalidFilter"));
    }
}

async fn stale_etags_get_412_and_change_nothing(app: TestApp) {
    let (_, token) = team_token(&app, "owner_h").await;
    let created = create_user(&app, &token, user("erin")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/Users/{id}");
    let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "replace", "path": "displayName", "value": "Erin Two" }] });
    let ok = scim_with(
        &app,
        Method::PATCH,
        &path,
        &token,
        Some(patch.clone()),
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    for (method, body) in [
        (Method::PATCH, Some(patch)),
        (Method::PUT, Some(user("erin"))),
        (Method::DELETE, None),
    ] {
        let reply = scim_with(&app, method.clone(), &path, &token, body, Some("W/\"1\"")).await;
        assert_scim_error(&reply, 412, None);
    }
    let now = scim(&app, Method::GET, &path, &token, None).await;
    assert_eq!(now.body["displayName"], "Erin Two");
    assert_eq!(now.header("etag"), Some("W/\"2\""));
}

async fn deactivation_removes_devices_and_cookies_and_queues_revocations(app: TestApp) {
    let (_, token) = team_token(&app, "owner_i").await;
    let created = create_user(&app, &token, user("frank")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (access, login) = app.login("frank").await;
    let cookie = login.cookie();
    let device_a = app.new_client(&access).await;
    let device_b = app.new_client(&access).await;
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM clients WHERE user_id = $1", &id).await,
        2
    );

    let deactivate = json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "Replace", "path": "active", "value": "False" }] });
    let reply = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(deactivate),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["active"], false);
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM clients WHERE user_id = $1", &id).await,
        0
    );
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM cookies WHERE user_id = $1", &id).await,
        0
    );
    let queued: Vec<(String, String)> =
        sqlx::query_as("SELECT client_uri, reason FROM revocation_outbox ORDER BY client_uri")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    let mut expected: Vec<String> = [&device_a, &device_b]
        .iter()
        .map(|d| {
            e2ei_core::id::ClientId::new(
                e2ei_core::id::UserId::new(uuid::Uuid::parse_str(&id).unwrap()),
                d.parse().unwrap(),
                app.state.settings.domain.clone(),
            )
            .to_uri()
        })
        .collect();
    expected.sort();
    assert_eq!(
        queued.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(queued.iter().all(|(_, r)| r == "affiliationChanged"));
    // The cookie no longer refreshes; the password no longer logs in.
    let refresh = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/access")
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::FORBIDDEN);
    // An access token from before the deactivation registers no new device.
    let device = app
        .call(
            Method::POST,
            "/clients",
            Some(&access),
            Some(json!({ "type": "permanent", "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (device.status, device.label()),
        (StatusCode::FORBIDDEN, "suspended")
    );
    let login = app
        .call(
            Method::POST,
            "/login",
            None,
            Some(json!({ "handle": "frank", "password": PASSWORD })),
        )
        .await;
    assert_eq!(
        (login.status, login.label()),
        (StatusCode::FORBIDDEN, "suspended")
    );

    // Reactivation lets the user in again and queues nothing more.
    let activate = json!({ "schemas": [PATCH_SCHEMA], "Operations": [{ "op": "replace", "value": { "active": true } }] });
    let reply = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(activate),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let (_, login) = app.login("frank").await;
    assert_eq!(login.status, StatusCode::OK);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM revocation_outbox")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

async fn delete_removes_the_user_and_queues_revocations(app: TestApp) {
    let (_, token) = team_token(&app, "owner_j").await;
    let created = create_user(&app, &token, user("grace")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (access, _) = app.login("grace").await;
    app.new_client(&access).await;
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Engineering",
        "members": [{ "value": id }],
    });
    let group = scim(&app, Method::POST, "/Groups", &token, Some(group)).await;
    assert_eq!(group.status, StatusCode::CREATED, "{group:?}");
    assert_eq!(group.body["members"][0]["value"], id.as_str());
    assert_eq!(group.header("etag"), Some("W/\"1\""));
    let deleted = scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert_eq!(
        count_rows(&app, "SELECT COUNT(*) FROM users WHERE id = $1", &id).await,
        0
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM revocation_outbox")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    let group_id = group.body["id"].as_str().unwrap();
    let group = scim(
        &app,
        Method::GET,
        &format!("/Groups/{group_id}"),
        &token,
        None,
    )
    .await;
    assert!(
        group
            .body
            .get("members")
            .is_none_or(|m| m.as_array().unwrap().is_empty())
    );
    // The group lost a member: a new version.
    assert_eq!(group.header("etag"), Some("W/\"2\""));
    let again = scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None).await;
    assert_scim_error(&again, 404, None);
}

async fn undelivered_revocations_stay_queued_with_backoff(app: TestApp) {
    let (_, token) = team_token(&app, "owner_k").await;
    let created = create_user(&app, &token, user("heidi")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (access, _) = app.login("heidi").await;
    app.new_client(&access).await;
    scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None).await;
    // The test app's authority is a closed port.
    let report = e2ei_backend::revocations::deliver_due(&app.state)
        .await
        .unwrap();
    assert_eq!((report.delivered, report.failed), (0, 1));
    let (attempts, next, error): (i64, i64, Option<String>) =
        sqlx::query_as("SELECT attempts, next_attempt_at, last_error FROM revocation_outbox")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(attempts, 1);
    assert_eq!(next, app.state.now() + 5);
    assert!(error.is_some());
    // Not due again before the backoff ends.
    let report = e2ei_backend::revocations::deliver_due(&app.state)
        .await
        .unwrap();
    assert_eq!((report.delivered, report.failed), (0, 0));
    assert_eq!(
        e2ei_backend::revocations::pending(&app.state)
            .await
            .unwrap(),
        1
    );
    let metrics = app
        .send(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains("e2ei_backend_revocations_pending 1\n"),
        "{text}"
    );
    assert!(
        text.contains("e2ei_backend_revocations_failed_total 1"),
        "{text}"
    );
    assert!(
        text.contains("e2ei_backend_scim_deprovisioned_users_total 1"),
        "{text}"
    );
}

async fn names_and_handles_change_only_through_scim_where_managed(app: TestApp) {
    let (team, token) = team_token(&app, "owner_l").await;
    let (owner, _) = app.login("owner_l").await;
    // Not SCIM-managed, E2EI off: the owner may rename.
    let reply = app
        .call(
            Method::PUT,
            "/self/handle",
            Some(&owner),
            Some(json!({ "handle": "owner_l2" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = app
        .call(
            Method::PUT,
            "/self",
            Some(&owner),
            Some(json!({ "name": "Owner Two" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // A SCIM user may not.
    create_user(&app, &token, user("ivan")).await;
    let (ivan, _) = app.login("ivan").await;
    for (path, body) in [
        ("/self/handle", json!({ "handle": "ivan2" })),
        ("/self", json!({ "name": "Ivan Two" })),
    ] {
        let reply = app.call(Method::PUT, path, Some(&ivan), Some(body)).await;
        assert_eq!(
            (reply.status, reply.label()),
            (StatusCode::FORBIDDEN, "managed-by-scim"),
            "{path}"
        );
    }
    // With E2EI on, nobody in the team may.
    let feature = json!({ "status": "enabled", "config": {
        "verificationExpiration": 86400,
        "acmeDiscoveryUrl": "https://acme.example.com/acme/wire/directory",
    } });
    let reply = app
        .call(
            Method::PUT,
            &format!("/teams/{team}/features/mlsE2EId"),
            Some(&owner),
            Some(feature),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = app
        .call(
            Method::PUT,
            "/self",
            Some(&owner),
            Some(json!({ "name": "Owner Three" })),
        )
        .await;
    assert_eq!(
        (reply.status, reply.label()),
        (StatusCode::FORBIDDEN, "managed-by-scim")
    );
}

/// Groups larger than one SQL batch (500): members checked, stored and read back in batches.
async fn groups_with_more_members_than_a_batch(app: TestApp) {
    let (team, token) = team_token(&app, "owner_m").await;
    let now = app.state.now();
    let mut ids = Vec::new();
    let mut tx = app.state.db.begin_write().await.unwrap();
    for n in 0..1_201 {
        let id = uuid::Uuid::new_v4().to_string();
        let handle = format!("bulk{n:05}");
        sqlx::query(
            "INSERT INTO users (id, name, handle, locale, team_id, role, created_at) \
             VALUES ($1, $2, $3, 'en', $4, 'member', $5)",
        )
        .bind(&id)
        .bind(format!("Bulk {n}"))
        .bind(&handle)
        .bind(&team)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO scim_users (user_id, team_id, user_name, display_name, active, version, created_at, updated_at, document) \
             VALUES ($1, $2, $3, $4, 1, 1, $5, $5, $6)",
        )
        .bind(&id)
        .bind(&team)
        .bind(&handle)
        .bind(format!("Bulk {n}"))
        .bind(now * 1000)
        .bind(json!({ "schemas": [USER_SCHEMA], "userName": handle }).to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    let members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Everyone",
        "members": members,
    });
    let created = scim(&app, Method::POST, "/Groups", &token, Some(group)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.status);
    assert_eq!(created.body["members"].as_array().unwrap().len(), 1_201);
    let group_id = created.body["id"].as_str().unwrap().to_owned();
    // Entra ID removes a member by value.
    let patch = json!({ "schemas": [PATCH_SCHEMA], "Operations": [
        { "op": "Remove", "path": "members", "value": [{ "value": ids[700] }] },
    ] });
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &token,
        Some(patch),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    let listed = scim(
        &app,
        Method::GET,
        "/Groups?filter=displayName%20eq%20%22everyone%22",
        &token,
        None,
    )
    .await;
    let got = listed.body["Resources"][0]["members"].as_array().unwrap();
    assert_eq!(got.len(), 1_200);
    assert!(got.iter().all(|m| m["value"] != ids[700].as_str()));
    // One unknown member among many refuses the whole write.
    let mut members: Vec<Value> = ids.iter().map(|id| json!({ "value": id })).collect();
    members.push(json!({ "value": uuid::Uuid::new_v4().to_string() }));
    let bad = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Everyone and a ghost",
        "members": members,
    });
    let refused = scim(&app, Method::POST, "/Groups", &token, Some(bad)).await;
    assert_scim_error(&refused, 400, Some("invalidValue"));
}

on_both_databases!(
    groups_with_more_members_than_a_batch,
    scim_tokens_are_made_by_team_admins_with_their_password,
    rejects_requests_without_a_valid_scim_token,
    another_teams_resources_are_not_found,
    users_map_onto_backend_users,
    sql_filters_agree_with_the_scim_evaluation,
    stale_etags_get_412_and_change_nothing,
    deactivation_removes_devices_and_cookies_and_queues_revocations,
    delete_removes_the_user_and_queues_revocations,
    names_and_handles_change_only_through_scim_where_managed,
);

mod unreachable_authority {
    use e2ei_backend::revocations::AuthorityClient;
    use e2ei_signer::SecretString;

    fn closed_port() -> AuthorityClient {
        AuthorityClient::new(
            "http://127.0.0.1:1",
            SecretString::new("token".into()),
            reqwest::Client::new(),
        )
    }

    #[tokio::test]
    async fn sqlite() {
        let app =
            super::common::TestApp::with_authority(super::common::Backend::Sqlite, closed_port())
                .await
                .unwrap();
        super::undelivered_revocations_stay_queued_with_backoff(app).await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(app) =
            super::common::TestApp::with_authority(super::common::Backend::Postgres, closed_port())
                .await
        {
            super::undelivered_revocations_stay_queued_with_backoff(app).await;
        }
    }
}
