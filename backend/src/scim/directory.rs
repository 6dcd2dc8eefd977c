//! The SCIM directory over the backend's storage: a SCIM User is a team user of the backend
//! (`userName` ↔ handle, `displayName` ↔ display name, primary e-mail, `password` ↔ password
//! hash, `active`), a SCIM Group lives in `scim_groups` with its members.
//!
//! Filters whose attributes have columns (`id`, `userName`, `externalId`, `displayName`,
//! `active`, `meta.created`, `meta.lastModified`) become SQL over the team's indexes; any other
//! part is evaluated by e2ei-scim over the rows the SQL part leaves.
//!
//! Deprovisioning: `active` turning false, or DELETE, removes the user's devices and cookies
//! and queues the revocation of every certificate of those devices (see
//! [`crate::revocations`]) in the same transaction.

use e2ei_core::id::{ClientId, DeviceId, DisplayName, Handle, UserId};
use e2ei_scim::{
    AttrPath, CompValue, CompareOp, Directory, DirectoryError, Filter, Page, Query, ResourceKind,
    SortOrder, Stored,
};
use serde_json::{Value, json};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::SharedState;
use crate::db::DbKind;
use crate::error::ApiError;
use crate::password::{self, PASSWORD_LEN};
use crate::revocations::{self, DEPROVISIONING_REASON};
use crate::users::Role;

/// The e2ei extension schema of a User: the Wire handle and team, both read-only.
pub const E2EI_USER_SCHEMA: &str = "urn:e2ei:params:scim:schemas:extension:e2ei:2.0:User";

/// The backend's [`Directory`]: one per request, over the shared state.
pub struct SqlDirectory {
    state: SharedState,
}

impl SqlDirectory {
    /// The directory over `state`'s database.
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

fn internal(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Internal(e.to_string())
}

impl From<ApiError> for DirectoryError {
    fn from(e: ApiError) -> Self {
        DirectoryError::Internal(e.label().to_owned())
    }
}

fn sql_error(e: sqlx::Error) -> DirectoryError {
    internal(e)
}

fn now_millis(state: &SharedState) -> i64 {
    let now = state.clock.now();
    now.unix_timestamp() * 1000 + i64::from(now.millisecond())
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, DirectoryError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(internal)
}

fn parse_tenant(tenant: &str) -> Result<Uuid, DirectoryError> {
    Uuid::parse_str(tenant).map_err(|_| DirectoryError::NotFound)
}

/// Ids are UUIDs; anything else names no resource.
fn parse_id(id: &str) -> Result<Uuid, DirectoryError> {
    Uuid::parse_str(id).map_err(|_| DirectoryError::NotFound)
}

// ---------------------------------------------------------------------------------------------
// Users: the document and the backend's user row.

/// What a User document maps to in the backend's own user row.
struct UserFields {
    /// `userName` lower-cased: unique in the team, what filters on userName compare.
    user_name: String,
    /// The Wire handle: the e2ei extension's `handle`, else `userName`.
    handle: String,
    display_name: String,
    external_id: Option<String>,
    email: Option<String>,
    active: bool,
    password: Option<String>,
}

fn str_at<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

/// Reads (and strips the password from) a normalised User document.
fn user_fields(doc: &mut Value) -> Result<UserFields, DirectoryError> {
    let user_name = str_at(doc, "userName")
        .ok_or_else(|| DirectoryError::InvalidValue("userName is required".into()))?
        .to_owned();
    let user_name = user_name.as_str();
    let explicit = doc
        .get(E2EI_USER_SCHEMA)
        .and_then(|e| e.get("handle"))
        .and_then(Value::as_str);
    let handle = match explicit {
        Some(h) => Handle::new(h.to_lowercase()).map_err(|e| {
            DirectoryError::InvalidValue(format!(
                "{E2EI_USER_SCHEMA}:handle `{h}` is not a Wire handle ({e})"
            ))
        })?,
        None => Handle::new(user_name.to_lowercase()).map_err(|e| {
            DirectoryError::InvalidValue(format!(
                "userName `{user_name}` is not a Wire handle ({e}): set \
                 {E2EI_USER_SCHEMA}:handle, or map userName to a handle-like attribute such as \
                 mailNickname"
            ))
        })?,
    };
    let given = doc["name"]["givenName"].as_str();
    let family = doc["name"]["familyName"].as_str();
    let joined = match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    };
    let display = str_at(doc, "displayName")
        .map(str::to_owned)
        .or_else(|| doc["name"]["formatted"].as_str().map(str::to_owned))
        .or(joined)
        .unwrap_or_else(|| user_name.to_owned());
    let display_name = DisplayName::new(display.trim())
        .map_err(|e| DirectoryError::InvalidValue(format!("displayName: {e}")))?;
    let email = primary_value(doc.get("emails"));
    if let Some(email) = &email {
        let ok = email.len() <= 320
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(DirectoryError::InvalidValue(format!(
                "emails: `{email}` is not an e-mail address"
            )));
        }
    }
    let password = match doc.as_object_mut().and_then(|o| o.remove("password")) {
        Some(Value::String(p)) if PASSWORD_LEN.contains(&p.chars().count()) => Some(p),
        Some(Value::String(_)) => {
            return Err(DirectoryError::InvalidValue(
                "password: 8 to 1024 characters".into(),
            ));
        }
        Some(Value::Null) | None => None,
        Some(_) => return Err(DirectoryError::InvalidValue("password is a string".into())),
    };
    Ok(UserFields {
        user_name: user_name.to_lowercase(),
        handle: handle.as_str().to_owned(),
        display_name: display_name.as_str().to_owned(),
        external_id: str_at(doc, "externalId").map(str::to_owned),
        email: email.map(|e| e.to_ascii_lowercase()),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        password,
    })
}

