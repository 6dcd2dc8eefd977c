//! Shared test plumbing: a minimal executor and a service over the in-memory directory.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use e2ei_scim::{MemoryDirectory, ScimRequest, ScimResponse, ScimService, ServiceConfig};
use serde_json::{Value, json};

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Run a future that never waits on I/O (the memory directory's futures are ready at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

pub const BASE: &str = "https://scim.example/scim/v2";
pub const TENANT: &str = "team-1";
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct Harness {
    pub svc: ScimService<MemoryDirectory>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(ServiceConfig {
            max_results: 50,
            ..ServiceConfig::default()
        })
    }

    pub fn with_config(config: ServiceConfig) -> Self {
        Self {
            svc: ScimService::new(MemoryDirectory::new(BASE), BASE.to_owned(), config),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> ScimResponse {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.send_raw(ScimRequest {
            method,
            path,
            query,
            if_match: None,
            if_none_match: None,
            content_type: body.map(|_| "application/scim+json"),
            body: &bytes,
        })
    }

    pub fn send_raw(&self, req: ScimRequest<'_>) -> ScimResponse {
        let resp = block_on(self.svc.handle(TENANT, req));
        if let Some(ct) = resp.header("Content-Type") {
            assert_eq!(ct, "application/scim+json");
        }
        resp
    }

    pub fn get(&self, path: &str, query: Option<&str>) -> ScimResponse {
        self.send("GET", path, query, None)
    }

    /// Create a resource, asserting 201, and return the rendered body.
    pub fn create(&self, endpoint: &str, body: Value) -> Value {
        let r = self.send("POST", endpoint, None, Some(&body));
        assert_eq!(r.status, 201, "{}", r.json_body());
        r.json_body()
    }

    pub fn user(&self, user_name: &str, extra: Value) -> Value {
        let mut body = json!({"schemas": [USER], "userName": user_name});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        if body.get(ENTERPRISE).is_some() {
            body["schemas"] = json!([USER, ENTERPRISE]);
        }
        self.create("/Users", body)
    }

    pub fn patch(&self, path: &str, ops: Value) -> ScimResponse {
        self.send(
            "PATCH",
            path,
            None,
            Some(&json!({"schemas": [PATCH_OP], "Operations": ops})),
        )
    }
}

/// Assert a SCIM error response: status and scimType.
pub fn assert_error(r: &ScimResponse, status: u16, scim_type: Option<&str>) {
    let body = r.json_body();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], json!(status.to_string()));
    assert_eq!(
        body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{body}"
    );
}
