//! Teams: members and feature configuration.
//!
//! - `GET /teams/{tid}/members` (members) / `POST /teams/{tid}/members` (admins) — admin-created
//!   users, through the same service as registration (SCIM will use it too).
//! - `GET|PUT /teams/{tid}/features/mlsE2EId` — read by members, set by admins (§2.2).
//! - `GET /feature-configs` — the caller's team features.
//!
//! `crlProxy` as answered: the value a team admin (or the operator) stored, or else, when the
//! backend runs the CRL proxy (`[crl_proxy]`), that proxy's public URL. The fallback is applied
//! when answering, not stored, so a changed `public_url` reaches every team that set none.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::clients::current_user;
use super::{Authenticated, WireJson};
use crate::app::{AppState, SharedState};
use crate::error::ApiError;
use crate::users::{self, NewUser, Role, User};

/// The feature's name in the API and in storage.
const MLS_E2EID: &str = "mlsE2EId";

/// `mlsE2EId` (protocol doc §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct E2eiFeature {
    status: FeatureStatus,
    #[serde(rename = "lockStatus", default = "unlocked")]
    lock_status: LockStatus,
    config: E2eiConfig,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum FeatureStatus {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LockStatus {
    Locked,
    Unlocked,
}

fn unlocked() -> LockStatus {
    LockStatus::Unlocked
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct E2eiConfig {
    /// Grace period (seconds) for a client to get its first certificate.
    #[serde(rename = "verificationExpiration")]
    verification_expiration: u64,
    #[serde(rename = "acmeDiscoveryUrl", default)]
    acme_discovery_url: Option<String>,
    #[serde(rename = "crlProxy", default)]
    crl_proxy: Option<String>,
    #[serde(rename = "useProxyOnMobile", default)]
    use_proxy_on_mobile: bool,
}

impl Default for E2eiFeature {
    fn default() -> Self {
        Self {
            status: FeatureStatus::Disabled,
            lock_status: LockStatus::Unlocked,
            config: E2eiConfig {
                verification_expiration: 86_400,
                acme_discovery_url: None,
                crl_proxy: None,
                use_proxy_on_mobile: false,
            },
        }
    }
}

impl E2eiFeature {
    fn validate(&self) -> Result<(), ApiError> {
        for (name, url) in [
            ("acmeDiscoveryUrl", &self.config.acme_discovery_url),
            ("crlProxy", &self.config.crl_proxy),
        ] {
            if let Some(url) = url {
                match url::Url::parse(url) {
                    Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid-feature-config",
                            format!("`{name}` must be an https URL"),
                        ));
                    }
                }
            }
        }
        if self.status == FeatureStatus::Enabled && self.config.acme_discovery_url.is_none() {
            return Err(ApiError::bad_request(
                "invalid-feature-config",
                "enabling mlsE2EId needs `acmeDiscoveryUrl`",
            ));
        }
        Ok(())
    }

    /// The feature as clients get it: without a stored `crlProxy`, the backend's own proxy.
    fn advertised(mut self, state: &AppState) -> Self {
        if self.config.crl_proxy.is_none() {
            self.config.crl_proxy = state
                .crl_proxy
                .as_ref()
                .map(|p| p.policy().public_url.clone());
        }
        self
    }
}

/// The caller, who must belong to `team`; admins only when `admin`.
async fn team_caller(
    state: &AppState,
    auth: &Authenticated,
    team: &str,
    admin: bool,
) -> Result<(Uuid, User), ApiError> {
    let not_member =
        || ApiError::forbidden("no-team-member", "the caller is not a member of this team");
    let team = Uuid::parse_str(team).map_err(|_| ApiError::not_found("no-team", "no such team"))?;
    let user = current_user(state, auth).await?;
    if user.team != Some(team) {
        return Err(not_member());
    }
    if admin && !user.role.is_some_and(Role::is_admin) {
        return Err(ApiError::forbidden("operation-denied", "team admins only"));
    }
    Ok((team, user))
}

