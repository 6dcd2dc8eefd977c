//! The standard provisioner: RFC 8555 orders for DNS names, proven with `http-01`, `dns-01` or
//! `tls-alpn-01`, issued as TLS server leaves. Its `[provisioners.standard]` table:
//!
//! ```toml
//! [[provisioners]]
//! name = "acme"
//! [provisioners.standard]
//! allowed_domains = ["*.wire.example.com", "www.example.org", ".corp.example"]
//! challenges = ["http-01", "dns-01", "tls-alpn-01"]   # default: all three
//! http01_port = 80                                    # where http-01 is fetched
//! tlsalpn01_port = 443                                # where tls-alpn-01 connects
//! dns_resolver = "10.0.0.53:53"                       # default: /etc/resolv.conf
//! validation_timeout_seconds = 10
//! min_validity = "1h"                                 # s, m, h or d
//! default_validity = "90d"
//! max_validity = "90d"
//! ```
//!
//! `allowed_domains` (required) is the name policy of e2ei-acme's [`DnsPolicy`]: `name` allows
//! exactly that name, `*.suffix` every name below the suffix (wildcards included), `.suffix`
//! the suffix and everything below it; other names are refused at new-order with
//! `rejectedIdentifier`. Wildcard names need `dns-01` among the challenges. A requested
//! validity (`notBefore`/`notAfter`) must lie between the minimum and maximum; without one a
//! leaf gets the default. The issuer's `max_validity_days` caps all of them.

use std::net::SocketAddr;
use std::time::Duration;

use e2ei_acme::challenge::StandardChallenge;
use e2ei_acme::order::DnsPolicy;
use serde::Deserialize;

use crate::validation::{DEFAULT_TIMEOUT, Validator, ValidatorConfig};

/// `[provisioners.standard]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardConfig {
    /// Name policy rules (`name`, `*.suffix`, `.suffix`).
    pub allowed_domains: Vec<String>,
    /// Offered challenge types (default: `http-01`, `dns-01`, `tls-alpn-01`).
    pub challenges: Option<Vec<String>>,
    /// Port of `http-01` requests (default 80).
    #[serde(default = "default_http01_port")]
    pub http01_port: u16,
    /// Port of `tls-alpn-01` handshakes (default 443).
    #[serde(default = "default_tlsalpn01_port")]
    pub tlsalpn01_port: u16,
    /// `IP:PORT` of the resolver validation asks (default: the system's).
    pub dns_resolver: Option<SocketAddr>,
    /// Time limit of one validation (default 10 s).
    pub validation_timeout_seconds: Option<u64>,
    /// Shortest leaf a client may request (default `1h`).
    pub min_validity: Option<String>,
    /// Leaf validity when the order requests none (default `90d`).
    pub default_validity: Option<String>,
    /// Longest leaf a client may request (default `90d`).
    pub max_validity: Option<String>,
}

fn default_http01_port() -> u16 {
    80
}

fn default_tlsalpn01_port() -> u16 {
    443
}

/// Bounds of a standard leaf's validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafValidity {
    /// Shortest requestable.
    pub min: Duration,
    /// Without a request.
    pub default: Duration,
    /// Longest requestable.
    pub max: Duration,
}

impl LeafValidity {
    /// Wire's bounds (step-ca's Helm values, protocol doc §2.4): at least 60 s, 90 days by
    /// default and at most.
    pub fn wire() -> Self {
        Self {
            min: Duration::from_secs(60),
            ..Self::default()
        }
    }

    /// Bounds from the optional `min_validity`, `default_validity` and `max_validity` strings
    /// (`45s`, `30m`, `12h`, `90d`), each defaulting to `defaults`'.
    pub fn from_config(
        min: &Option<String>,
        default: &Option<String>,
        max: &Option<String>,
        defaults: Self,
    ) -> Result<Self, String> {
        let duration = |field: &str, value: &Option<String>, fallback: Duration| match value {
            None => Ok(fallback),
            Some(text) => parse_duration(text)
                .ok_or_else(|| format!("{field} `{text}` is not a duration such as `1h`, `90d`")),
        };
        let validity = Self {
            min: duration("min_validity", min, defaults.min)?,
            default: duration("default_validity", default, defaults.default)?,
            max: duration("max_validity", max, defaults.max)?,
        };
        if !(validity.min <= validity.default && validity.default <= validity.max)
            || validity.min.is_zero()
        {
            return Err(
                "validity must satisfy 0 < min_validity <= default_validity <= max_validity".into(),
            );
        }
        Ok(validity)
    }
}

