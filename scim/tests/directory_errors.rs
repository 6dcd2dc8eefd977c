//! How the service reacts to what the Directory reports: a write racing another is retried
//! without If-Match and is a 412 with it; internal failures are 500s that say nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use e2ei_scim::{
    Directory, DirectoryError, MemoryDirectory, Page, Query, ResourceKind, ScimRequest,
    ScimService, ServiceConfig, Stored,
};
use serde_json::{Value, json};

/// The memory directory, with the next `races` replaces failing as if another writer won and
/// every query failing internally when `broken`.
struct Flaky {
    inner: MemoryDirectory,
    races: AtomicU32,
    broken: bool,
}

impl Directory for Flaky {
    fn create(
        &self,
        t: &str,
        k: ResourceKind,
        d: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        self.inner.create(t, k, d)
    }
    fn get(
        &self,
        t: &str,
        k: ResourceKind,
        id: &str,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        self.inner.get(t, k, id)
    }
    fn query(
        &self,
        t: &str,
        k: ResourceKind,
        q: &Query,
    ) -> impl Future<Output = Result<Page, DirectoryError>> + Send {
        let broken = self.broken;
        let fut = self.inner.query(t, k, q);
        async move {
            if broken {
                return Err(DirectoryError::Internal(
                    "connection to db.internal:5432 refused".into(),
                ));
            }
            fut.await
        }
    }
    fn replace(
        &self,
        t: &str,
        k: ResourceKind,
        id: &str,
        v: u64,
        d: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send {
        let race = self
            .races
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        // The memory directory writes when called, so a lost race must not call it.
        let fut = (!race).then(|| self.inner.replace(t, k, id, v, d));
        async move {
            match fut {
                Some(f) => f.await,
                None => Err(DirectoryError::VersionMismatch),
            }
        }
    }
    fn delete(
        &self,
        t: &str,
        k: ResourceKind,
        id: &str,
        v: Option<u64>,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send {
        self.inner.delete(t, k, id, v)
    }
}

fn service(races: u32, broken: bool) -> ScimService<Flaky> {
    let dir = Flaky {
        inner: MemoryDirectory::new(BASE),
        races: AtomicU32::new(0),
        broken,
    };
    let svc = ScimService::new(dir, BASE.into(), ServiceConfig::default());
    let body = json!({"schemas": [USER], "userName": "a"}).to_string();
    let r = block_on(svc.handle(TENANT, req("POST", "/Users", body.as_bytes(), None)));
    assert_eq!(r.status, 201);
    svc.directory().races.store(races, Ordering::SeqCst);
    svc
}

fn req<'a>(
    method: &'a str,
    path: &'a str,
    body: &'a [u8],
    if_match: Option<&'a str>,
) -> ScimRequest<'a> {
    ScimRequest {
        method,
        path,
        query: None,
        if_match,
        if_none_match: None,
        content_type: Some("application/scim+json"),
        body,
    }
}

const ID: &str = "/Users/00000000-0000-4000-8000-000000000001";

fn patch_body() -> String {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "T"}]})
        .to_string()
}

#[test]
fn patch_without_if_match_is_retried_after_a_lost_race() {
    let svc = service(2, false);
    let body = patch_body();
    let r = block_on(svc.handle(TENANT, req("PATCH", ID, body.as_bytes(), None)));
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["title"], "T");
}

#[test]
fn patch_that_keeps_losing_races_gives_up_with_409() {
    let svc = service(100, false);
    let body = patch_body();
    let r = block_on(svc.handle(TENANT, req("PATCH", ID, body.as_bytes(), None)));
    assert_error(&r, 409, None);
}

#[test]
fn patch_with_if_match_that_loses_a_race_is_412() {
    let svc = service(1, false);
    let body = patch_body();
    let r = block_on(svc.handle(TENANT, req("PATCH", ID, body.as_bytes(), Some("W/\"1\""))));
    assert_error(&r, 412, None);
}

#[test]
fn internal_directory_errors_are_500_without_details() {
    let svc = service(0, true);
    let r = block_on(svc.handle(TENANT, req("GET", "/Users", b"", None)));
    assert_error(&r, 500, None);
    let text = String::from_utf8(r.body.unwrap()).unwrap();
    assert!(!text.contains("db.internal"), "{text}");
}
