//! Per-client notification queues (whitepaper "Notifications on client registration"; MLS
//! delivery will build on them): kept 28 days, fetched with paging since an id, and pushed to
//! online clients over a websocket.
//!
//! Ids are UUIDv7 (time-ordered, monotonic within a process), so ordering by id is ordering by
//! time. A process pushes what it stores through an in-process channel; websockets also poll
//! storage, so notifications stored by another replica arrive too.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;

/// How long notifications are kept.
pub const RETENTION: Duration = Duration::from_secs(28 * 24 * 3600);

/// Page size bounds for `GET /notifications`.
pub const MAX_PAGE: i64 = 10_000;

/// A stored notification, as clients see it.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The owner.
    pub user: Uuid,
    /// The client whose queue holds it.
    pub client: String,
    /// Time-ordered id.
    pub id: Uuid,
    /// The events, a JSON array.
    pub payload: Value,
}

impl Notification {
    /// `{"id", "payload"}`.
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "payload": self.payload })
    }
}

/// The in-process fan-out of freshly stored notifications.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Notification>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(1024).0,
        }
    }
}

impl Hub {
    /// A receiver of everything stored from now on by this process.
    pub fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.sender.subscribe()
    }
}

/// Stores one event for each of `clients` of `user` and pushes it to those online here.
pub async fn notify(
    state: &AppState,
    user: Uuid,
    clients: &[String],
    event: Value,
) -> Result<(), ApiError> {
    let payload = Value::Array(vec![event]);
    let text = payload.to_string();
    for client in clients {
        let n = Notification {
            user,
            client: client.clone(),
            id: Uuid::now_v7(),
            payload: payload.clone(),
        };
        sqlx::query(
            "INSERT INTO notifications (user_id, client_id, id, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.to_string())
        .bind(client)
        .bind(n.id.to_string())
        .bind(&text)
        .bind(state.now())
        .execute(state.db.pool())
        .await?;
        // Nobody listening is fine.
        let _ = state.hub.sender.send(n);
    }
    Ok(())
}

/// One page of a client's queue.
pub struct Page {
    /// Oldest first.
    pub notifications: Vec<Notification>,
    /// More after the last one.
    pub has_more: bool,
    /// `since` was given but is no longer (or never was) in the queue: the client missed some.
    pub gap: bool,
}

/// Notifications of `client` after `since` (all retained ones without it), at most `size`.
pub async fn page(
    state: &AppState,
    user: Uuid,
    client: &str,
    since: Option<Uuid>,
    size: i64,
) -> Result<Page, ApiError> {
    let cutoff = state.now() - RETENTION.as_secs() as i64;
    let mut gap = false;
    if let Some(since) = since {
        let found = sqlx::query(
            "SELECT id FROM notifications WHERE user_id = $1 AND client_id = $2 AND id = $3 AND created_at >= $4",
        )
        .bind(user.to_string())
        .bind(client)
        .bind(since.to_string())
        .bind(cutoff)
        .fetch_optional(state.db.pool())
        .await?;
        gap = found.is_none();
    }
    let after = match since {
        Some(since) if !gap => Some(since),
        _ => None,
    };
    let mut notifications = after_id(state, user, client, after, size + 1).await?;
    let has_more = notifications.len() as i64 > size;
    notifications.truncate(size as usize);
    Ok(Page {
        notifications,
        has_more,
        gap,
    })
}

/// Retained notifications of `client` with ids after `after` (all without it), oldest first.
pub async fn after_id(
    state: &AppState,
    user: Uuid,
    client: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Notification>, ApiError> {
    let cutoff = state.now() - RETENTION.as_secs() as i64;
    let rows = sqlx::query(
        "SELECT id, payload FROM notifications WHERE user_id = $1 AND client_id = $2 AND id > $3 \
         AND created_at >= $4 ORDER BY id LIMIT $5",
    )
    .bind(user.to_string())
    .bind(client)
    .bind(after.map(|a| a.to_string()).unwrap_or_default())
    .bind(cutoff)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let payload: String = row.try_get("payload")?;
            Ok(Notification {
                user,
                client: client.to_owned(),
                id: Uuid::parse_str(&id).map_err(ApiError::internal)?,
                payload: serde_json::from_str(&payload).map_err(ApiError::internal)?,
            })
        })
        .collect()
}

/// The newest retained id in `client`'s queue.
pub async fn latest_id(
    state: &AppState,
    user: Uuid,
    client: &str,
) -> Result<Option<Uuid>, ApiError> {
    let row = sqlx::query(
        "SELECT MAX(id) AS id FROM notifications WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user.to_string())
    .bind(client)
    .fetch_one(state.db.pool())
    .await?;
    let id: Option<String> = row.try_get("id")?;
    id.map(|i| Uuid::parse_str(&i).map_err(ApiError::internal))
        .transpose()
}

/// Drops notifications past retention; returns how many.
pub async fn prune(state: &AppState) -> Result<u64, ApiError> {
    let cutoff = state.now() - RETENTION.as_secs() as i64;
    let done = sqlx::query("DELETE FROM notifications WHERE created_at < $1")
        .bind(cutoff)
        .execute(state.db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// Drops notifications past their 28-day retention, at start and then hourly.
pub async fn prune_every_hour(state: std::sync::Arc<crate::app::AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match prune(&state).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "notifications past retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(label = e.label(), "pruning notifications failed"),
        }
    }
}
