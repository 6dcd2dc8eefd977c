//! Per-team SCIM bearer tokens: created by a team owner or admin (who re-enters the password),
//! listed and revoked by them; stored as SHA-256 only. A token sees exactly one team.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;

/// At most this many live tokens per team (one per IdP plus rotation room).
pub const MAX_TOKENS_PER_TEAM: i64 = 8;
/// A description is 1 to this many characters.
const MAX_DESCRIPTION: usize = 256;

/// A stored token's public part.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Token id.
    pub id: Uuid,
    /// Its team.
    pub team: Uuid,
    /// What the admin wrote about it (which IdP uses it).
    pub description: String,
    /// Who created it.
    pub created_by: Uuid,
    /// Unix seconds.
    pub created_at: i64,
}

impl TokenInfo {
    /// The JSON form (never the token).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "team": self.team,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": time::OffsetDateTime::from_unix_timestamp(self.created_at)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        })
    }
}

fn sha256_hex(token: &str) -> String {
    hex_lower(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a token for `team`; the token text is returned once and never stored.
pub async fn create(
    state: &AppState,
    team: Uuid,
    created_by: Uuid,
    description: &str,
) -> Result<(String, TokenInfo), ApiError> {
    let description = description.trim();
    if description.is_empty() || description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(
            "invalid-description",
            format!("`description` is 1 to {MAX_DESCRIPTION} characters"),
        ));
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ApiError::internal("no randomness"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let info = TokenInfo {
        id: Uuid::new_v4(),
        team,
        description: description.to_owned(),
        created_by,
        created_at: state.now(),
    };
    let mut tx = state.db.begin_write().await?;
    let (live,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM scim_tokens WHERE team_id = $1")
        .bind(team.to_string())
        .fetch_one(&mut *tx)
        .await?;
    if live >= MAX_TOKENS_PER_TEAM {
        return Err(ApiError::forbidden(
            "token-limit-reached",
            format!("a team has at most {MAX_TOKENS_PER_TEAM} SCIM tokens; revoke one first"),
        ));
    }
    sqlx::query(
        "INSERT INTO scim_tokens (id, team_id, token_sha256, description, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(info.id.to_string())
    .bind(team.to_string())
    .bind(sha256_hex(&token))
    .bind(&info.description)
    .bind(created_by.to_string())
    .bind(info.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(team = %team, token = %info.id, "SCIM token created");
    Ok((token, info))
}

fn info_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo, ApiError> {
    let parse = |column: &str| -> Result<Uuid, ApiError> {
        let text: String = row.try_get(column)?;
        Uuid::parse_str(&text).map_err(ApiError::internal)
    };
    Ok(TokenInfo {
        id: parse("id")?,
        team: parse("team_id")?,
        description: row.try_get("description")?,
        created_by: parse("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The team's tokens, oldest first.
pub async fn list(state: &AppState, team: Uuid) -> Result<Vec<TokenInfo>, ApiError> {
    let rows = sqlx::query(
        "SELECT id, team_id, description, created_by, created_at FROM scim_tokens \
         WHERE team_id = $1 ORDER BY created_at, id",
    )
    .bind(team.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter().map(info_from_row).collect()
}

/// Revokes the team's token `id`; false when the team has no such token.
pub async fn revoke(state: &AppState, team: Uuid, id: Uuid) -> Result<bool, ApiError> {
    let done = sqlx::query("DELETE FROM scim_tokens WHERE team_id = $1 AND id = $2")
        .bind(team.to_string())
        .bind(id.to_string())
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() > 0 {
        tracing::info!(team = %team, token = %id, "SCIM token revoked");
    }
    Ok(done.rows_affected() > 0)
}

/// The team a presented token belongs to, or `None`. The lookup is by the token's SHA-256
/// (a unique index), so the comparison never touches the token itself.
pub async fn team_for(state: &AppState, token: &str) -> Result<Option<Uuid>, ApiError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT team_id FROM scim_tokens WHERE token_sha256 = $1")
        .bind(sha256_hex(token))
        .fetch_optional(state.db.pool())
        .await?;
    row.map(|r| {
        let text: String = r.try_get("team_id")?;
        Uuid::parse_str(&text).map_err(ApiError::internal)
    })
    .transpose()
}
