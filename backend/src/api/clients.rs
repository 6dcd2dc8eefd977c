//! Clients (whitepaper "Client Registration"): at most 7 permanent and 1 temporary per user, a
//! new temporary one replacing the old; random 64-bit ids in lowercase hex; registration and
//! deletion re-authenticate with the password; deleting revokes the cookies carrying the
//! client's cookie label.
//!
//! - `POST /clients` `{type, class?, model?, label?, cookie?, password?}` → 201
//! - `GET /clients`, `GET /clients/{cid}`
//! - `DELETE /clients/{cid}` `{password?}` → 200

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use e2ei_core::id::{ClientId, DeviceId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use time::format_description::well_known::Rfc3339;

use super::{Authenticated, WireJson};
use crate::app::{AppState, SharedState};
use crate::error::ApiError;
use crate::users::{self, User};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    #[serde(rename = "type")]
    kind: String,
    class: Option<String>,
    model: Option<String>,
    label: Option<String>,
    cookie: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteClient {
    password: Option<String>,
}

/// A stored client.
pub(crate) struct Client {
    pub(crate) id: String,
    temporary: bool,
    class: Option<String>,
    model: Option<String>,
    label: Option<String>,
    cookie_label: Option<String>,
    created_at: i64,
}

impl Client {
    fn to_json(&self) -> Value {
        let time = time::OffsetDateTime::from_unix_timestamp(self.created_at)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok());
        json!({
            "id": self.id,
            "type": if self.temporary { "temporary" } else { "permanent" },
            "class": self.class,
            "model": self.model,
            "label": self.label,
            "cookie": self.cookie_label,
            "time": time,
        })
    }
}

fn short_text(name: &'static str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > 256 => Err(ApiError::bad_request(
            "bad-request",
            format!("`{name}` must be 1 to 256 characters"),
        )),
        _ => Ok(()),
    }
}

pub(super) async fn reauthenticate(user: &User, password: Option<&str>) -> Result<(), ApiError> {
    if user.password_hash.is_none() {
        return Ok(());
    }
    match password {
        None => Err(ApiError::forbidden(
            "missing-auth",
            "re-authentication with the password is required",
        )),
        Some(p) if user.password_matches(p) => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "invalid-credentials",
            "authentication failed",
        )),
    }
}

