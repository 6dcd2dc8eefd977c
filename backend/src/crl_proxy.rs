//! The CRL proxy behind `GET /proxyCrl/{host}` (protocol doc §2.5, §8.3): mobile clients fetch
//! every certificate revocation list through their own backend (`crlProxy` in the `mlsE2EId`
//! feature), which forwards to `https://{host}/crl` of the local authority or a federated one.
//!
//! The backend makes outbound requests on behalf of anyone who can reach it, so the target is
//! never taken from the request as a URL: the host is parsed as a DNS name or IP literal (no
//! userinfo, no path, no percent-encoding), must be on the operator's allowlist, and the URL is
//! assembled from it and the configured path. Redirects are not followed. Only a body that
//! decodes as a CRL is passed on; its signature is the clients' business (§8.3), but its
//! nextUpdate bounds every cache lifetime, ours and the clients'.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use time::OffsetDateTime;

/// The path the authority serves its CRL at (protocol doc §2.5).
pub const DEFAULT_PATH: &str = "/crl";
/// Default time limit of one upstream fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest CRL passed on (a sharded deployment keeps each list far smaller).
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Default longest time a fetched CRL is served from memory (never past its nextUpdate): short,
/// so a CRL the authority regenerates on revocation reaches proxied clients soon.
pub const DEFAULT_CACHE_FOR: Duration = Duration::from_secs(60);

/// Why a host named in a request (or in the configuration) is not a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The path segment is not UTF-8 once percent-decoded.
    #[error("the host is not UTF-8")]
    Encoding,
    /// Nothing, or more than a DNS name and port can take.
    #[error("the host must be 1 to {MAX_HOST_LEN} characters")]
    Length,
    /// A character no DNS name, IP literal or port contains (`@`, `/`, `%`, `_`, …).
    #[error("`{0}` cannot appear in a host")]
    Character(char),
    /// A port that is not a canonical number from 1 to 65535.
    #[error("the port must be a number from 1 to 65535")]
    Port,
    /// A bracketed IPv6 literal that does not parse.
    #[error("not an IPv6 address in brackets")]
    Ipv6,
    /// An empty label (`a..b`, a leading or trailing dot), or one over 63 characters.
    #[error("DNS labels are 1 to 63 characters")]
    Label,
    /// A label starting or ending with `-`.
    #[error("DNS labels neither start nor end with `-`")]
    Hyphen,
    /// A name whose last label is numeric: URL parsers read such names as IPv4 addresses in
    /// other notations (`0x7f.1`, `2130706433`), so they are refused rather than guessed.
    #[error("a numeric name that is not a dotted-quad IPv4 address")]
    Numeric,
}

/// Longest `host:port` accepted: a 253-character name, `:` and five digits.
const MAX_HOST_LEN: usize = 253 + 6;

/// An upstream host as the allowlist and the request name it: a lower-case DNS name, a
/// dotted-quad IPv4 address or a bracketed IPv6 address, and a port unless it is 443.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamHost {
    host: String,
    port: Option<u16>,
}

impl UpstreamHost {
    /// The host without the port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when it is not HTTPS's 443.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for UpstreamHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl FromStr for UpstreamHost {
    type Err = HostError;

    fn from_str(s: &str) -> Result<Self, HostError> {
        if s.is_empty() || s.len() > MAX_HOST_LEN {
            return Err(HostError::Length);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']')))
        {
            return Err(HostError::Character(c));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or(HostError::Ipv6)?;
            let ip = Ipv6Addr::from_str(inside).map_err(|_| HostError::Ipv6)?;
            let port = match after {
                "" => None,
                p => Some(parse_port(p.strip_prefix(':').ok_or(HostError::Ipv6)?)?),
            };
            (format!("[{ip}]"), port)
        } else {
            if let Some(c) = s.chars().find(|c| matches!(c, '[' | ']')) {
                return Err(HostError::Character(c));
            }
            let (name, port) = match s.split_once(':') {
                Some((name, port)) => (name, Some(parse_port(port)?)),
                None => (s, None),
            };
            (parse_name(name)?, port)
        };
        Ok(Self {
            host,
            port: port.filter(|p| *p != 443),
        })
    }
}