/// The primary value of a multi-valued attribute, else its first.
fn primary_value(values: Option<&Value>) -> Option<String> {
    let values = values?.as_array()?;
    values
        .iter()
        .find(|v| v["primary"].as_bool() == Some(true))
        .or_else(|| values.first())
        .and_then(|v| v["value"].as_str())
        .map(str::to_owned)
}

/// Stamps the e2ei extension's read-only `team` on a User document.
fn with_e2ei_extension(mut doc: Value, team: Uuid) -> Value {
    e2ei_scim::resource::stamp_e2ei_user(&mut doc, &team.to_string());
    doc
}

fn unique_violation(e: &sqlx::Error) -> Option<DirectoryError> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let message = d.message();
            Some(DirectoryError::Conflict(
                if message.contains("email") {
                    "an e-mail address in `emails` is in use"
                } else if message.contains("handle") {
                    "the Wire handle (userName, or the e2ei extension's handle) is taken"
                } else {
                    "userName is taken in this team"
                }
                .into(),
            ))
        }
        _ => None,
    }
}

/// The current row of a resource of `team` inside a write transaction, after checking its
/// version against `expected` (none: any version). `columns` must include `version`.
async fn current_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    kind: ResourceKind,
    columns: &str,
    team: Uuid,
    id: Uuid,
    expected: Option<u64>,
) -> Result<sqlx::any::AnyRow, DirectoryError> {
    let (table, id_column) = match kind {
        ResourceKind::User => ("scim_users", "user_id"),
        ResourceKind::Group => ("scim_groups", "id"),
    };
    let row = sqlx::query(&format!(
        "SELECT {columns} FROM {table} WHERE {id_column} = $1 AND team_id = $2"
    ))
    .bind(id.to_string())
    .bind(team.to_string())
    .fetch_optional(&mut **tx)
    .await
    .map_err(sql_error)?
    .ok_or(DirectoryError::NotFound)?;
    let version: i64 = row.try_get("version").map_err(sql_error)?;
    if expected.is_some_and(|v| u64::try_from(version).ok() != Some(v)) {
        return Err(DirectoryError::VersionMismatch);
    }
    Ok(row)
}

const USER_SELECT: &str =
    "SELECT user_id, version, created_at, updated_at, document FROM scim_users";

fn stored_from_row(row: &sqlx::any::AnyRow, id_column: &str) -> Result<Stored, DirectoryError> {
    let document: String = row.try_get("document").map_err(sql_error)?;
    Ok(Stored {
        id: row.try_get(id_column).map_err(sql_error)?,
        version: u64::try_from(row.try_get::<i64, _>("version").map_err(sql_error)?)
            .map_err(internal)?,
        created: from_millis(row.try_get("created_at").map_err(sql_error)?)?,
        last_modified: from_millis(row.try_get("updated_at").map_err(sql_error)?)?,
        document: serde_json::from_str(&document).map_err(internal)?,
    })
}