impl Default for LeafValidity {
    fn default() -> Self {
        let days = |d: u64| Duration::from_secs(d * 24 * 3600);
        Self {
            min: Duration::from_secs(3600),
            default: days(90),
            max: days(90),
        }
    }
}

/// The standard provisioner's settings.
#[derive(Debug, Clone)]
pub struct StandardSettings {
    /// Which names it certifies.
    pub policy: DnsPolicy,
    /// Offered challenges, each once, in [`StandardChallenge::ALL`] order.
    pub challenges: Vec<StandardChallenge>,
    /// Validates challenges.
    pub validator: Validator,
    /// Leaf validity bounds.
    pub validity: LeafValidity,
}

impl StandardSettings {
    /// The challenges offered for an authorization of a wildcard or an ordinary name.
    pub fn challenges_for(&self, wildcard: bool) -> Vec<StandardChallenge> {
        self.challenges
            .iter()
            .copied()
            .filter(|c| !wildcard || c.proves_wildcards())
            .collect()
    }
}

impl StandardConfig {
    /// The settings; `provisioner` names it in errors.
    pub fn settings(&self, provisioner: &str) -> Result<StandardSettings, String> {
        let fail = |what: String| format!("provisioner `{provisioner}`: {what}");
        if self.allowed_domains.is_empty() {
            return Err(fail("allowed_domains must name at least one rule".into()));
        }
        let policy = DnsPolicy::parse(&self.allowed_domains).map_err(|e| fail(e.to_string()))?;
        let challenges = match &self.challenges {
            None => StandardChallenge::ALL.to_vec(),
            Some(names) => {
                let mut chosen = Vec::new();
                for name in names {
                    let c: StandardChallenge = name.parse().map_err(|e| fail(format!("{e}")))?;
                    if !chosen.contains(&c) {
                        chosen.push(c);
                    }
                }
                if chosen.is_empty() {
                    return Err(fail("challenges must name at least one type".into()));
                }
                chosen.sort();
                chosen
            }
        };
        let validity = LeafValidity::from_config(
            &self.min_validity,
            &self.default_validity,
            &self.max_validity,
            LeafValidity::default(),
        )
        .map_err(fail)?;
        let timeout = self
            .validation_timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(fail("validation_timeout_seconds must be positive".into()));
        }
        let validator = Validator::new(&ValidatorConfig {
            dns_resolver: self.dns_resolver,
            http01_port: self.http01_port,
            tlsalpn01_port: self.tlsalpn01_port,
            timeout,
        })
        .map_err(fail)?;
        Ok(StandardSettings {
            policy,
            challenges,
            validator,
            validity,
        })
    }
}

/// `90d`, `12h`, `30m`, `45s`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(24 * 3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(text: &str) -> StandardConfig {
        toml::from_str(text).unwrap()
    }

    #[tokio::test]
    async fn defaults_offer_every_challenge_on_the_standard_ports() {
        let s = config("allowed_domains = [\"*.example.com\"]\ndns_resolver = \"127.0.0.1:53\"")
            .settings("p")
            .unwrap();
        assert_eq!(s.challenges, StandardChallenge::ALL.to_vec());
        assert_eq!(s.challenges_for(true), vec![StandardChallenge::Dns01]);
        assert_eq!(s.validity, LeafValidity::default());
        assert!(format!("{:?}", s.validator).contains("http01_port: 80"));
    }

    #[tokio::test]
    async fn refuses_bad_rules_challenges_and_validity() {
        for (text, error) in [
            ("allowed_domains = []", "at least one rule"),
            ("allowed_domains = [\"Example.com\"]", "not a domain rule"),
            (
                "allowed_domains = [\"a.example\"]\nchallenges = [\"wire-dpop-01\"]",
                "not a standard challenge",
            ),
            (
                "allowed_domains = [\"a.example\"]\nchallenges = []",
                "at least one type",
            ),
            (
                "allowed_domains = [\"a.example\"]\nmin_validity = \"2d\"\ndefault_validity = \"1d\"",
                "min_validity <= default_validity",
            ),
            (
                "allowed_domains = [\"a.example\"]\nmax_validity = \"90 days\"",
                "not a duration",
            ),
        ] {
            let e = config(&format!("{text}\ndns_resolver = \"127.0.0.1:53\""))
                .settings("p")
                .unwrap_err();
            assert!(e.contains(error), "{text}: {e}");
        }
        assert!(toml::from_str::<StandardConfig>("allowed_domains = []\nsurprise = 1").is_err());
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("90d"), Some(Duration::from_secs(90 * 86400)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        for bad in ["", "d", "1", "1w", "-1d", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