/// A canonical decimal port: digits only, no leading zero, 1 to 65535.
fn parse_port(port: &str) -> Result<u16, HostError> {
    if port.is_empty() || port.starts_with('0') || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Port);
    }
    port.parse().map_err(|_| HostError::Port)
}

/// A dotted-quad IPv4 address (std's parser takes exactly four decimal octets without leading
/// zeros) or a DNS name in LDH syntax, lower-cased.
fn parse_name(name: &str) -> Result<String, HostError> {
    if let Ok(ip) = Ipv4Addr::from_str(name) {
        return Ok(ip.to_string());
    }
    if name.is_empty() || name.len() > 253 {
        return Err(HostError::Length);
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(HostError::Label);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::Hyphen);
        }
    }
    // The WHATWG URL parser's "ends in a number" rule.
    let last = labels.last().copied().unwrap_or_default();
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex || last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Numeric);
    }
    Ok(name.to_ascii_lowercase())
}

/// The upstream path: `/`-separated segments of URL-unreserved characters, none `.` or `..`.
pub fn validate_path(path: &str) -> Result<(), String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("`{path}` must start with `/`"))?;
    for segment in rest.split('/') {
        let unreserved = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if segment.is_empty() || segment == "." || segment == ".." || !unreserved {
            return Err(format!(
                "`{path}`: segments are non-empty runs of A-Z a-z 0-9 - . _ ~, not . or .."
            ));
        }
    }
    Ok(())
}

/// What the operator allows.
#[derive(Debug, Clone)]
pub struct ProxyPolicy {
    /// The hosts whose CRLs are proxied: the local authority and the federated ones.
    pub allowed_hosts: Vec<UpstreamHost>,
    /// The CRL's path on every upstream ([`validate_path`]).
    pub path: String,
    /// Shards per upstream: `/proxyCrl/{host}{path}/{n}` is forwarded to `{path}/{n}` for
    /// `1 <= n < shards` (e2ei-crl's shard URLs), and `/proxyCrl/{host}{path}` to `{path}`.
    /// 0 or 1: only `/proxyCrl/{host}`.
    pub shards: u32,
    /// Time limit of one upstream fetch, connection included.
    pub timeout: Duration,
    /// Largest CRL passed on.
    pub max_bytes: usize,
    /// Longest time a CRL is served from memory; never past its nextUpdate or the upstream's
    /// own `Cache-Control`. Zero: every request is forwarded.
    pub cache_for: Duration,
    /// What the backend advertises as `crlProxy`: this endpoint's public URL.
    pub public_url: String,
}

impl ProxyPolicy {
    /// A policy for `allowed_hosts` with the defaults, advertised at `public_url`.
    pub fn new(allowed_hosts: Vec<UpstreamHost>, public_url: String) -> Self {
        Self {
            allowed_hosts,
            path: DEFAULT_PATH.into(),
            shards: 0,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            cache_for: DEFAULT_CACHE_FOR,
            public_url,
        }
    }
}

/// Why a CRL is not answered: the request's fault (4xx) or the upstream's (502).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CrlProxyError {
    /// The backend has no `[crl_proxy]`.
    #[error("this backend does not proxy CRLs")]
    Disabled,
    /// The host segment is not a host.
    #[error("malformed CRL host: {0}")]
    BadHost(#[from] HostError),
    /// The host is well formed but not on the allowlist.
    #[error("`{0}` is not a CRL host this backend proxies")]
    HostNotAllowed(UpstreamHost),
    /// A path after the host that the policy does not forward.
    #[error("only the CRL path and its shard numbers are proxied")]
    PathNotAllowed,
    /// The upstream answered something other than 200.
    #[error("the CRL host answered {0}")]
    UpstreamStatus(u16),
    /// The upstream did not answer in time.
    #[error("the CRL host did not answer in time")]
    UpstreamTimeout,
    /// No connection, TLS failure or a broken response (the cause is logged, not answered).
    #[error("the CRL host could not be reached")]
    UpstreamUnreachable,
    /// The body is larger than the policy allows.
    #[error("the CRL is larger than {0} bytes")]
    TooLarge(usize),
    /// The body is not a DER CRL.
    #[error("the CRL host's answer is not a DER CRL: {0}")]
    NotACrl(String),
}

