//! `http-01` (RFC 8555 §8.3): `GET http://{name}:{http01_port}/.well-known/acme-challenge/{token}`
//! must answer 200 with the key authorization as its body (trailing whitespace ignored).
//!
//! Redirects are followed up to [`MAX_REDIRECTS`] times, only to `http` on the `http-01` port or
//! `https` on the `tls-alpn-01` port (Let's Encrypt's rule of 80 and 443, with the configured
//! ports); an `https` target's certificate is not checked, as RFC 8555 §8.3 allows. At most
//! [`MAX_BODY`] bytes are read. No proxy from the environment is used.

use std::net::SocketAddr;

use e2ei_acme::challenge::{HTTP_01_PATH, http01_body_matches};
use e2ei_acme::{Problem, ProblemType};
use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

use super::{Validator, ValidatorConfig, describe, fqdn};

/// Most redirects followed.
pub(super) const MAX_REDIRECTS: usize = 5;

/// Largest body read; a key authorization is under 100 bytes.
pub(super) const MAX_BODY: usize = 1024;

/// reqwest resolves every host (the first and redirect targets) through the validator's
/// resolver, never the system's `getaddrinfo`.
struct ThroughResolver(TokioResolver);

impl Resolve for ThroughResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.0.clone();
        let host = fqdn(name.as_str());
        Box::pin(async move {
            let lookup = resolver.lookup_ip(host).await?;
            let addrs: Vec<SocketAddr> = lookup.iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client of `http-01`, built once per validator.
pub(super) fn client(
    resolver: TokioResolver,
    config: &ValidatorConfig,
) -> Result<reqwest::Client, String> {
    let (http_port, https_port) = (config.http01_port, config.tlsalpn01_port);
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let url = attempt.url();
        let allowed = match url.scheme() {
            "http" => url.port_or_known_default() == Some(http_port),
            "https" => url.port_or_known_default() == Some(https_port),
            _ => false,
        };
        if allowed {
            attempt.follow()
        } else {
            let target = url.to_string();
            attempt.error(format!(
                "redirect to {target} refused: only http on port {http_port} or https on port {https_port}"
            ))
        }
    });
    reqwest::Client::builder()
        .dns_resolver(ThroughResolver(resolver))
        .redirect(policy)
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .user_agent(concat!(
            "e2ei-acme-server/",
            env!("CARGO_PKG_VERSION"),
            " (http-01)"
        ))
        .build()
        .map_err(|e| format!("http-01 client: {e}"))
}

pub(super) async fn validate(
    validator: &Validator,
    name: &str,
    key_authorization: &str,
) -> Result<(), Problem> {
    let token = key_authorization
        .split_once('.')
        .map(|(t, _)| t)
        .unwrap_or_default();
    // A lookup of our own first, so a name that does not resolve is a `dns` problem.
    validator.addresses(name).await?;
    let url = format!(
        "http://{name}:{}{HTTP_01_PATH}{token}",
        validator.http01_port
    );
    let mut response = validator.http.get(&url).send().await.map_err(|e| {
        Problem::new(
            ProblemType::Connection,
            format!("fetching {url}: {}", describe(&e)),
        )
    })?;
    let status = response.status();
    let fetched = response.url().to_string();
    if status != reqwest::StatusCode::OK {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            format!("{fetched} answered {status}, not 200 with the key authorization"),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        Problem::new(
            ProblemType::Connection,
            format!("reading {fetched}: {}", describe(&e)),
        )
    })? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return Err(Problem::new(
                ProblemType::IncorrectResponse,
                format!(
                    "{fetched} answered more than {MAX_BODY} bytes; expected the key authorization"
                ),
            ));
        }
    }
    if !http01_body_matches(&body, key_authorization) {
        let shown: String = String::from_utf8_lossy(&body).chars().take(120).collect();
        return Err(Problem::new(
            ProblemType::IncorrectResponse,
            format!(
                "{fetched} answered {shown:?}, which is not the key authorization {key_authorization:?}"
            ),
        ));
    }
    Ok(())
}
