//! A backend in-process over SQLite or PostgreSQL, with a settable clock and request helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod http;
pub mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use e2ei_backend::password::PasswordCost;
use e2ei_backend::zauth::ZauthKeys;
use e2ei_backend::{AppState, Settings};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::clock::Clock;
use e2ei_core::id::Domain;
use e2ei_dpop::BackendKeys;
use e2ei_signer::Signer;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::ServiceExt;

pub const DOMAIN: &str = "wire.example.com";
pub const PASSWORD: &str = "correct horse battery";

/// A clock tests move by hand.
#[derive(Debug)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: Arc<AppState>,
    pub clock: Arc<TestClock>,
    _dir: Option<tempfile::TempDir>,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn label(&self) -> &str {
        self.body["label"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `name=value` of the `zuid` cookie this reply sets.
    pub fn cookie(&self) -> String {
        let set = self.header("set-cookie").expect("a Set-Cookie header");
        set.split(';').next().unwrap().to_owned()
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const POSTGRES_URL_ENV: &str = "E2EI_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl TestApp {
    /// A fresh backend on `backend`, or `None` (skipped loudly) when PostgreSQL is not reachable
    /// outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        Self::build(backend, None, None).await
    }

    /// A fresh backend on `backend` whose deprovisioning revokes through `authority`.
    pub async fn with_authority(
        backend: Backend,
        authority: e2ei_backend::revocations::AuthorityClient,
    ) -> Option<Self> {
        Self::build(backend, None, Some(authority)).await
    }

    /// A fresh backend on `backend` that runs `proxy` at `/proxyCrl`.
    pub async fn with_crl_proxy(
        backend: Backend,
        proxy: e2ei_backend::crl_proxy::CrlProxy,
    ) -> Option<Self> {
        Self::build(backend, Some(proxy), None).await
    }

    async fn build(
        backend: Backend,
        crl_proxy: Option<e2ei_backend::crl_proxy::CrlProxy>,
        authority: Option<e2ei_backend::revocations::AuthorityClient>,
    ) -> Option<Self> {
        // Internal errors are logged, not answered: show them in failing tests' output.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("backend.db").display()
                );
                (url, Some(dir))
            }
            Backend::Postgres => (postgres_schema().await?, None),
        };
        let db = e2ei_backend::db::connect(&url).await.unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
        let mut settings = Settings::new(Domain::new(DOMAIN).unwrap());
        // Tests hash many passwords; production keeps the OWASP cost.
        settings.password_cost = PasswordCost {
            memory_kib: 1024,
            iterations: 1,
        };
        let dpop_keys: BackendKeys = KeyAlgorithm::ALL
            .into_iter()
            .map(|a| Signer::ephemeral(a).unwrap())
            .collect();
        let state = Arc::new(AppState {
            db,
            zauth: ZauthKeys::new(vec![Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap()]).unwrap(),
            dpop_keys,
            settings,
            clock: clock.clone(),
            metrics: Default::default(),
            hub: Default::default(),
            crl_proxy,
            scim: e2ei_backend::scim::ScimSettings::for_domain(DOMAIN),
            revocations: e2ei_backend::revocations::Revocations {
                authority,
                wake: Default::default(),
            },
        });
        Some(Self {
            router: e2ei_backend::api::router(state.clone()),
            state,
            clock,
            _dir: dir,
        })
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON request with optional bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// Registers a user owning a new team; returns (user id, team id).
    pub async fn register_owner(&self, handle: &str) -> (String, String) {
        let reply = self
            .call(
                Method::POST,
                "/register",
                None,
                Some(json!({
                    "name": "Alice Smith",
                    "email": format!("{handle}@example.com"),
                    "password": PASSWORD,
                    "handle": handle,
                    "team": { "name": "Wire" },
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        (
            reply.body["id"].as_str().unwrap().to_owned(),
            reply.body["team"].as_str().unwrap().to_owned(),
        )
    }

    /// Logs in by handle; returns the access token and the reply.
    pub async fn login(&self, handle: &str) -> (String, Reply) {
        let reply = self
            .call(
                Method::POST,
                "/login?persist=true",
                None,
                Some(json!({ "handle": handle, "password": PASSWORD })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        (
            reply.body["access_token"].as_str().unwrap().to_owned(),
            reply,
        )
    }

    /// Registers a permanent client; returns its id.
    pub async fn new_client(&self, token: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/clients",
                Some(token),
                Some(
                    json!({ "type": "permanent", "password": PASSWORD, "cookie": "cookie-label" }),
                ),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        reply.body["id"].as_str().unwrap().to_owned()
    }
}

/// A fresh schema in the test PostgreSQL database, as a connection URL.
pub async fn postgres_schema() -> Option<String> {
    use sqlx::Connection;
    let base = std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {base} is required under CI: {e}"
            );
            eprintln!(
                "SKIPPED: PostgreSQL at {base} is not reachable ({e}); set {POSTGRES_URL_ENV}"
            );
            return None;
        }
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // Schemas of earlier runs (named with their creation time) are dropped after an hour.
    let old: Vec<(String,)> =
        sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'e2ei_t_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for (name,) in old {
        let created: i64 = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if now - created > 3600 {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    }
    let schema = format!("e2ei_t_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Generates one `#[tokio::test]` per database for each scenario `async fn name(app: TestApp)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = super::common::TestApp::new(super::common::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = super::common::TestApp::new(super::common::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
