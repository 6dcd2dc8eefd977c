//! Validation of the standard challenges (RFC 8555 §8.3 `http-01`, §8.4 `dns-01`, RFC 8737
//! `tls-alpn-01`) against the network, for the standard provisioner.
//!
//! Every name is resolved through one resolver: the configured `dns_resolver` (`IP:PORT`, UDP
//! with TCP fallback) or the system's (`/etc/resolv.conf`). The hosts file is never read and
//! nothing is cached, so a record a client has just published is what the validator sees.
//! Validation runs inside the challenge request with an overall time limit; the outcome is then
//! stored by one conditional update (see `Store::finish_challenge`), so when several replicas
//! validate the same challenge, exactly one outcome is recorded.
//!
//! Failures are problem documents with the RFC 8555 §6.7 type that says who to look at:
//! `dns` (the lookup failed), `connection` (nothing answered, or it timed out),
//! `unauthorized` (the resource or record is absent), `incorrectResponse` (something answered
//! with the wrong content), `tls` (the TLS handshake or ALPN failed).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use e2ei_acme::challenge::StandardChallenge;
use e2ei_acme::{Problem, ProblemType};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{ResolveError, TokioResolver};

mod dns01;
mod http01;
mod tlsalpn01;

/// How long one validation may take, all lookups, connections and redirects included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how challenges are validated.
#[derive(Clone)]
pub struct Validator {
    resolver: TokioResolver,
    http01_port: u16,
    tlsalpn01_port: u16,
    timeout: Duration,
    http: reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("http01_port", &self.http01_port)
            .field("tlsalpn01_port", &self.tlsalpn01_port)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where the validator connects and which resolver it asks.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// `IP:PORT` of the one resolver to ask; `None`: the system's resolvers.
    pub dns_resolver: Option<SocketAddr>,
    /// Port of the `http-01` request (RFC 8555 §8.3: 80).
    pub http01_port: u16,
    /// Port of the `tls-alpn-01` handshake (RFC 8737 §3: 443).
    pub tlsalpn01_port: u16,
    /// Overall time limit of one validation.
    pub timeout: Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            dns_resolver: None,
            http01_port: 80,
            tlsalpn01_port: 443,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Validator {
    /// A validator; fails when the system resolver configuration cannot be read.
    pub fn new(config: &ValidatorConfig) -> Result<Self, String> {
        let resolver = resolver(config.dns_resolver, config.timeout)?;
        let http = http01::client(resolver.clone(), config)?;
        Ok(Self {
            http,
            tls: tlsalpn01::client_config()?,
            resolver,
            http01_port: config.http01_port,
            tlsalpn01_port: config.tlsalpn01_port,
            timeout: config.timeout,
        })
    }

    /// Checks that `name` (a DNS name, without a wildcard label) shows `key_authorization`
    /// through `challenge`.
    pub async fn validate(
        &self,
        challenge: StandardChallenge,
        name: &str,
        key_authorization: &str,
    ) -> Result<(), Problem> {
        let work = async {
            match challenge {
                StandardChallenge::Http01 => http01::validate(self, name, key_authorization).await,
                StandardChallenge::Dns01 => dns01::validate(self, name, key_authorization).await,
                StandardChallenge::TlsAlpn01 => {
                    tlsalpn01::validate(self, name, key_authorization).await
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Problem::new(
                ProblemType::Connection,
                format!(
                    "{challenge} validation of {name} did not finish within {} s",
                    self.timeout.as_secs()
                ),
            )),
        }
    }

    /// The addresses of `name`: IPv4 first, then IPv6.
    async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, Problem> {
        let lookup =
            self.resolver
                .lookup_ip(fqdn(name))
                .await
                .map_err(|e| match lookup_failure(&e) {
                    Some(rcode) => Problem::new(
                        ProblemType::Dns,
                        format!("no A or AAAA record for {name} ({rcode})"),
                    ),
                    None => Problem::new(
                        ProblemType::Dns,
                        format!("DNS lookup of {name} failed: {e}"),
                    ),
                })?;
        let mut addresses: Vec<IpAddr> = lookup.iter().collect();
        addresses.sort_by_key(|a| a.is_ipv6());
        addresses.dedup();
        if addresses.is_empty() {
            return Err(Problem::new(
                ProblemType::Dns,
                format!("no A or AAAA record for {name}"),
            ));
        }
        Ok(addresses)
    }
}

/// `name.`: absolute, so no search domain is ever appended.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// For a lookup that got an answer without records — NXDOMAIN or NOERROR/NODATA — the response
/// code; `None` for every other failure (SERVFAIL, REFUSED, timeouts, I/O).
fn lookup_failure(e: &ResolveError) -> Option<ResponseCode> {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. })
            if matches!(
                *response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            Some(*response_code)
        }
        _ => None,
    }
}

fn resolver(address: Option<SocketAddr>, timeout: Duration) -> Result<TokioResolver, String> {
    let provider = TokioConnectionProvider::default();
    let mut builder = match address {
        Some(address) => TokioResolver::builder_with_config(
            ResolverConfig::from_parts(
                None,
                Vec::new(),
                NameServerConfigGroup::from_ips_clear(&[address.ip()], address.port(), true),
            ),
            provider,
        ),
        None => TokioResolver::builder(provider)
            .map_err(|e| format!("system DNS configuration (/etc/resolv.conf): {e}"))?,
    };
    let options = builder.options_mut();
    // A validator must see what the DNS says now: no cache, no hosts file.
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = (timeout / 3).max(Duration::from_secs(1));
    options.attempts = 2;
    Ok(builder.build())
}

/// `error` and its sources, for a problem's detail.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}
