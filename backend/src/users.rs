//! Teams and users: the service layer that registration, team admins and (later) SCIM share.

use e2ei_core::id::{DisplayName, Handle};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;
use crate::password::{self, PASSWORD_LEN};

/// A team role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the team; all rights.
    Owner,
    /// Manages members and features.
    Admin,
    /// Uses the team.
    Member,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses a stored or requested role.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }

    /// Owners and admins manage the team.
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// A stored user.
#[derive(Debug, Clone)]
pub struct User {
    /// The user id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Handle, if set.
    pub handle: Option<String>,
    /// E-mail, if set.
    pub email: Option<String>,
    /// Password hash (PHC), if the user has a password.
    pub password_hash: Option<String>,
    /// IETF language tag.
    pub locale: String,
    /// Team, if any.
    pub team: Option<Uuid>,
    /// Role in the team.
    pub role: Option<Role>,
}

impl User {
    /// The public JSON form (never the password hash).
    pub fn to_json(&self, domain: &str) -> Value {
        json!({
            "id": self.id,
            "qualified_id": { "id": self.id, "domain": domain },
            "name": self.name,
            "handle": self.handle,
            "email": self.email,
            "locale": self.locale,
            "team": self.team,
            "role": self.role.map(Role::as_str),
        })
    }

    /// Whether `password` is this user's password.
    pub fn password_matches(&self, password: &str) -> bool {
        self.password_hash
            .as_deref()
            .is_some_and(|h| password::verify(password, h))
    }
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// Handle, if any.
    pub handle: Option<String>,
    /// E-mail, if any.
    pub email: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Locale (default `en`).
    pub locale: Option<String>,
    /// Team and role.
    pub team: Option<(Uuid, Role)>,
}

/// Validates and creates a user; nothing is written if any field is invalid or taken.
pub async fn create_user(state: &AppState, new: NewUser) -> Result<User, ApiError> {
    let name = DisplayName::new(new.name.trim())
        .map_err(|e| ApiError::bad_request("invalid-name", e.to_string()))?;
    let handle = new
        .handle
        .map(|h| {
            Handle::new(h)
                .map(|h| h.as_str().to_owned())
                .map_err(|e| ApiError::bad_request("invalid-handle", e.to_string()))
        })
        .transpose()?;
    let email = new
        .email
        .map(|e| validate_email(&e).map(|()| e.to_ascii_lowercase()))
        .transpose()?;
    let password_hash = match new.password {
        Some(p) if !PASSWORD_LEN.contains(&p.chars().count()) => {
            return Err(ApiError::bad_request(
                "invalid-password",
                "passwords are 8 to 1024 characters long",
            ));
        }
        Some(p) => {
            Some(password::hash(&p, state.settings.password_cost).map_err(ApiError::internal)?)
        }
        None => None,
    };
    let locale = new.locale.unwrap_or_else(|| "en".into());
    if locale.is_empty()
        || locale.len() > 35
        || !locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::bad_request(
            "invalid-locale",
            "locale must be an IETF language tag",
        ));
    }
    let user = User {
        id: Uuid::new_v4(),
        name: name.as_str().to_owned(),
        handle,
        email,
        password_hash,
        locale,
        team: new.team.map(|(t, _)| t),
        role: new.team.map(|(_, r)| r),
    };
    insert_user(state, &user).await?;
    Ok(user)
}

fn validate_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid-email",
            "not a valid e-mail address",
        ))
    }
}

async fn insert_user(state: &AppState, user: &User) -> Result<(), ApiError> {
    let result = sqlx::query(
        "INSERT INTO users (id, name, handle, email, password_hash, locale, team_id, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(user.id.to_string())
    .bind(&user.name)
    .bind(&user.handle)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.locale)
    .bind(user.team.map(|t| t.to_string()))
    .bind(user.role.map(Role::as_str))
    .bind(state.now())
    .execute(state.db.pool())
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            let message = e.message().to_owned();
            if message.contains("handle") {
                Err(ApiError::conflict("handle-exists", "the handle is taken"))
            } else {
                Err(ApiError::conflict(
                    "key-exists",
                    "the e-mail address is in use",
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a team and its owner in one transaction.
pub async fn create_team_with_owner(
    state: &AppState,
    team_name: &str,
    owner: NewUser,
) -> Result<(Uuid, User), ApiError> {
    let team_name = team_name.trim();
    if team_name.is_empty() || team_name.chars().count() > 256 {
        return Err(ApiError::bad_request(
            "invalid-team-name",
            "team names are 1 to 256 characters",
        ));
    }
    let team = Uuid::new_v4();
    sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(team.to_string())
        .bind(team_name)
        .bind(state.now())
        .execute(state.db.pool())
        .await?;
    let owner = NewUser {
        team: Some((team, Role::Owner)),
        ..owner
    };
    match create_user(state, owner).await {
        Ok(user) => Ok((team, user)),
        Err(e) => {
            // Keep "bad input changes nothing": the team goes with its failed owner.
            sqlx::query("DELETE FROM teams WHERE id = $1")
                .bind(team.to_string())
                .execute(state.db.pool())
                .await?;
            Err(e)
        }
    }
}

const USER_COLUMNS: &str = "id, name, handle, email, password_hash, locale, team_id, role";

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, ApiError> {
    let id: String = row.try_get("id")?;
    let team: Option<String> = row.try_get("team_id")?;
    let role: Option<String> = row.try_get("role")?;
    Ok(User {
        id: Uuid::parse_str(&id).map_err(ApiError::internal)?,
        name: row.try_get("name")?,
        handle: row.try_get("handle")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        locale: row.try_get("locale")?,
        team: team
            .map(|t| Uuid::parse_str(&t))
            .transpose()
            .map_err(ApiError::internal)?,
        role: role.as_deref().and_then(Role::parse),
    })
}

/// A user by id.
pub async fn find_user(state: &AppState, id: Uuid) -> Result<Option<User>, ApiError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// A user by e-mail or handle.
pub async fn find_user_by_login(state: &AppState, login: &str) -> Result<Option<User>, ApiError> {
    let (column, value) = if login.contains('@') {
        ("email", login.to_ascii_lowercase())
    } else {
        ("handle", login.to_owned())
    };
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    let row = sqlx::query(&sql)
        .bind(value)
        .fetch_optional(state.db.pool())
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The members of a team.
pub async fn team_members(state: &AppState, team: Uuid) -> Result<Vec<User>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// `Some(active)` for a SCIM-managed user, `None` for any other.
pub async fn scim_active(state: &AppState, user: Uuid) -> Result<Option<bool>, ApiError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT active FROM scim_users WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    Ok(row.map(|(a,)| a != 0))
}

/// Changes a user's display name.
pub async fn set_name(state: &AppState, user: Uuid, name: &str) -> Result<(), ApiError> {
    let name = DisplayName::new(name.trim())
        .map_err(|e| ApiError::bad_request("invalid-name", e.to_string()))?;
    sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
        .bind(user.to_string())
        .bind(name.as_str())
        .execute(state.db.pool())
        .await?;
    Ok(())
}

/// Changes a user's handle (unique across the backend).
pub async fn set_handle(state: &AppState, user: Uuid, handle: &str) -> Result<(), ApiError> {
    let handle =
        Handle::new(handle).map_err(|e| ApiError::bad_request("invalid-handle", e.to_string()))?;
    let result = sqlx::query("UPDATE users SET handle = $2 WHERE id = $1")
        .bind(user.to_string())
        .bind(handle.as_str())
        .execute(state.db.pool())
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(ApiError::conflict("handle-exists", "the handle is taken"))
        }
        Err(e) => Err(e.into()),
    }
}