impl CrlProxyError {
    /// The Wire error label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Disabled => "crl-proxy-disabled",
            Self::BadHost(_) => "crl-proxy-bad-host",
            Self::HostNotAllowed(_) => "crl-proxy-host-not-allowed",
            Self::PathNotAllowed => "crl-proxy-path-not-allowed",
            Self::UpstreamStatus(_) => "crl-proxy-upstream-status",
            Self::UpstreamTimeout => "crl-proxy-upstream-timeout",
            Self::UpstreamUnreachable => "crl-proxy-upstream-unreachable",
            Self::TooLarge(_) => "crl-proxy-upstream-too-large",
            Self::NotACrl(_) => "crl-proxy-upstream-not-a-crl",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::BadHost(_) => StatusCode::BAD_REQUEST,
            Self::HostNotAllowed(_) | Self::PathNotAllowed => StatusCode::FORBIDDEN,
            Self::UpstreamStatus(_)
            | Self::UpstreamTimeout
            | Self::UpstreamUnreachable
            | Self::TooLarge(_)
            | Self::NotACrl(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// A CRL as fetched: the bytes and what bounds how long they may be reused.
#[derive(Debug, Clone)]
pub struct ProxiedCrl {
    /// The DER, as the upstream sent it.
    pub der: Bytes,
    /// The upstream's `ETag`.
    pub etag: Option<HeaderValue>,
    /// The upstream's `Last-Modified`.
    pub last_modified: Option<HeaderValue>,
    /// The CRL's nextUpdate.
    pub next_update: Option<OffsetDateTime>,
    /// When the upstream's `Cache-Control: max-age` runs out; `None` when it set none.
    upstream_expires: Option<OffsetDateTime>,
    /// The upstream said `no-store` or `no-cache`: neither kept nor reused.
    upstream_forbids_reuse: bool,
    fetched_at: OffsetDateTime,
}

impl ProxiedCrl {
    /// Until when the bytes may be reused by anyone: the earliest of nextUpdate and the
    /// upstream's max-age; `None` when not at all.
    fn reusable_until(&self) -> Option<OffsetDateTime> {
        if self.upstream_forbids_reuse {
            return None;
        }
        let next_update = self.next_update?;
        Some(match self.upstream_expires {
            Some(expires) => expires.min(next_update),
            None => next_update,
        })
    }

    /// The `Cache-Control` to answer at `now`: a max-age that ends no later than nextUpdate
    /// (nor the upstream's own max-age), `no-cache` once that time has come, `no-store` when
    /// the upstream said so.
    pub fn cache_control(&self, now: OffsetDateTime) -> String {
        if self.upstream_forbids_reuse {
            return "no-store".into();
        }
        match self.reusable_until() {
            Some(until) if until > now => {
                format!("public, max-age={}", (until - now).whole_seconds())
            }
            _ => "no-cache".into(),
        }
    }

    /// Whether the proxy may still serve these bytes at `now` without asking upstream.
    fn fresh_at(&self, now: OffsetDateTime, cache_for: Duration) -> bool {
        match self.reusable_until() {
            Some(until) => now < until && now < self.fetched_at + cache_for,
            None => false,
        }
    }
}

/// How a served CRL was obtained, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Fetched for this request.
    Fetched,
    /// From memory, or from a fetch another request started while this one waited.
    Cached,
    /// The upstream failed; a copy fetched earlier is still good until its nextUpdate.
    Stale,
}

impl Source {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fetched => "fetched",
            Self::Cached => "cached",
            Self::Stale => "stale",
        }
    }
}

/// The last result for one upstream URL.
#[derive(Default)]
struct Slot {
    last: Option<(Instant, Result<Arc<ProxiedCrl>, CrlProxyError>)>,
}

