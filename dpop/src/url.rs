//! `htu` and `aud` URLs: absolute `http`/`https` URLs with a host. `htu` is a logical URL
//! (§5.2) and carries neither query nor fragment.

use url::Url;

/// Parses an `htu`: absolute http(s) with a host, no query, no fragment.
pub(crate) fn logical_url(text: &str) -> Option<Url> {
    let url = absolute_url(text)?;
    (url.query().is_none() && url.fragment().is_none()).then_some(url)
}

/// Parses an absolute http(s) URL with a host.
pub(crate) fn absolute_url(text: &str) -> Option<Url> {
    let url = Url::parse(text).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then_some(url)
}
