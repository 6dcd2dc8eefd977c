//! Notifications.
//!
//! - `GET /notifications?client={cid}[&since={id}][&size={n}]` — the client's queue after
//!   `since`, oldest first, `{"notifications": [{"id", "payload"}], "has_more"}`. When `since`
//!   is no longer in the queue the answer is 404 with the whole retained queue: the client
//!   missed notifications and must resynchronise.
//! - `GET /await?client={cid}` (websocket; the access token in `Authorization` or, for
//!   browsers, `access_token=`) — every new notification of that client as a text message.

use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::clients::find_client;
use super::{Authenticated, token_error};
use crate::app::SharedState;
use crate::error::ApiError;
use crate::notifications::{self, MAX_PAGE};
use crate::zauth::TokenType;

/// How often a websocket also looks in storage (for notifications stored by other replicas).
const POLL: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    client: String,
    since: Option<String>,
    size: Option<i64>,
}

pub(super) async fn list(
    State(state): State<SharedState>,
    auth: Authenticated,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let client = find_client(&state, &auth, &query.client).await?;
    let size = query.size.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(ApiError::bad_request(
            "bad-request",
            format!("`size` is 1 to {MAX_PAGE}"),
        ));
    }
    let since = query
        .since
        .map(|s| {
            Uuid::parse_str(&s)
                .map_err(|_| ApiError::bad_request("bad-request", "`since` is a notification id"))
        })
        .transpose()?;
    let page = notifications::page(&state, auth.user, &client.id, since, size).await?;
    let body = json!({
        "notifications": page.notifications.iter().map(|n| n.to_json()).collect::<Vec<_>>(),
        "has_more": page.has_more,
    });
    let status = if page.gap {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AwaitQuery {
    client: String,
    access_token: Option<String>,
}

pub(super) async fn await_notifications(
    State(state): State<SharedState>,
    Query(query): Query<AwaitQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or(query.access_token)
        .ok_or_else(|| ApiError::unauthorized("missing-auth", "an access token is required"))?;
    let token = state
        .zauth
        .verify(token.trim(), TokenType::Access, state.now())
        .map_err(token_error)?;
    let auth = Authenticated {
        user: token.user,
        connection: token.nonce,
        client: token.client,
    };
    let client = find_client(&state, &auth, &query.client).await?;
    let last = notifications::latest_id(&state, auth.user, &client.id).await?;
    Ok(upgrade.on_upgrade(move |socket| stream(state, auth.user, client.id, last, socket)))
}

async fn stream(
    state: SharedState,
    user: Uuid,
    client: String,
    mut last: Option<Uuid>,
    mut socket: WebSocket,
) {
    let mut fresh = state.hub.subscribe();
    let mut poll = tokio::time::interval(POLL);
    loop {
        let batch = tokio::select! {
            received = fresh.recv() => match received {
                Ok(n) if n.user == user && n.client == client => vec![n],
                Ok(_) => continue,
                // Fell behind the channel: storage has everything.
                Err(RecvError::Lagged(_)) => stored_after(&state, user, &client, last).await,
                Err(RecvError::Closed) => return,
            },
            _ = poll.tick() => stored_after(&state, user, &client, last).await,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        for n in batch {
            if last.is_some_and(|l| n.id <= l) {
                continue;
            }
            last = Some(n.id);
            if socket
                .send(Message::Text(n.to_json().to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

async fn stored_after(
    state: &SharedState,
    user: Uuid,
    client: &str,
    last: Option<Uuid>,
) -> Vec<notifications::Notification> {
    notifications::after_id(state, user, client, last, 1000)
        .await
        .unwrap_or_default()
}
