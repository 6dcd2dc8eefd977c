//! The client's OIDC login (protocol doc §4 step 10) against the real test IdP alone: the
//! `claims` echo, the client id taken from the challenge target, and the IdP's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::idp::{self, REDIRECT_URI};
use e2ei_client::LoginHintLogin;
use e2ei_client::oidc::{IdTokenRequest, OidcError, obtain_id_token};
use serde_json::Value;

/// The claims of a JWT, unverified (the authority verifies; here only what the IdP put in).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn http() -> reqwest::Client {
    e2ei_client::HttpConfig::new().build().unwrap()
}

#[tokio::test]
async fn the_id_token_echoes_keyauth_and_acme_aud_for_the_targets_client_id() {
    let Some(idp) = idp::shared() else { return };
    let login = LoginHintLogin::new("alice_wire", REDIRECT_URI);
    let targets = [
        (idp.issuer.clone(), "wireapp"),
        (format!("{}?client_id=other-app", idp.issuer), "other-app"),
    ];
    for (target, audience) in &targets {
        let request = IdTokenRequest {
            target,
            client_id: None,
            keyauth: "b3lzQ1pOblYyaUpUWWZqbVRVSlo2dmF2WFhrelBGTGY.thumbprint",
            acme_aud: "https://acme.wire.example.com/acme/wire/challenge/a/b",
        };
        let token = obtain_id_token(&http(), &request, &login).await.unwrap();
        let claims = claims(token.expose());
        assert_eq!(claims["iss"], idp.issuer);
        assert_eq!(claims["aud"], *audience);
        assert_eq!(
            claims["keyauth"],
            "b3lzQ1pOblYyaUpUWWZqbVRVSlo2dmF2WFhrelBGTGY.thumbprint"
        );
        assert_eq!(
            claims["acme_aud"],
            "https://acme.wire.example.com/acme/wire/challenge/a/b"
        );
        assert_eq!(claims["name"], "Alice Smith");
        assert_eq!(
            claims["preferred_username"],
            "wireapp://%40alice_wire@wire.example.com"
        );
    }
}

#[tokio::test]
async fn the_idps_refusals_are_typed() {
    let Some(idp) = idp::shared() else { return };
    let request = IdTokenRequest {
        target: &idp.issuer,
        client_id: None,
        keyauth: "k.t",
        acme_aud: "https://acme.wire.example.com/acme/wire/challenge/a/b",
    };
    // The IdP refuses a user it does not know, and says so on the redirect.
    let unknown = LoginHintLogin::new("mallory", REDIRECT_URI);
    match obtain_id_token(&http(), &request, &unknown).await {
        Err(OidcError::Denied { error, .. }) => assert_eq!(error, "access_denied"),
        other => panic!("{other:?}"),
    }
    // A redirect URI the client is not registered with never gets a code.
    let unregistered = LoginHintLogin::new("alice_wire", "http://127.0.0.1:2/elsewhere");
    match obtain_id_token(&http(), &request, &unregistered).await {
        Err(OidcError::LoginFailed { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Another OAuth client than the IdP knows.
    let other = IdTokenRequest {
        client_id: Some("nobody"),
        ..request
    };
    let login = LoginHintLogin::new("alice_wire", REDIRECT_URI);
    match obtain_id_token(&http(), &other, &login).await {
        Err(OidcError::LoginFailed { status: 400, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Discovery of something that is not the IdP's issuer.
    let elsewhere = IdTokenRequest {
        target: "http://127.0.0.1:9",
        ..request
    };
    assert!(matches!(
        obtain_id_token(&http(), &elsewhere, &login).await,
        Err(OidcError::Transport(_))
    ));
}