pub(super) async fn register(
    State(state): State<SharedState>,
    auth: Authenticated,
    WireJson(body): WireJson<NewClient>,
) -> Result<Response, ApiError> {
    let temporary = match body.kind.as_str() {
        "permanent" => false,
        "temporary" => true,
        _ => {
            return Err(ApiError::bad_request(
                "bad-request",
                "`type` is `permanent` or `temporary`",
            ));
        }
    };
    for (name, value) in [
        ("class", &body.class),
        ("model", &body.model),
        ("label", &body.label),
        ("cookie", &body.cookie),
    ] {
        short_text(name, value)?;
    }
    let user = current_user(&state, &auth).await?;
    reauthenticate(&user, body.password.as_deref()).await?;

    let mut tx = state.db.begin_write().await?;
    if temporary {
        sqlx::query("DELETE FROM clients WHERE user_id = $1 AND temporary = 1")
            .bind(user.id.to_string())
            .execute(&mut *tx)
            .await?;
    } else {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM clients WHERE user_id = $1 AND temporary = 0")
                .bind(user.id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if count >= state.settings.max_permanent_clients {
            return Err(ApiError::forbidden(
                "too-many-clients",
                format!(
                    "at most {} permanent clients",
                    state.settings.max_permanent_clients
                ),
            ));
        }
    }
    let client = Client {
        id: DeviceId::new(random_nonzero_u64()).to_string(),
        temporary,
        class: body.class,
        model: body.model,
        label: body.label,
        cookie_label: body.cookie,
        created_at: state.now(),
    };
    sqlx::query(
        "INSERT INTO clients (user_id, client_id, temporary, class, model, label, cookie_label, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user.id.to_string())
    .bind(&client.id)
    .bind(i64::from(client.temporary))
    .bind(&client.class)
    .bind(&client.model)
    .bind(&client.label)
    .bind(&client.cookie_label)
    .bind(client.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The user's other clients learn of the new one (whitepaper: a stolen login shows up).
    let others = client_ids(&state, user.id).await?;
    let others: Vec<String> = others.into_iter().filter(|c| *c != client.id).collect();
    let event = json!({ "type": "user.client-add", "client": client.to_json() });
    crate::notifications::notify(&state, user.id, &others, event).await?;
    Ok((StatusCode::CREATED, Json(client.to_json())).into_response())
}

fn random_nonzero_u64() -> u64 {
    loop {
        let mut bytes = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        let v = u64::from_be_bytes(bytes);
        if v != 0 {
            return v;
        }
    }
}

pub(super) async fn list(
    State(state): State<SharedState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE user_id = $1 ORDER BY created_at, client_id"
    ))
    .bind(auth.user.to_string())
    .fetch_all(state.db.pool())
    .await?;
    let clients = rows
        .iter()
        .map(client_from_row)
        .map(|c| c.map(|c| c.to_json()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(clients).into_response())
}

pub(super) async fn get_one(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(cid): Path<String>,
) -> Result<Response, ApiError> {
    let client = find_client(&state, &auth, &cid).await?;
    Ok(Json(client.to_json()).into_response())
}

pub(super) async fn delete(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(cid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: users without a password send none.
    let body: DeleteClient = if body.is_empty() {
        DeleteClient::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("bad-request", e.to_string()))?
    };
    let client = find_client(&state, &auth, &cid).await?;
    let user = current_user(&state, &auth).await?;
    reauthenticate(&user, body.password.as_deref()).await?;
    // The device and the revocation of its certificates, in one transaction (the outbox
    // delivers to the authority afterwards): a removed device's certificate is on the next CRL.
    let device: DeviceId = client.id.parse().map_err(ApiError::internal)?;
    let client_id = ClientId::new(UserId::new(user.id), device, state.settings.domain.clone());
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM clients WHERE user_id = $1 AND client_id = $2")
        .bind(user.id.to_string())
        .bind(&client.id)
        .execute(&mut *tx)
        .await?;
    crate::revocations::queue(
        &mut tx,
        &[client_id],
        crate::revocations::DEVICE_REMOVED_REASON,
        state.now(),
    )
    .await?;
    tx.commit().await?;
    state.revocations.wake.notify_one();
    if let Some(label) = &client.cookie_label {
        super::auth::revoke_cookies_with_label(&state, user.id, label).await?;
    }
    let mut told = client_ids(&state, user.id).await?;
    // The removed client hears it too if it is online, so it can erase its state.
    told.push(client.id.clone());
    let event = json!({ "type": "user.client-remove", "client": { "id": client.id } });
    crate::notifications::notify(&state, user.id, &told, event).await?;
    Ok(StatusCode::OK.into_response())
}

/// The ids of `user`'s clients.
async fn client_ids(state: &AppState, user: uuid::Uuid) -> Result<Vec<String>, ApiError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT client_id FROM clients WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(state.db.pool())
        .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

const CLIENT_COLUMNS: &str = "client_id, temporary, class, model, label, cookie_label, created_at";

fn client_from_row(row: &sqlx::any::AnyRow) -> Result<Client, ApiError> {
    Ok(Client {
        id: row.try_get("client_id")?,
        temporary: row.try_get::<i64, _>("temporary")? != 0,
        class: row.try_get("class")?,
        model: row.try_get("model")?,
        label: row.try_get("label")?,
        cookie_label: row.try_get("cookie_label")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The caller's client `cid` (canonical lowercase hex), or 404.
pub(crate) async fn find_client(
    state: &AppState,
    auth: &Authenticated,
    cid: &str,
) -> Result<Client, ApiError> {
    let not_found = || ApiError::not_found("client-not-found", "no such client");
    let id: DeviceId = cid.parse().map_err(|_| not_found())?;
    let row = sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE user_id = $1 AND client_id = $2"
    ))
    .bind(auth.user.to_string())
    .bind(id.to_string())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(not_found)?;
    client_from_row(&row)
}

/// The caller as stored (a deleted user's tokens stop working).
/// The caller's user, refused when gone or deactivated by the team's IdP: an access token
/// issued before a SCIM deactivation lives on for minutes, and must not register a device
/// (and so get a certificate) in that time.
pub(crate) async fn current_user(state: &AppState, auth: &Authenticated) -> Result<User, ApiError> {
    let user = users::find_user(state, auth.user)
        .await?
        .ok_or_else(|| ApiError::forbidden("invalid-credentials", "the user no longer exists"))?;
    if users::scim_active(state, user.id).await? == Some(false) {
        return Err(ApiError::forbidden(
            "suspended",
            "the account is deactivated by the team's identity provider",
        ));
    }
    Ok(user)
}
