//! The real test IdP (`tests/idp`: panva's oidc-provider on Node), one per test binary, and a
//! scripted browser for interactive logins.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use url::Url;

/// The redirect URI of non-interactive logins: the client reads the redirect and never
/// follows it, so nothing listens there.
pub const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

/// The loopback redirect URI registered for interactive logins; oidc-provider lets native
/// clients use it on any port (RFC 8252 §7.3).
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The IdP process.
pub struct TestIdp {
    child: Child,
    // Held open: the IdP exits when it closes, so the shared IdP dies with the test binary.
    _stdin: Option<std::process::ChildStdin>,
    /// Its issuer URL.
    pub issuer: String,
}

impl TestIdp {
    /// The Node process id (for reading its CPU time under `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The IdP shared by the tests of this binary; `None` (skipped) without Node or its packages.
pub fn shared() -> Option<&'static TestIdp> {
    static SHARED: OnceLock<Option<TestIdp>> = OnceLock::new();
    SHARED.get_or_init(start).as_ref()
}

fn start() -> Option<TestIdp> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../idp");
    if !dir.join("node_modules/oidc-provider").exists() {
        super::missing("tests/idp/node_modules (run `npm ci` in tests/idp)");
        return None;
    }
    let mut child = match Command::new("node")
        .args(["idp.mjs", "--port", "0", "--exit-on-stdin-close"])
        .args(["--redirect-uri", REDIRECT_URI])
        .args(["--redirect-uri", LOOPBACK_REDIRECT_URI])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            super::missing(&format!("node ({e})"));
            return None;
        }
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("the IdP's readiness line");
    Some(TestIdp {
        _stdin: child.stdin.take(),
        child,
        issuer: ready["issuer"].as_str().unwrap().to_owned(),
    })
}

/// What a person's browser does with the authorization URL: logs in as `login` (the test IdP
/// takes the `login_hint` where a real one shows a form), follows the IdP's redirects with its
/// cookies, and finally opens the redirect URI on the loopback listener.
pub async fn browse(mut start: Url, login: String) {
    start.query_pairs_mut().append_pair("login_hint", &login);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let idp_origin = start.origin();
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    let mut next = start;
    for _ in 0..20 {
        let cookies = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = http.get(next.clone());
        if next.origin() == idp_origin && !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let reply = request.send().await.unwrap();
        if next.origin() != idp_origin {
            assert_eq!(reply.status(), 200, "the loopback listener's answer");
            return;
        }
        for set in reply.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if let Some((k, v)) = pair.split_once('=') {
                jar.insert(k.trim().to_owned(), v.to_owned());
            }
        }
        let location = reply
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("{next}: HTTP {} without a redirect", reply.status()))
            .to_str()
            .unwrap()
            .to_owned();
        next = next.join(&location).unwrap();
    }
    panic!("the browser gave up after 20 redirects");
}