/// The proxy: the policy, an HTTP client that follows no redirects, and one slot per upstream
/// URL. The slots are bounded by the policy (allowed hosts × shards), not by the requests.
pub struct CrlProxy {
    policy: ProxyPolicy,
    http: reqwest::Client,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl fmt::Debug for CrlProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrlProxy")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl CrlProxy {
    /// A proxy for `policy`, trusting the platform's TLS roots plus the certificates of
    /// `extra_roots_pem` (a private CA in front of an authority).
    pub fn new(policy: ProxyPolicy, extra_roots_pem: Option<&[u8]>) -> Result<Self, String> {
        validate_path(&policy.path)?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Upstreams are named by the operator and reached directly: no environment proxy
            // decides where a CRL request goes.
            .no_proxy()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!(
                "e2ei-backend/",
                env!("CARGO_PKG_VERSION"),
                " (crl-proxy)"
            ));
        if let Some(pem) = extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("CRL proxy trust anchors: {e}"))?;
            if roots.is_empty() {
                return Err("CRL proxy trust anchors: no CERTIFICATE block".into());
            }
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder
            .build()
            .map_err(|e| format!("CRL proxy HTTP client: {e}"))?;
        Ok(Self {
            policy,
            http,
            slots: Mutex::default(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &ProxyPolicy {
        &self.policy
    }

    /// The upstream URL for `/proxyCrl/{host}` (`suffix` `None`) or `/proxyCrl/{host}/{suffix}`,
    /// or why there is none. Pure: nothing is sent.
    pub fn upstream_url(
        &self,
        host: &str,
        suffix: Option<&str>,
    ) -> Result<url::Url, CrlProxyError> {
        let host: UpstreamHost = host.parse()?;
        if !self.policy.allowed_hosts.contains(&host) {
            return Err(CrlProxyError::HostNotAllowed(host));
        }
        let path = match suffix {
            None => self.policy.path.clone(),
            Some(suffix) => self.shard_path(suffix)?,
        };
        let url = url::Url::parse(&format!("https://{host}{path}"))
            .map_err(|_| CrlProxyError::PathNotAllowed)?;
        // The parts were validated separately; the assembled URL must say the same.
        let same_host = url.host_str() == Some(host.host())
            && url.port() == host.port()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == path
            && url.query().is_none();
        if !same_host {
            return Err(CrlProxyError::PathNotAllowed);
        }
        Ok(url)
    }

    /// `{path}` or `{path}/{n}` (canonical, `1 <= n < shards`), given without the leading `/`.
    fn shard_path(&self, suffix: &str) -> Result<String, CrlProxyError> {
        if self.policy.shards < 2 {
            return Err(CrlProxyError::PathNotAllowed);
        }
        let base = &self.policy.path;
        let suffix = format!("/{suffix}");
        if suffix == *base {
            return Ok(suffix);
        }
        let digits = suffix
            .strip_prefix(base.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or(CrlProxyError::PathNotAllowed)?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CrlProxyError::PathNotAllowed);
        }
        match digits.parse::<u32>() {
            Ok(n) if n < self.policy.shards => Ok(suffix),
            _ => Err(CrlProxyError::PathNotAllowed),
        }
    }

    /// The CRL at `url` (from [`CrlProxy::upstream_url`]) as of `now`: from memory while it is
    /// fresh, otherwise fetched; when the fetch fails, the copy fetched earlier if it is still
    /// before its nextUpdate. Requests for one URL queue behind a fetch in progress and take
    /// its result, success or failure, so an expiring CRL or a dead upstream costs one
    /// upstream request, not one per client.
    pub async fn get(
        &self,
        url: &url::Url,
        now: OffsetDateTime,
    ) -> Result<(Arc<ProxiedCrl>, Source), CrlProxyError> {
        if self.policy.cache_for.is_zero() {
            return self
                .fetch(url, now)
                .await
                .map(|c| (Arc::new(c), Source::Fetched));
        }
        let asked = Instant::now();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(url.to_string()).or_default().clone()
        };
        let mut slot = slot.lock().await;
        let mut previous = None;
        if let Some((done, result)) = &slot.last {
            if *done >= asked {
                return result.clone().map(|c| (c, Source::Cached));
            }
            if let Ok(crl) = result {
                if crl.fresh_at(now, self.policy.cache_for) {
                    return Ok((crl.clone(), Source::Cached));
                }
                previous = Some(crl.clone());
            }
        }
        let result = match self.fetch(url, now).await {
            Ok(crl) => Ok((Arc::new(crl), Source::Fetched)),
            // A list that is still current is a better answer than none while its host is
            // down: it is what a client that fetched it earlier would be relying on anyway.
            Err(e) => match previous.filter(|c| c.reusable_until().is_some_and(|u| now < u)) {
                Some(copy) => {
                    tracing::warn!(%url, error = %e, "CRL proxy: serving the copy fetched earlier");
                    Ok((copy, Source::Stale))
                }
                None => Err(e),
            },
        };
        slot.last = Some((Instant::now(), result.clone().map(|(c, _)| c)));
        result
    }

    /// One upstream request.
    async fn fetch(
        &self,
        url: &url::Url,
        now: OffsetDateTime,
    ) -> Result<ProxiedCrl, CrlProxyError> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport_error(url, &e))?;
        if response.status() != reqwest::StatusCode::OK {
            tracing::warn!(%url, status = response.status().as_u16(), "CRL proxy: upstream status");
            return Err(CrlProxyError::UpstreamStatus(response.status().as_u16()));
        }
        let max = self.policy.max_bytes;
        let limit = u64::try_from(max).unwrap_or(u64::MAX);
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(CrlProxyError::TooLarge(max));
        }
        let headers = response.headers().clone();
        let der = read_capped(response, max, url).await?;
        let crl = e2ei_crl::CrlIn::from_der(&der).map_err(|e| {
            tracing::warn!(%url, error = %e, "CRL proxy: upstream body is not a CRL");
            CrlProxyError::NotACrl(e.to_string())
        })?;
        let next_update = crl.next_update();
        let (max_age, forbids_reuse) = upstream_cache_control(&headers);
        Ok(ProxiedCrl {
            etag: headers.get(header::ETAG).cloned(),
            last_modified: headers.get(header::LAST_MODIFIED).cloned(),
            next_update,
            upstream_expires: max_age.map(|s| now + Duration::from_secs(s)),
            upstream_forbids_reuse: forbids_reuse,
            fetched_at: now,
            der,
        })
    }
}

