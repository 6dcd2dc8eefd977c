//! The messaging backend as the enrolling client uses it (protocol doc §2.3, §4 steps 6 and 8;
//! the e2ei backend's API, `backend/README.md`):
//!
//! - `POST /login` `{handle|email, password}` → a Wire access token;
//! - `GET /self` → who the user is: id, federation domain, display name, handle, team;
//! - `POST /clients` `{type: "permanent", password}` → a new device id;
//! - `HEAD /clients/{cid}/nonce` → the backend nonce in `Replay-Nonce`;
//! - `POST /clients/{cid}/access-token` with the proof in the `DPoP` header →
//!   `{"token", "type": "DPoP", "expires_in"}`.
//!
//! Paths are relative to the base URL, which carries any API version prefix (Wire's own
//! backend: `…/v5`). The parsing of each answer is a pure function over [`HttpResponse`].
//! Passwords and tokens are [`SecretString`]s: never logged, never in URLs.

use e2ei_core::id::{DeviceId, DisplayName, Domain, Handle, TeamId, UserId};
use e2ei_signer::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{HttpResponse, TransportError};

/// How to log in to the backend.
#[derive(Clone, Debug)]
pub enum Login {
    /// By handle.
    Handle(String),
    /// By e-mail address.
    Email(String),
}

/// A password login.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Who.
    pub login: Login,
    /// The password (never logged; sent only in the login and client-registration bodies).
    pub password: SecretString,
}