impl SqlDirectory {
    async fn create_user(&self, team: Uuid, mut doc: Value) -> Result<Stored, DirectoryError> {
        let state = &self.state;
        let fields = user_fields(&mut doc)?;
        let password_hash = match &fields.password {
            Some(p) => Some(password::hash(p, state.settings.password_cost).map_err(internal)?),
            None => None,
        };
        let id = Uuid::new_v4();
        let doc = with_e2ei_extension(doc, team);
        let now = now_millis(state);
        let mut tx = state.db.begin_write().await.map_err(sql_error)?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, handle, email, password_hash, locale, team_id, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'en', $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(&fields.display_name)
        .bind(&fields.handle)
        .bind(&fields.email)
        .bind(&password_hash)
        .bind(team.to_string())
        .bind(Role::Member.as_str())
        .bind(now / 1000)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            return Err(unique_violation(&e).unwrap_or_else(|| sql_error(e)));
        }
        sqlx::query(
            "INSERT INTO scim_users (user_id, team_id, user_name, external_id, display_name, active, version, created_at, updated_at, document) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8)",
        )
        .bind(id.to_string())
        .bind(team.to_string())
        .bind(&fields.user_name)
        .bind(&fields.external_id)
        .bind(&fields.display_name)
        .bind(i64::from(fields.active))
        .bind(now)
        .bind(doc.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(&e).unwrap_or_else(|| sql_error(e)))?;
        tx.commit().await.map_err(sql_error)?;
        tracing::info!(team = %team, user = %id, "SCIM user created");
        Ok(Stored {
            id: id.to_string(),
            version: 1,
            created: from_millis(now)?,
            last_modified: from_millis(now)?,
            document: doc,
        })
    }

    async fn get_user(&self, team: Uuid, id: Uuid) -> Result<Stored, DirectoryError> {
        let row = sqlx::query(&format!(
            "{USER_SELECT} WHERE user_id = $1 AND team_id = $2"
        ))
        .bind(id.to_string())
        .bind(team.to_string())
        .fetch_optional(self.state.db.pool())
        .await
        .map_err(sql_error)?
        .ok_or(DirectoryError::NotFound)?;
        stored_from_row(&row, "user_id")
    }

    async fn replace_user(
        &self,
        team: Uuid,
        id: Uuid,
        expected_version: u64,
        mut doc: Value,
    ) -> Result<Stored, DirectoryError> {
        let state = &self.state;
        let fields = user_fields(&mut doc)?;
        let password_hash = match &fields.password {
            Some(p) => Some(password::hash(p, state.settings.password_cost).map_err(internal)?),
            None => None,
        };
        let doc = with_e2ei_extension(doc, team);
        let now = now_millis(state);
        let mut tx = state.db.begin_write().await.map_err(sql_error)?;
        let current = current_row(
            &mut tx,
            ResourceKind::User,
            "version, active, created_at",
            team,
            id,
            Some(expected_version),
        )
        .await?;
        let version: i64 = current.try_get("version").map_err(sql_error)?;
        let was_active: i64 = current.try_get("active").map_err(sql_error)?;
        let created: i64 = current.try_get("created_at").map_err(sql_error)?;
        let updated = sqlx::query(
            "UPDATE users SET name = $2, handle = $3, email = $4, \
             password_hash = COALESCE($5, password_hash) WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&fields.display_name)
        .bind(&fields.handle)
        .bind(&fields.email)
        .bind(&password_hash)
        .execute(&mut *tx)
        .await;
        if let Err(e) = updated {
            return Err(unique_violation(&e).unwrap_or_else(|| sql_error(e)));
        }
        let new_version = version + 1;
        sqlx::query(
            "UPDATE scim_users SET user_name = $3, external_id = $4, display_name = $5, active = $6, \
             version = $7, updated_at = $8, document = $9 WHERE user_id = $1 AND team_id = $2",
        )
        .bind(id.to_string())
        .bind(team.to_string())
        .bind(&fields.user_name)
        .bind(&fields.external_id)
        .bind(&fields.display_name)
        .bind(i64::from(fields.active))
        .bind(new_version)
        .bind(now)
        .bind(doc.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(&e).unwrap_or_else(|| sql_error(e)))?;
        let deprovisioned = if was_active != 0 && !fields.active {
            deprovision(state, &mut tx, id).await?
        } else {
            0
        };
        tx.commit().await.map_err(sql_error)?;
        if was_active != 0 && !fields.active {
            self.after_deprovisioning(team, id, deprovisioned, "deactivated");
        }
        Ok(Stored {
            id: id.to_string(),
            version: u64::try_from(new_version).map_err(internal)?,
            created: from_millis(created)?,
            last_modified: from_millis(now)?,
            document: doc,
        })
    }

    async fn delete_user(
        &self,
        team: Uuid,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<(), DirectoryError> {
        let state = &self.state;
        let mut tx = state.db.begin_write().await.map_err(sql_error)?;
        current_row(
            &mut tx,
            ResourceKind::User,
            "version",
            team,
            id,
            expected_version,
        )
        .await?;
        let devices = deprovision(state, &mut tx, id).await?;
        // The user's groups lose a member: a new version, so their ETags change.
        sqlx::query(
            "UPDATE scim_groups SET version = version + 1, updated_at = $2 WHERE id IN \
             (SELECT group_id FROM scim_group_members WHERE user_id = $1)",
        )
        .bind(id.to_string())
        .bind(now_millis(state))
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        // Cascades to the SCIM row, group memberships, notifications.
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        self.after_deprovisioning(team, id, devices, "deleted");
        Ok(())
    }

    fn after_deprovisioning(&self, team: Uuid, user: Uuid, devices: usize, how: &str) {
        self.state.metrics.user_deprovisioned();
        self.state.revocations.wake.notify_one();
        tracing::info!(team = %team, user = %user, devices, how, "SCIM deprovisioning: devices removed, certificate revocations queued");
    }
}

/// Removes a user's devices and cookies and queues the revocation of every certificate of
/// those devices, inside `tx`. Returns the number of devices.
async fn deprovision(
    state: &SharedState,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user: Uuid,
) -> Result<usize, DirectoryError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT client_id FROM clients WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(&mut **tx)
        .await
        .map_err(sql_error)?;
    let devices = rows
        .iter()
        .map(|(c,)| {
            let device: DeviceId = c.parse().map_err(internal)?;
            Ok(ClientId::new(
                UserId::new(user),
                device,
                state.settings.domain.clone(),
            ))
        })
        .collect::<Result<Vec<_>, DirectoryError>>()?;
    revocations::queue(tx, &devices, DEPROVISIONING_REASON, state.now()).await?;
    for table in ["clients", "cookies", "dpop_nonces"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user.to_string())
            .execute(&mut **tx)
            .await
            .map_err(sql_error)?;
    }
    Ok(devices.len())
}