/// Reads the body, giving up as soon as it passes `max` bytes.
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
    url: &url::Url,
) -> Result<Bytes, CrlProxyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(url, &e))?
    {
        if body.len() + chunk.len() > max {
            return Err(CrlProxyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A failed request: a timeout is told apart; the cause goes to the log only.
fn transport_error(url: &url::Url, e: &reqwest::Error) -> CrlProxyError {
    tracing::warn!(%url, error = %e, "CRL proxy: upstream request failed");
    if e.is_timeout() {
        CrlProxyError::UpstreamTimeout
    } else {
        CrlProxyError::UpstreamUnreachable
    }
}

/// The upstream's `Cache-Control`: its max-age in seconds, and whether it forbids reuse
/// (`no-store`, `no-cache`, `private` — the proxy is a shared cache).
fn upstream_cache_control(headers: &HeaderMap) -> (Option<u64>, bool) {
    let mut max_age = None;
    let mut forbids = false;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            forbids = true;
            continue;
        };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            match name.to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" | "private" => forbids = true,
                "max-age" => match arg.trim_matches('"').parse::<u64>() {
                    Ok(s) => max_age = Some(max_age.map_or(s, |m: u64| m.min(s))),
                    Err(_) => forbids = true,
                },
                _ => {}
            }
        }
    }
    (max_age, forbids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host(s: &str) -> Result<String, HostError> {
        s.parse::<UpstreamHost>().map(|h| h.to_string())
    }

    #[test]
    fn parses_names_ip_literals_and_ports_canonically() {
        assert_eq!(
            host("Acme.Wire.Example.COM").unwrap(),
            "acme.wire.example.com"
        );
        assert_eq!(
            host("acme.example.com:8443").unwrap(),
            "acme.example.com:8443"
        );
        assert_eq!(host("acme.example.com:443").unwrap(), "acme.example.com");
        assert_eq!(host("127.0.0.1:9000").unwrap(), "127.0.0.1:9000");
        assert_eq!(host("[::1]:9000").unwrap(), "[::1]:9000");
        assert_eq!(host("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(host("localhost").unwrap(), "localhost");
        assert_eq!(
            host("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn refuses_everything_that_is_not_a_host() {
        for (bad, err) in [
            ("", HostError::Length),
            ("..", HostError::Label),
            (".", HostError::Label),
            ("a..b", HostError::Label),
            ("example.com.", HostError::Label),
            ("a@b", HostError::Character('@')),
            ("user:pass@host", HostError::Character('@')),
            ("a/b", HostError::Character('/')),
            ("a\\b", HostError::Character('\\')),
            ("a%2eb", HostError::Character('%')),
            ("a_b.example", HostError::Character('_')),
            ("a b", HostError::Character(' ')),
            ("host?x", HostError::Character('?')),
            ("host#x", HostError::Character('#')),
            ("-a.example", HostError::Hyphen),
            ("a-.example", HostError::Hyphen),
            ("host:", HostError::Port),
            ("host:0", HostError::Port),
            ("host:08443", HostError::Port),
            ("host:65536", HostError::Port),
            ("host:1:2", HostError::Port),
            ("host:+1", HostError::Character('+')),
            ("[::1", HostError::Ipv6),
            ("[::1]x", HostError::Ipv6),
            ("[nope]", HostError::Ipv6),
            ("a[::1]", HostError::Character('[')),
            ("2130706433", HostError::Numeric),
            ("0x7f000001", HostError::Numeric),
            ("127.1", HostError::Numeric),
            ("127.0.0.01", HostError::Numeric),
            ("1.2.3.256", HostError::Numeric),
        ] {
            assert_eq!(host(bad), Err(err), "{bad}");
        }
        assert_eq!(host(&"a".repeat(64)), Err(HostError::Label));
        assert_eq!(host(&"a.".repeat(130)), Err(HostError::Length));
    }

    #[test]
    fn validates_the_configured_path() {
        for good in ["/crl", "/1.0/crl", "/a_b/c~d-e"] {
            assert!(validate_path(good).is_ok(), "{good}");
        }
        for bad in [
            "crl", "/", "/crl/", "//crl", "/../crl", "/./crl", "/crl?x", "/c%2frl",
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    fn proxy(shards: u32) -> CrlProxy {
        let mut policy = ProxyPolicy::new(
            vec![
                "acme.wire.example.com".parse().unwrap(),
                "acme.other.example:8443".parse().unwrap(),
                "127.0.0.1:9000".parse().unwrap(),
            ],
            "https://wire.example.com/proxyCrl".into(),
        );
        policy.shards = shards;
        CrlProxy::new(policy, None).unwrap()
    }

    #[test]
    fn builds_upstream_urls_for_allowed_hosts_only() {
        let p = proxy(0);
        let url = |h: &str, s: Option<&str>| p.upstream_url(h, s).map(|u| u.to_string());
        assert_eq!(
            url("acme.wire.example.com", None).unwrap(),
            "https://acme.wire.example.com/crl"
        );
        assert_eq!(
            url("ACME.wire.example.com:443", None).unwrap(),
            "https://acme.wire.example.com/crl"
        );
        assert_eq!(
            url("acme.other.example:8443", None).unwrap(),
            "https://acme.other.example:8443/crl"
        );
        assert_eq!(
            url("127.0.0.1:9000", None).unwrap(),
            "https://127.0.0.1:9000/crl"
        );
        for refused in [
            "acme.other.example",
            "acme.wire.example.com:8443",
            "127.0.0.1",
            "127.0.0.2:9000",
            "evil.example",
        ] {
            assert!(
                matches!(url(refused, None), Err(CrlProxyError::HostNotAllowed(_))),
                "{refused}"
            );
        }
        assert!(matches!(
            url("acme.wire.example.com", Some("crl/1")),
            Err(CrlProxyError::PathNotAllowed)
        ));
    }

    #[test]
    fn forwards_shard_paths_only_when_the_policy_has_shards() {
        let p = proxy(4);
        let url = |s: &str| {
            p.upstream_url("acme.wire.example.com", Some(s))
                .map(|u| u.to_string())
        };
        assert_eq!(url("crl").unwrap(), "https://acme.wire.example.com/crl");
        assert_eq!(url("crl/1").unwrap(), "https://acme.wire.example.com/crl/1");
        assert_eq!(url("crl/3").unwrap(), "https://acme.wire.example.com/crl/3");
        for refused in [
            "crl/4",
            "crl/0",
            "crl/01",
            "crl/",
            "crl/1/",
            "crl/x",
            "crl/-1",
            "crl/+1",
            "crl/1/2",
            "crl/..",
            "../crl",
            "crl/../x",
            "crlx/1",
            "other",
            "crl?x=1",
            "crl#f",
            "crl/99999999999",
        ] {
            assert!(
                matches!(url(refused), Err(CrlProxyError::PathNotAllowed)),
                "{refused}"
            );
        }
    }

    #[test]
    fn reads_upstream_cache_control() {
        let cc = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
            upstream_cache_control(&h)
        };
        assert_eq!(upstream_cache_control(&HeaderMap::new()), (None, false));
        assert_eq!(cc("public, max-age=300"), (Some(300), false));
        assert_eq!(cc("max-age=300, Max-Age=60"), (Some(60), false));
        assert_eq!(cc("no-cache"), (None, true));
        assert_eq!(cc("no-store, max-age=60"), (Some(60), true));
        assert_eq!(cc("private"), (None, true));
        assert_eq!(cc("max-age=soon"), (None, true));
    }

    fn proxied(
        next_update: Option<i64>,
        upstream_max_age: Option<i64>,
        forbids: bool,
    ) -> ProxiedCrl {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        ProxiedCrl {
            der: Bytes::new(),
            etag: None,
            last_modified: None,
            next_update: next_update.map(|s| t0 + time::Duration::seconds(s)),
            upstream_expires: upstream_max_age.map(|s| t0 + time::Duration::seconds(s)),
            upstream_forbids_reuse: forbids,
            fetched_at: t0,
        }
    }

    #[test]
    fn max_age_never_outlives_next_update() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let at = |s: i64| t0 + time::Duration::seconds(s);
        let crl = proxied(Some(3600), None, false);
        assert_eq!(crl.cache_control(at(0)), "public, max-age=3600");
        assert_eq!(crl.cache_control(at(3000)), "public, max-age=600");
        assert_eq!(crl.cache_control(at(3600)), "no-cache");
        assert_eq!(crl.cache_control(at(7200)), "no-cache");
        // The upstream's shorter max-age wins; a longer one does not stretch nextUpdate.
        assert_eq!(
            proxied(Some(3600), Some(60), false).cache_control(at(10)),
            "public, max-age=50"
        );
        assert_eq!(
            proxied(Some(3600), Some(86_400), false).cache_control(at(0)),
            "public, max-age=3600"
        );
        assert_eq!(
            proxied(None, Some(60), false).cache_control(at(0)),
            "no-cache"
        );
        assert_eq!(
            proxied(Some(3600), None, true).cache_control(at(0)),
            "no-store"
        );
    }

    #[test]
    fn memory_copies_stay_fresh_within_cache_for_and_next_update() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let at = |s: i64| t0 + time::Duration::seconds(s);
        let minute = Duration::from_secs(60);
        let crl = proxied(Some(3600), None, false);
        assert!(crl.fresh_at(at(59), minute));
        assert!(!crl.fresh_at(at(60), minute));
        assert!(crl.fresh_at(at(3599), Duration::from_secs(86_400)));
        assert!(!crl.fresh_at(at(3600), Duration::from_secs(86_400)));
        assert!(!proxied(Some(3600), Some(10), false).fresh_at(at(10), minute));
        assert!(!proxied(Some(3600), None, true).fresh_at(at(0), minute));
        assert!(!proxied(None, None, false).fresh_at(at(0), minute));
    }
}