/// Why a backend step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No response.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The backend answered with a Wire error (`{"code", "label", "message"}`, §9.1).
    #[error("{url}: the backend refused ({status} {label}): {message}")]
    Refused {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Wire's error label, e.g. `client-token-bad-nonce`.
        label: String,
        /// Its message.
        message: String,
    },
    /// A status the step does not expect, without a Wire error body.
    #[error("{url}: unexpected HTTP {status}: {body}")]
    UnexpectedStatus {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The body is not what the step expects.
    #[error("{url}: malformed {what}: {reason}")]
    MalformedBody {
        /// The request URL.
        url: String,
        /// What was expected.
        what: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// The nonce answer has no `Replay-Nonce` (§2.3).
    #[error("{url}: the nonce answer carries no Replay-Nonce")]
    MissingReplayNonce {
        /// The request URL.
        url: String,
    },
    /// The access-token answer is not of type `DPoP`.
    #[error("{url}: the access token is of type {found:?}, expected DPoP")]
    TokenType {
        /// The request URL.
        url: String,
        /// The type received.
        found: String,
    },
    /// The user has no handle: a device cannot enroll without one (§6.2 `missing-handle`).
    #[error("the user has no handle; E2EI needs one")]
    MissingHandle,
    /// A member of the user's profile does not parse as its Wire type.
    #[error("the user's {member} {value:?} is not valid: {reason}")]
    InvalidProfile {
        /// Which member.
        member: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// Who the logged-in user is (`GET /self`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfUser {
    /// The user id.
    pub id: UserId,
    /// The backend's federation domain.
    pub domain: Domain,
    /// The display name.
    pub name: DisplayName,
    /// The handle.
    pub handle: Handle,
    /// The team, if any (the access-token endpoint requires one, §6.2).
    pub team: Option<TeamId>,
}

fn json_body<T: for<'de> Deserialize<'de>>(
    response: &HttpResponse,
    what: &'static str,
) -> Result<T, BackendError> {
    serde_json::from_slice(&response.body).map_err(|e| BackendError::MalformedBody {
        url: response.url.clone(),
        what,
        reason: e.to_string(),
    })
}

/// Fails with the Wire error of `response` unless its status is `expected`.
pub fn expect_status(response: &HttpResponse, expected: u16) -> Result<(), BackendError> {
    if response.status == expected {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct WireError {
        label: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<WireError>(&response.body) {
        Ok(e) => Err(BackendError::Refused {
            url: response.url.clone(),
            status: response.status,
            label: e.label,
            message: e.message,
        }),
        Err(_) => Err(BackendError::UnexpectedStatus {
            url: response.url.clone(),
            status: response.status,
            body: response.body_excerpt(),
        }),
    }
}

/// The login answer: the access token.
pub fn parse_login(response: &HttpResponse) -> Result<SecretString, BackendError> {
    expect_status(response, 200)?;
    #[derive(Deserialize)]
    struct LoginOut {
        access_token: String,
    }
    let out: LoginOut = json_body(response, "login answer")?;
    Ok(SecretString::new(out.access_token))
}

/// The `GET /self` answer.
pub fn parse_self(response: &HttpResponse) -> Result<SelfUser, BackendError> {
    expect_status(response, 200)?;
    #[derive(Deserialize)]
    struct Qualified {
        domain: String,
    }
    #[derive(Deserialize)]
    struct SelfOut {
        id: uuid::Uuid,
        qualified_id: Qualified,
        name: String,
        handle: Option<String>,
        team: Option<uuid::Uuid>,
    }
    let out: SelfOut = json_body(response, "user")?;
    fn invalid<'a>(
        member: &'static str,
        value: &'a str,
    ) -> impl FnOnce(e2ei_core::id::IdError) -> BackendError + 'a {
        move |e| BackendError::InvalidProfile {
            member,
            value: value.to_owned(),
            reason: e.to_string(),
        }
    }
    let handle = out.handle.ok_or(BackendError::MissingHandle)?;
    Ok(SelfUser {
        id: UserId::new(out.id),
        domain: Domain::new(out.qualified_id.domain.as_str())
            .map_err(invalid("domain", &out.qualified_id.domain))?,
        name: DisplayName::new(out.name.as_str()).map_err(invalid("name", &out.name))?,
        handle: Handle::new(handle.as_str()).map_err(invalid("handle", &handle))?,
        team: out.team.map(TeamId::new),
    })
}

/// The `POST /clients` answer: the new device id.
pub fn parse_new_client(response: &HttpResponse) -> Result<DeviceId, BackendError> {
    expect_status(response, 201)?;
    #[derive(Deserialize)]
    struct ClientOut {
        id: String,
    }
    let out: ClientOut = json_body(response, "client")?;
    out.id
        .parse()
        .map_err(|e: e2ei_core::id::IdError| BackendError::MalformedBody {
            url: response.url.clone(),
            what: "client id",
            reason: e.to_string(),
        })
}

/// The nonce answer (§2.3: `HEAD` → 200, `GET` → 204, the nonce in `Replay-Nonce`).
pub fn parse_nonce(response: &HttpResponse) -> Result<String, BackendError> {
    if response.status != 204 {
        expect_status(response, 200)?;
    }
    response
        .header("replay-nonce")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| BackendError::MissingReplayNonce {
            url: response.url.clone(),
        })
}

/// The access-token answer (§2.3): the `token`, which must be of `type` `DPoP`.
pub fn parse_access_token(response: &HttpResponse) -> Result<SecretString, BackendError> {
    expect_status(response, 200)?;
    #[derive(Deserialize)]
    struct TokenOut {
        token: String,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    let out: TokenOut = json_body(response, "access-token answer")?;
    match out.kind.as_deref() {
        None | Some("DPoP") => Ok(SecretString::new(out.token)),
        Some(other) => Err(BackendError::TokenType {
            url: response.url.clone(),
            found: other.to_owned(),
        }),
    }
}

/// A logged-in session with the backend.
#[derive(Clone, Debug)]
pub struct BackendSession {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl BackendSession {
    /// Logs in with a password (`POST /login`).
    pub async fn login(
        http: reqwest::Client,
        base_url: &str,
        credentials: &Credentials,
    ) -> Result<Self, BackendError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let url = format!("{base}/login");
        let mut body = json!({ "password": credentials.password.expose() });
        match &credentials.login {
            Login::Handle(h) => body["handle"] = json!(h),
            Login::Email(e) => body["email"] = json!(e),
        }
        let response = HttpResponse::send("POST", &url, http.post(&url).json(&body)).await?;
        let token = parse_login(&response)?;
        Ok(Self { http, base, token })
    }

    /// A session from an access token obtained elsewhere.
    pub fn with_access_token(http: reqwest::Client, base_url: &str, token: SecretString) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /self`.
    pub async fn self_user(&self) -> Result<SelfUser, BackendError> {
        let url = self.url("/self");
        let request = self.http.get(&url).bearer_auth(self.token.expose());
        parse_self(&HttpResponse::send("GET", &url, request).await?)
    }

    /// Registers a new permanent client (`POST /clients`); the password re-authenticates.
    pub async fn register_client(
        &self,
        password: Option<&SecretString>,
    ) -> Result<DeviceId, BackendError> {
        let url = self.url("/clients");
        let mut body = json!({ "type": "permanent", "class": "desktop", "label": "e2ei-client" });
        if let Some(password) = password {
            body["password"] = Value::String(password.expose().to_owned());
        }
        let request = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(&body);
        parse_new_client(&HttpResponse::send("POST", &url, request).await?)
    }

    /// `HEAD /clients/{cid}/nonce` (§4 step 6).
    pub async fn nonce(&self, device: DeviceId) -> Result<String, BackendError> {
        let url = self.url(&format!("/clients/{device}/nonce"));
        let request = self.http.head(&url).bearer_auth(self.token.expose());
        parse_nonce(&HttpResponse::send("HEAD", &url, request).await?)
    }

    /// `POST /clients/{cid}/access-token` with `DPoP: <proof>` (§4 step 8).
    pub async fn access_token(
        &self,
        device: DeviceId,
        proof: &str,
    ) -> Result<SecretString, BackendError> {
        let url = self.url(&format!("/clients/{device}/access-token"));
        let request = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .header("dpop", proof);
        parse_access_token(&HttpResponse::send("POST", &url, request).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse::new(
            "https://b/x",
            status,
            headers.iter().map(|(n, v)| (*n, *v)),
            body,
        )
    }

    #[test]
    fn wire_errors_carry_their_label() {
        let r = response(
            400,
            &[],
            r#"{"code":400,"label":"client-token-bad-nonce","message":"nonce"}"#,
        );
        match parse_access_token(&r).unwrap_err() {
            BackendError::Refused { label, status, .. } => {
                assert_eq!(label, "client-token-bad-nonce");
                assert_eq!(status, 400);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_access_token(&response(502, &[], "bad gateway")).unwrap_err(),
            BackendError::UnexpectedStatus { status: 502, .. }
        ));
    }

    #[test]
    fn nonce_needs_replay_nonce() {
        assert_eq!(
            parse_nonce(&response(
                200,
                &[("Replay-Nonce", "UhaLt4MDQpGJWKm5tvcjDQ")],
                ""
            ))
            .unwrap(),
            "UhaLt4MDQpGJWKm5tvcjDQ"
        );
        assert!(matches!(
            parse_nonce(&response(200, &[], "")).unwrap_err(),
            BackendError::MissingReplayNonce { .. }
        ));
    }

    #[test]
    fn access_token_must_be_of_type_dpop() {
        let ok = parse_access_token(&response(
            200,
            &[],
            r#"{"token":"t","type":"DPoP","expires_in":360}"#,
        ));
        assert_eq!(ok.unwrap().expose(), "t");
        assert!(matches!(
            parse_access_token(&response(200, &[], r#"{"token":"t","type":"Bearer"}"#))
                .unwrap_err(),
            BackendError::TokenType { .. }
        ));
    }

    #[test]
    fn self_needs_a_handle() {
        let body = |handle: &str| {
            format!(
                r#"{{"id":"c916d28a-58d7-4a70-a5ef-bf9090ceb7e2","qualified_id":{{"id":"c916d28a-58d7-4a70-a5ef-bf9090ceb7e2","domain":"wire.com"}},"name":"Alice Smith","handle":{handle},"team":"6e85e053-536f-4585-8fc8-cada876e5ec7"}}"#
            )
        };
        let user = parse_self(&response(200, &[], &body("\"alice_wire\""))).unwrap();
        assert_eq!(user.id.to_base64url(), "yRbSiljXSnCl77-QkM634g");
        assert_eq!(user.handle.as_str(), "alice_wire");
        assert_eq!(user.domain.as_str(), "wire.com");
        assert!(user.team.is_some());
        assert!(matches!(
            parse_self(&response(200, &[], &body("null"))).unwrap_err(),
            BackendError::MissingHandle
        ));
    }
}