// ---------------------------------------------------------------------------------------------
// Groups.

const GROUP_SELECT: &str = "SELECT id, version, created_at, updated_at, document FROM scim_groups";

impl SqlDirectory {
    /// The member ids of a group document, each a SCIM user of `team`.
    /// The member ids of a group document, each a SCIM user of `team` (checked in batches).
    async fn member_ids(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        team: Uuid,
        doc: &Value,
    ) -> Result<Vec<Uuid>, DirectoryError> {
        let mut ids: Vec<Uuid> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for member in doc["members"].as_array().into_iter().flatten() {
            let value = member["value"].as_str().ok_or_else(|| {
                DirectoryError::InvalidValue("members: each member needs a `value`".into())
            })?;
            let id = Uuid::parse_str(value).map_err(|_| {
                DirectoryError::InvalidValue(format!("members: no user `{value}` in this team"))
            })?;
            if seen.insert(id) {
                ids.push(id);
            }
        }
        for chunk in ids.chunks(BATCH) {
            let sql = format!(
                "SELECT user_id FROM scim_users WHERE team_id = $1 AND user_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(team.to_string());
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let rows = query.fetch_all(&mut **tx).await.map_err(sql_error)?;
            let found: std::collections::HashSet<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("user_id"))
                .collect::<Result<_, _>>()
                .map_err(sql_error)?;
            if let Some(missing) = chunk.iter().find(|id| !found.contains(&id.to_string())) {
                return Err(DirectoryError::InvalidValue(format!(
                    "members: no user `{missing}` in this team"
                )));
            }
        }
        Ok(ids)
    }

