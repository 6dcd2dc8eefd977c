//! The client's one HTTP stack: reqwest over rustls (aws-lc-rs, the workspace's one crypto
//! backend). Redirects are never followed implicitly — an authenticated backend or ACME request
//! must not wander off, and the OIDC login follows its redirects itself (`oidc`) — and bodies
//! are read with a size cap, so a hostile server cannot exhaust memory.
//!
//! [`HttpResponse`] is what the protocol checks (`acme`, `backend`, `oidc`) read: status,
//! headers and body, detached from reqwest, so the checks are pure and testable with crafted
//! responses.

use std::time::Duration;

/// Largest response body read (certificate chains and JWKS are a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Default time limit of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client reaches its servers.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    extra_roots: Vec<reqwest::Certificate>,
    timeout: Duration,
    reuse_connections: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            extra_roots: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            reuse_connections: true,
        }
    }
}

/// Why an [`HttpConfig`] cannot be built (the caller's input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// The PEM text holds no usable certificate.
    #[error("no TLS trust anchor in the given PEM: {0}")]
    BadRootCertificate(String),
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl HttpConfig {
    /// The platform's trust store, no redirects, [`DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the certificates of `pem` (one or more `CERTIFICATE` blocks) as TLS trust
    /// anchors: a private CA in front of test or in-house servers. These anchors are for TLS
    /// only; the E2EI certificate chain is validated against the authority's `/roots.pem`.
    pub fn with_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, HttpConfigError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| HttpConfigError::BadRootCertificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(HttpConfigError::BadRootCertificate(
                "no CERTIFICATE block".into(),
            ));
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// Sets the time limit of one request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens a new connection for every request instead of keeping idle ones: behind a
    /// connection-level load balancer, consecutive requests then reach different replicas.
    pub fn without_connection_reuse(mut self) -> Self {
        self.reuse_connections = false;
        self
    }

    /// The reqwest client.
    pub fn build(&self) -> Result<reqwest::Client, HttpConfigError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .user_agent(concat!("e2ei-client/", env!("CARGO_PKG_VERSION")));
        for cert in &self.extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        if !self.reuse_connections {
            builder = builder.pool_max_idle_per_host(0);
        }
        builder.build().map_err(HttpConfigError::Build)
    }
}

/// A request that did not produce a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Connection, TLS, timeout or protocol failure.
    #[error("{method} {url}: {source}")]
    Request {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The body is larger than [`MAX_BODY`].
    #[error("{method} {url}: response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
}

/// A response as the protocol checks read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The request URL.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order; values that are not visible ASCII are
    /// dropped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response (for tests and for servers driven in-process).
    pub fn new(
        url: impl Into<String>,
        status: u16,
        headers: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            url: url.into(),
            status,
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.into().to_ascii_lowercase(), v.into()))
                .collect(),
            body: body.into(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower case, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (lossy), shortened for error messages.
    pub fn body_excerpt(&self) -> String {
        const MAX: usize = 300;
        let text = String::from_utf8_lossy(&self.body);
        match text.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        }
    }

    /// Sends `request` and reads the response with the body cap.
    pub(crate) async fn send(
        method: &'static str,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Self, TransportError> {
        let transport = |source| TransportError::Request {
            method,
            url: url.to_owned(),
            source,
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(TransportError::BodyTooLarge {
                    method,
                    url: url.to_owned(),
                    limit: MAX_BODY,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            url: url.to_owned(),
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive_and_media_type_drops_parameters() {
        let r = HttpResponse::new(
            "https://x/",
            200,
            [
                ("Content-Type", "Application/JSON; charset=utf-8"),
                ("Link", "<a>;rel=\"up\""),
                ("link", "<b>;rel=\"index\""),
            ],
            "{}",
        );
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
        assert_eq!(r.header("LINK"), Some("<a>;rel=\"up\""));
        assert_eq!(r.header_values("link").count(), 2);
        assert!(r.is_success());
    }

    #[test]
    fn rejects_pem_without_certificates() {
        assert!(matches!(
            HttpConfig::new().with_root_certificates_pem(b"not pem"),
            Err(HttpConfigError::BadRootCertificate(_))
        ));
    }
}