pub(super) async fn members(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    let (team, _) = team_caller(&state, &auth, &tid, false).await?;
    let domain = state.settings.domain.as_str();
    let members: Vec<Value> = users::team_members(&state, team)
        .await?
        .iter()
        .map(|u| u.to_json(domain))
        .collect();
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMember {
    name: String,
    handle: Option<String>,
    email: Option<String>,
    password: Option<String>,
    locale: Option<String>,
    #[serde(default = "member")]
    role: String,
}

fn member() -> String {
    "member".into()
}

pub(super) async fn add_member(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(tid): Path<String>,
    WireJson(body): WireJson<NewMember>,
) -> Result<Response, ApiError> {
    let (team, caller) = team_caller(&state, &auth, &tid, true).await?;
    let role = match Role::parse(&body.role) {
        Some(Role::Owner) | None => {
            return Err(ApiError::bad_request(
                "invalid-role",
                "`role` is `admin` or `member`",
            ));
        }
        Some(Role::Admin) if caller.role != Some(Role::Owner) => {
            return Err(ApiError::forbidden(
                "operation-denied",
                "only the owner creates admins",
            ));
        }
        Some(role) => role,
    };
    let user = users::create_user(
        &state,
        NewUser {
            name: body.name,
            handle: body.handle,
            email: body.email,
            password: body.password,
            locale: body.locale,
            team: Some((team, role)),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(user.to_json(state.settings.domain.as_str())),
    )
        .into_response())
}

async fn load_feature(state: &AppState, team: Uuid) -> Result<E2eiFeature, ApiError> {
    let row = sqlx::query("SELECT value FROM team_features WHERE team_id = $1 AND feature = $2")
        .bind(team.to_string())
        .bind(MLS_E2EID)
        .fetch_optional(state.db.pool())
        .await?;
    match row {
        None => Ok(E2eiFeature::default()),
        Some(row) => {
            let value: String = row.try_get("value")?;
            serde_json::from_str(&value).map_err(ApiError::internal)
        }
    }
}

/// Whether the team has E2EI (`mlsE2EId`) enabled.
pub(crate) async fn e2ei_enabled(state: &AppState, team: Uuid) -> Result<bool, ApiError> {
    Ok(load_feature(state, team).await?.status == FeatureStatus::Enabled)
}

pub(super) async fn get_e2ei_feature(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    let (team, _) = team_caller(&state, &auth, &tid, false).await?;
    Ok(Json(load_feature(&state, team).await?.advertised(&state)).into_response())
}

pub(super) async fn put_e2ei_feature(
    State(state): State<SharedState>,
    auth: Authenticated,
    Path(tid): Path<String>,
    WireJson(feature): WireJson<E2eiFeature>,
) -> Result<Response, ApiError> {
    let (team, _) = team_caller(&state, &auth, &tid, true).await?;
    // The lock belongs to the site operator: team admins neither change a locked feature nor lock one.
    if load_feature(&state, team).await?.lock_status == LockStatus::Locked {
        return Err(ApiError::conflict(
            "feature-locked",
            "the site operator has locked this feature",
        ));
    }
    if feature.lock_status == LockStatus::Locked {
        return Err(ApiError::forbidden(
            "operation-denied",
            "only the site operator locks features",
        ));
    }
    feature.validate()?;
    let value = serde_json::to_string(&feature).map_err(ApiError::internal)?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM team_features WHERE team_id = $1 AND feature = $2")
        .bind(team.to_string())
        .bind(MLS_E2EID)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO team_features (team_id, feature, value) VALUES ($1, $2, $3)")
        .bind(team.to_string())
        .bind(MLS_E2EID)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(feature.advertised(&state)).into_response())
}

pub(super) async fn feature_configs(
    State(state): State<SharedState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let user = current_user(&state, &auth).await?;
    let feature = match user.team {
        Some(team) => load_feature(&state, team).await?,
        None => E2eiFeature::default(),
    };
    Ok(Json(serde_json::json!({ MLS_E2EID: feature.advertised(&state) })).into_response())
}