    async fn write_group(
        &self,
        team: Uuid,
        id: Option<(Uuid, u64)>,
        mut doc: Value,
    ) -> Result<Stored, DirectoryError> {
        let state = &self.state;
        let display_name = str_at(&doc, "displayName")
            .ok_or_else(|| DirectoryError::InvalidValue("displayName is required".into()))?
            .to_owned();
        let external_id = str_at(&doc, "externalId").map(str::to_owned);
        let now = now_millis(state);
        let mut tx = state.db.begin_write().await.map_err(sql_error)?;
        let members = self.member_ids(&mut tx, team, &doc).await?;
        if let Some(object) = doc.as_object_mut() {
            object.remove("members");
        }
        let (group, version, created) = match id {
            None => {
                let group = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO scim_groups (id, team_id, display_name, external_id, version, created_at, updated_at, document) \
                     VALUES ($1, $2, $3, $4, 1, $5, $5, $6)",
                )
                .bind(group.to_string())
                .bind(team.to_string())
                .bind(&display_name)
                .bind(&external_id)
                .bind(now)
                .bind(doc.to_string())
                .execute(&mut *tx)
                .await
                .map_err(sql_error)?;
                (group, 1, now)
            }
            Some((group, expected)) => {
                let current = current_row(
                    &mut tx,
                    ResourceKind::Group,
                    "version, created_at",
                    team,
                    group,
                    Some(expected),
                )
                .await?;
                let version: i64 = current.try_get("version").map_err(sql_error)?;
                sqlx::query(
                    "UPDATE scim_groups SET display_name = $2, external_id = $3, version = $4, \
                     updated_at = $5, document = $6 WHERE id = $1",
                )
                .bind(group.to_string())
                .bind(&display_name)
                .bind(&external_id)
                .bind(version + 1)
                .bind(now)
                .bind(doc.to_string())
                .execute(&mut *tx)
                .await
                .map_err(sql_error)?;
                sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
                    .bind(group.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                let created: i64 = current.try_get("created_at").map_err(sql_error)?;
                (group, version + 1, created)
            }
        };
        for chunk in members.chunks(BATCH) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${})", i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO scim_group_members (group_id, user_id) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(group.to_string());
            for member in chunk {
                query = query.bind(member.to_string());
            }
            query.execute(&mut *tx).await.map_err(sql_error)?;
        }
        tx.commit().await.map_err(sql_error)?;
        let mut stored = Stored {
            id: group.to_string(),
            version: u64::try_from(version).map_err(internal)?,
            created: from_millis(created)?,
            last_modified: from_millis(now)?,
            document: doc,
        };
        self.attach_members(std::slice::from_mut(&mut stored))
            .await?;
        Ok(stored)
    }

    /// Puts each group's members (value, display, type, $ref) into its document: one query per
    /// batch of groups.
    async fn attach_members(&self, groups: &mut [Stored]) -> Result<(), DirectoryError> {
        let mut members: std::collections::HashMap<String, Vec<Value>> =
            std::collections::HashMap::new();
        for chunk in groups.chunks(BATCH) {
            let sql = format!(
                "SELECT m.group_id, m.user_id, u.name FROM scim_group_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.group_id IN ({}) \
                 ORDER BY m.group_id, m.user_id",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for group in chunk {
                query = query.bind(group.id.as_str());
            }
            for row in query
                .fetch_all(self.state.db.pool())
                .await
                .map_err(sql_error)?
            {
                let group: String = row.try_get("group_id").map_err(sql_error)?;
                let id: String = row.try_get("user_id").map_err(sql_error)?;
                let name: String = row.try_get("name").map_err(sql_error)?;
                members.entry(group).or_default().push(json!({
                    "value": id,
                    "display": name,
                    "type": "User",
                    "$ref": format!("{}/Users/{id}", self.state.scim.public_url),
                }));
            }
        }
        for group in groups {
            if let (Some(list), Some(object)) =
                (members.remove(&group.id), group.document.as_object_mut())
            {
                object.insert("members".into(), Value::Array(list));
            }
        }
        Ok(())
    }

    async fn get_group(&self, team: Uuid, id: Uuid) -> Result<Stored, DirectoryError> {
        let row = sqlx::query(&format!("{GROUP_SELECT} WHERE id = $1 AND team_id = $2"))
            .bind(id.to_string())
            .bind(team.to_string())
            .fetch_optional(self.state.db.pool())
            .await
            .map_err(sql_error)?
            .ok_or(DirectoryError::NotFound)?;
        let mut stored = stored_from_row(&row, "id")?;
        self.attach_members(std::slice::from_mut(&mut stored))
            .await?;
        Ok(stored)
    }

    async fn delete_group(
        &self,
        team: Uuid,
        id: Uuid,
        expected_version: Option<u64>,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.state.db.begin_write().await.map_err(sql_error)?;
        current_row(
            &mut tx,
            ResourceKind::Group,
            "version",
            team,
            id,
            expected_version,
        )
        .await?;
        sqlx::query("DELETE FROM scim_groups WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Queries: the SQL part of a filter, and the rest in memory.

/// Ids per `IN (…)` list or multi-row INSERT: well below SQLite's and PostgreSQL's parameter
/// limits.
const BATCH: usize = 500;

/// `$first, $first+1, …` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column a filter attribute maps to.
#[derive(Clone, Copy)]
enum Column {
    /// Text compared as stored (ids, externalId).
    Exact(&'static str),
    /// Text stored lower-cased (userName): values are lower-cased too.
    Lowered(&'static str),
    /// Text compared case-insensitively (displayName).
    Folded(&'static str),
    /// 0/1 flag.
    Flag(&'static str),
    /// Unix milliseconds (meta.created, meta.lastModified).
    Millis(&'static str),
}

fn column_for(kind: ResourceKind, path: &AttrPath) -> Option<Column> {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    let (id, name_col) = match kind {
        ResourceKind::User => ("user_id", "user_name"),
        ResourceKind::Group => ("id", "display_name"),
    };
    match (attr.as_str(), sub.as_deref(), kind) {
        ("id", None, _) => Some(Column::Exact(id)),
        ("externalid", None, _) => Some(Column::Exact("external_id")),
        ("username", None, ResourceKind::User) => Some(Column::Lowered(name_col)),
        ("displayname", None, ResourceKind::User) => Some(Column::Folded("display_name")),
        ("displayname", None, ResourceKind::Group) => Some(Column::Folded(name_col)),
        ("active", None, ResourceKind::User) => Some(Column::Flag("active")),
        ("meta", Some("created"), _) => Some(Column::Millis("created_at")),
        ("meta", Some("lastmodified"), _) => Some(Column::Millis("updated_at")),
        _ => None,
    }
}

/// Bound values of a WHERE clause.
enum Bind {
    Text(String),
    Int(i64),
}

struct SqlFilter {
    binds: Vec<Bind>,
}

impl SqlFilter {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    fn like_escape(value: &str) -> String {
        value
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    }

    /// The SQL for `filter`, or `None` when some part has no column.
    fn translate(&mut self, kind: ResourceKind, filter: &Filter) -> Option<String> {
        match filter {
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mark = self.binds.len();
                let left = self.translate(kind, a);
                let right = left.as_ref().and_then(|_| self.translate(kind, b));
                match (left, right) {
                    (Some(l), Some(r)) => {
                        let op = if matches!(filter, Filter::And(..)) {
                            "AND"
                        } else {
                            "OR"
                        };
                        Some(format!("({l} {op} {r})"))
                    }
                    _ => {
                        self.binds.truncate(mark);
                        None
                    }
                }
            }
            Filter::Present(path) => match column_for(kind, path)? {
                Column::Exact(c) => Some(format!("({c} IS NOT NULL AND {c} <> '')")),
                Column::Lowered(_) | Column::Folded(_) | Column::Flag(_) | Column::Millis(_) => {
                    Some("1 = 1".into())
                }
            },
            Filter::Compare { path, op, value } => self.compare(kind, path, *op, value),
            // `not` and value filters keep SCIM's missing-value semantics only in memory.
            Filter::Not(_) | Filter::ValuePath { .. } => None,
        }
    }

    fn compare(
        &mut self,
        kind: ResourceKind,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Option<String> {
        let column = column_for(kind, path)?;
        match (column, value) {
            (Column::Flag(c), CompValue::Bool(b)) => match op {
                CompareOp::Eq => Some(format!("{c} = {}", i64::from(*b))),
                CompareOp::Ne => Some(format!("{c} <> {}", i64::from(*b))),
                _ => None,
            },
            (Column::Millis(c), CompValue::Str(s)) => {
                let at = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .ok()?;
                let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
                let sql_op = match op {
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    // Rendered instants have millisecond precision; eq on them stays exact in
                    // memory.
                    _ => return None,
                };
                let p = self.param(Bind::Int(ms));
                Some(format!("{c} {sql_op} {p}"))
            }
            (Column::Exact(c), CompValue::Str(s)) => self.text(c, op, s.clone(), false),
            (Column::Lowered(c), CompValue::Str(s)) => self.text(c, op, s.to_lowercase(), false),
            (Column::Folded(c), CompValue::Str(s)) => self.text(c, op, s.to_lowercase(), true),
            _ => None,
        }
    }

    /// Text comparisons. Exact columns (ids, externalId) take `eq` only: LIKE folds case in
    /// SQLite and not in PostgreSQL. Case-insensitive columns compare lower-cased values on
    /// both sides, where the two agree.
    fn text(&mut self, column: &str, op: CompareOp, value: String, fold: bool) -> Option<String> {
        let case_insensitive = fold || column == "user_name";
        let lhs = if fold {
            format!("LOWER({column})")
        } else {
            column.to_owned()
        };
        let (sql_op, value) = match op {
            CompareOp::Eq => ("=", value),
            CompareOp::Sw if case_insensitive => {
                ("LIKE", format!("{}%", Self::like_escape(&value)))
            }
            CompareOp::Ew if case_insensitive => {
                ("LIKE", format!("%{}", Self::like_escape(&value)))
            }
            CompareOp::Co if case_insensitive => {
                ("LIKE", format!("%{}%", Self::like_escape(&value)))
            }
            // ne, gt, ge, lt, le: ordering and NULLs differ between the databases; in memory.
            _ => return None,
        };
        let p = self.param(Bind::Text(value));
        if sql_op == "LIKE" {
            Some(format!("{lhs} LIKE {p} ESCAPE '\\'"))
        } else {
            Some(format!("{lhs} {sql_op} {p}"))
        }
    }
}

/// The ORDER BY expression for a sort attribute with a NOT NULL column, in code-point order on
/// both databases (what the in-memory sort uses too).
fn sort_column(db: DbKind, kind: ResourceKind, path: &AttrPath) -> Option<String> {
    let expression = match column_for(kind, path)? {
        Column::Lowered(c) => c.to_owned(),
        Column::Folded(c) => format!("LOWER({c})"),
        Column::Millis(c) => return Some(c.to_owned()),
        Column::Exact(c) if c == "id" || c == "user_id" => c.to_owned(),
        Column::Exact(_) | Column::Flag(_) => return None,
    };
    Some(match db {
        DbKind::Postgres => format!("{expression} COLLATE \"C\""),
        DbKind::Sqlite => expression,
    })
}

/// The conjuncts of an `and` chain.
fn conjuncts(filter: &Filter) -> Vec<&Filter> {
    match filter {
        Filter::And(a, b) => {
            let mut all = conjuncts(a);
            all.extend(conjuncts(b));
            all
        }
        other => vec![other],
    }
}

impl SqlDirectory {
    async fn query_kind(
        &self,
        team: Uuid,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<Page, DirectoryError> {
        let db = self.state.db.kind();
        let (select, id_column) = match kind {
            ResourceKind::User => (USER_SELECT, "user_id"),
            ResourceKind::Group => (GROUP_SELECT, "id"),
        };
        let mut sql = SqlFilter {
            binds: vec![Bind::Text(team.to_string())],
        };
        // The whole filter in SQL when every part has a column; else the conjuncts that do,
        // with the whole filter checked again in memory.
        let (clause, in_memory) = match &query.filter {
            None => (None, false),
            Some(filter) => match sql.translate(kind, filter) {
                Some(clause) => (Some(clause), false),
                None => {
                    let parts: Vec<String> = conjuncts(filter)
                        .into_iter()
                        .filter_map(|c| sql.translate(kind, c))
                        .collect();
                    ((!parts.is_empty()).then(|| parts.join(" AND ")), true)
                }
            },
        };
        let mut condition = "team_id = $1".to_owned();
        if let Some(clause) = &clause {
            condition.push_str(" AND ");
            condition.push_str(clause);
        }
        let order = match &query.sort {
            None => Some(format!("created_at, {id_column}")),
            Some((path, order)) => sort_column(db, kind, path).map(|c| {
                let direction = match order {
                    SortOrder::Ascending => "ASC",
                    SortOrder::Descending => "DESC",
                };
                format!("{c} {direction}, {id_column} {direction}")
            }),
        };
        let skip = query.start_index.saturating_sub(1);
        if let (false, Some(order)) = (in_memory, &order) {
            let count_sql = format!(
                "SELECT COUNT(*) AS n FROM {} WHERE {condition}",
                table_of(kind)
            );
            let total: i64 = bind_all(sqlx::query(&count_sql), &sql.binds)
                .fetch_one(self.state.db.pool())
                .await
                .map_err(sql_error)?
                .try_get("n")
                .map_err(sql_error)?;
            let mut resources = Vec::new();
            if query.count > 0 && skip < u64::try_from(total).unwrap_or(0) {
                let page_sql = format!(
                    "{select} WHERE {condition} ORDER BY {order} LIMIT {} OFFSET {}",
                    query.count, skip
                );
                let rows = bind_all(sqlx::query(&page_sql), &sql.binds)
                    .fetch_all(self.state.db.pool())
                    .await
                    .map_err(sql_error)?;
                resources = rows
                    .iter()
                    .map(|r| stored_from_row(r, id_column))
                    .collect::<Result<Vec<_>, _>>()?;
            }
            if kind == ResourceKind::Group {
                self.attach_members(&mut resources).await?;
            }
            return Ok(Page {
                total_results: u64::try_from(total).map_err(internal)?,
                resources,
            });
        }
        // In memory: the rows the SQL part leaves, rendered, filtered, sorted, paged.
        let all_sql = format!("{select} WHERE {condition} ORDER BY created_at, {id_column}");
        let rows = bind_all(sqlx::query(&all_sql), &sql.binds)
            .fetch_all(self.state.db.pool())
            .await
            .map_err(sql_error)?;
        let mut stored = rows
            .iter()
            .map(|r| stored_from_row(r, id_column))
            .collect::<Result<Vec<_>, _>>()?;
        if kind == ResourceKind::Group {
            self.attach_members(&mut stored).await?;
        }
        let base = &self.state.scim.public_url;
        let schema = kind.schema();
        let mut rendered: Vec<(Value, Stored)> = stored
            .into_iter()
            .map(|s| (e2ei_scim::render(kind, &s, base), s))
            .filter(|(r, _)| query.filter.as_ref().is_none_or(|f| f.matches(r, schema)))
            .collect();
        if let Some((path, order)) = &query.sort {
            let (mut values, stored): (Vec<Value>, Vec<Stored>) = rendered.into_iter().unzip();
            e2ei_scim::sort_resources(&mut values, path, *order, schema);
            let mut by_id: std::collections::HashMap<String, Stored> =
                stored.into_iter().map(|s| (s.id.clone(), s)).collect();
            rendered = values
                .into_iter()
                .filter_map(|v| {
                    let id = v["id"].as_str()?.to_owned();
                    by_id.remove(&id).map(|s| (v, s))
                })
                .collect();
        }
        let total = rendered.len() as u64;
        let resources = rendered
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(query.count).unwrap_or(usize::MAX))
            .map(|(_, s)| s)
            .collect();
        Ok(Page {
            total_results: total,
            resources,
        })
    }
}

fn table_of(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for bind in binds {
        query = match bind {
            Bind::Text(t) => query.bind(t.as_str()),
            Bind::Int(i) => query.bind(*i),
        };
    }
    query
}

impl Directory for SqlDirectory {
    async fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        document: Value,
    ) -> Result<Stored, DirectoryError> {
        let team = parse_tenant(tenant)?;
        match kind {
            ResourceKind::User => self.create_user(team, document).await,
            ResourceKind::Group => self.write_group(team, None, document).await,
        }
    }

    async fn get(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Stored, DirectoryError> {
        let team = parse_tenant(tenant)?;
        let id = parse_id(id)?;
        match kind {
            ResourceKind::User => self.get_user(team, id).await,
            ResourceKind::Group => self.get_group(team, id).await,
        }
    }

    async fn query(
        &self,
        tenant: &str,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<Page, DirectoryError> {
        let team = parse_tenant(tenant)?;
        self.query_kind(team, kind, query).await
    }

    async fn replace(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: u64,
        document: Value,
    ) -> Result<Stored, DirectoryError> {
        let team = parse_tenant(tenant)?;
        let id = parse_id(id)?;
        match kind {
            ResourceKind::User => {
                self.replace_user(team, id, expected_version, document)
                    .await
            }
            ResourceKind::Group => {
                self.write_group(team, Some((id, expected_version)), document)
                    .await
            }
        }
    }

    async fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<(), DirectoryError> {
        let team = parse_tenant(tenant)?;
        let id = parse_id(id)?;
        match kind {
            ResourceKind::User => self.delete_user(team, id, expected_version).await,
            ResourceKind::Group => self.delete_group(team, id, expected_version).await,
        }
    }
}
