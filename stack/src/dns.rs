//! DEVELOPMENT-ONLY DNS responder (UDP) and its control endpoint, after pebble-challtestsrv:
//! every name has `A 127.0.0.1` and `AAAA ::1` (so `http-01` and `tls-alpn-01` validation of
//! any name reaches the developer's own machine), and TXT records are what a script set through
//! HTTP (`dns-01`). The standard provisioner's `dns_resolver` points here.
//!
//! Control endpoint (plain HTTP on loopback, JSON bodies as challtestsrv takes them):
//!
//! - `POST /set-txt` `{"host": "_acme-challenge.www.wire.e2ei.test.", "value": "…"}` — adds a
//!   value (several values per name are kept, as two concurrent `dns-01` challenges need);
//! - `POST /clear-txt` `{"host": "…"}` — removes the name's values.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use serde::Deserialize;
use tokio::net::UdpSocket;

/// TXT values by lower-case name without the trailing dot.
#[derive(Default, Clone)]
pub struct Zone(Arc<Mutex<HashMap<String, Vec<String>>>>);

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// Adds a TXT value to `name`.
    pub fn add_txt(&self, name: &str, value: &str) {
        if let Ok(mut zone) = self.0.lock() {
            let values = zone.entry(key(name)).or_default();
            if !values.iter().any(|v| v == value) {
                values.push(value.to_owned());
            }
        }
    }

    /// Removes the TXT values of `name`.
    pub fn clear_txt(&self, name: &str) {
        if let Ok(mut zone) = self.0.lock() {
            zone.remove(&key(name));
        }
    }

    fn txt(&self, name: &str) -> Vec<String> {
        self.0
            .lock()
            .ok()
            .and_then(|z| z.get(&key(name)).cloned())
            .unwrap_or_default()
    }
}

/// Answers queries on `socket` until the task is dropped.
pub async fn serve_udp(socket: UdpSocket, zone: Zone) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        // Garbage is dropped silently, as a resolver would time out on it anyway.
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if let Ok(bytes) = answer(&query, &zone).to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn answer(query: &Message, zone: &Zone) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true)
        .set_response_code(ResponseCode::NoError);
    for q in query.queries() {
        reply.add_query(q.clone());
        let name = q.name().clone();
        match q.query_type() {
            RecordType::A => {
                reply.add_answer(Record::from_rdata(
                    name,
                    0,
                    RData::A(A(Ipv4Addr::LOCALHOST)),
                ));
            }
            RecordType::AAAA => {
                reply.add_answer(Record::from_rdata(
                    name,
                    0,
                    RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                ));
            }
            RecordType::TXT => {
                for value in zone.txt(&name.to_ascii()) {
                    reply.add_answer(Record::from_rdata(
                        name.clone(),
                        0,
                        RData::TXT(TXT::new(vec![value])),
                    ));
                }
            }
            _ => {}
        }
    }
    reply
}

#[derive(Deserialize)]
struct SetTxt {
    host: String,
    value: String,
}

#[derive(Deserialize)]
struct ClearTxt {
    host: String,
}

/// The control endpoint's routes.
pub fn control_router(zone: Zone) -> Router {
    Router::new()
        .route(
            "/set-txt",
            post(
                |State(zone): State<Zone>, Json(body): Json<SetTxt>| async move {
                    tracing::info!(host = %body.host, "dev DNS: TXT set");
                    zone.add_txt(&body.host, &body.value);
                    StatusCode::OK
                },
            ),
        )
        .route(
            "/clear-txt",
            post(
                |State(zone): State<Zone>, Json(body): Json<ClearTxt>| async move {
                    zone.clear_txt(&body.host);
                    StatusCode::OK
                },
            ),
        )
        .with_state(zone)
}

/// Binds the responder's UDP socket.
pub async fn bind(addr: SocketAddr) -> Result<UdpSocket, String> {
    UdpSocket::bind(addr)
        .await
        .map_err(|e| format!("DNS responder on udp/{addr}: {e}"))
}
