//! Wire's access and user tokens (security whitepaper, "Authentication & Authorization / Tokens"):
//!
//! ```text
//! token ::= <signature> "." "v=" version "." "k=" key-index "." "d=" expiry "." "t=" type "." "l=" tag "." data
//! access data ::= "u=" <UUID> "." "c=" <Word64> [ "." "i=" <client id> ]
//! user data   ::= "u=" <UUID> "." "r=" <Word32> [ "." "i=" <client id> ]
//! ```
//!
//! The signature is Ed25519 over everything after the first dot, base64url without padding.
//! Keys are numbered from 1 in configuration order; new tokens are signed with the newest key
//! and every configured key still verifies, so keys rotate by appending one.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_signer::{Signer, SignerError};
use uuid::Uuid;

/// The token format version.
pub const VERSION: u32 = 1;

/// Longest token accepted (they are about 150 bytes).
const MAX_TOKEN_LEN: usize = 1024;

/// Access or user token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// `t=a`: a short-lived bearer token for API requests.
    Access,
    /// `t=u`: a cookie that obtains access tokens.
    User,
}

impl TokenType {
    fn tag(self) -> &'static str {
        match self {
            Self::Access => "a",
            Self::User => "u",
        }
    }
}

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Access or user.
    pub kind: TokenType,
    /// The signing key's index.
    pub key_index: u32,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// `l=s`: a session (not persistent) token.
    pub session: bool,
    /// The user.
    pub user: Uuid,
    /// Access tokens: the connection number `c`, constant across renewals. User tokens: the
    /// cookie's random `r`.
    pub nonce: u64,
    /// The client the token is bound to (`i`), as lowercase hex.
    pub client: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not in the token grammar.
    #[error("malformed token")]
    Malformed,
    /// A version other than 1.
    #[error("unsupported token version")]
    Version,
    /// No configured key has this index.
    #[error("unknown token key index {0}")]
    UnknownKey(u32),
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// An access token where a user token was expected, or the reverse.
    #[error("wrong token type")]
    WrongType,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

/// The backend's token keys.
pub struct ZauthKeys {
    keys: Vec<Signer>,
}

impl fmt::Debug for ZauthKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZauthKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl ZauthKeys {
    /// Keys in configuration order (index 1 first); all must be Ed25519.
    pub fn new(keys: Vec<Signer>) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("at least one token signing key is required".into());
        }
        if let Some(k) = keys.iter().find(|k| k.algorithm() != KeyAlgorithm::Ed25519) {
            return Err(format!("token key {} is not Ed25519", k.describe()));
        }
        Ok(Self { keys })
    }

    /// Signs a token with the newest key.
    pub fn sign(
        &self,
        kind: TokenType,
        user: Uuid,
        nonce: u64,
        client: Option<&str>,
        session: bool,
        expires_at: i64,
    ) -> Result<String, SignerError> {
        let index = self.keys.len();
        let data = match kind {
            TokenType::Access => format!("u={user}.c={nonce}"),
            TokenType::User => format!("u={user}.r={:x}", nonce as u32),
        };
        let client = client.map(|c| format!(".i={c}")).unwrap_or_default();
        let body = format!(
            "v={VERSION}.k={index}.d={expires_at}.t={}.l={}.{data}{client}",
            kind.tag(),
            if session { "s" } else { "" },
        );
        let key = &self.keys[index - 1];
        let signature = key.sign(body.as_bytes())?;
        Ok(format!(
            "{}.{body}",
            URL_SAFE_NO_PAD.encode(signature.to_jws())
        ))
    }

    /// Verifies a token of the expected type, unexpired at `now`.
    pub fn verify(&self, token: &str, expected: TokenType, now: i64) -> Result<Token, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (signature, body) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let fields: Vec<(&str, &str)> = body
            .split('.')
            .map(|f| f.split_once('=').ok_or(TokenError::Malformed))
            .collect::<Result<_, _>>()?;
        let field = |i: usize, name: &str| match fields.get(i) {
            Some((n, v)) if *n == name => Ok(*v),
            _ => Err(TokenError::Malformed),
        };
        let number = |v: &str| v.parse::<u64>().map_err(|_| TokenError::Malformed);
        if number(field(0, "v")?)? != u64::from(VERSION) {
            return Err(TokenError::Version);
        }
        let key_index =
            u32::try_from(number(field(1, "k")?)?).map_err(|_| TokenError::Malformed)?;
        let key = key_index
            .checked_sub(1)
            .and_then(|i| self.keys.get(i as usize))
            .ok_or(TokenError::UnknownKey(key_index))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        key.public_key()
            .verify_fixed(body.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;

        // Signed by us from here on; still parse strictly.
        let expires_at =
            i64::try_from(number(field(2, "d")?)?).map_err(|_| TokenError::Malformed)?;
        let kind = match field(3, "t")? {
            "a" => TokenType::Access,
            "u" => TokenType::User,
            _ => return Err(TokenError::WrongType),
        };
        if kind != expected {
            return Err(TokenError::WrongType);
        }
        let session = match field(4, "l")? {
            "s" => true,
            "" => false,
            _ => return Err(TokenError::Malformed),
        };
        let user = Uuid::parse_str(field(5, "u")?).map_err(|_| TokenError::Malformed)?;
        let nonce = match kind {
            TokenType::Access => number(field(6, "c")?)?,
            TokenType::User => {
                u64::from_str_radix(field(6, "r")?, 16).map_err(|_| TokenError::Malformed)?
            }
        };
        let client = match fields.len() {
            7 => None,
            8 => Some(field(7, "i")?.to_owned()),
            _ => return Err(TokenError::Malformed),
        };
        if now > expires_at {
            return Err(TokenError::Expired);
        }
        Ok(Token {
            kind,
            key_index,
            expires_at,
            session,
            user,
            nonce,
            client,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn keys(n: usize) -> ZauthKeys {
        ZauthKeys::new(
            (0..n)
                .map(|_| Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap())
                .collect(),
        )
        .unwrap()
    }

    const USER: Uuid = Uuid::from_u128(0x4af3df2e_5c01_422f_baa1_d75546b92aa7);

    #[test]
    fn access_token_round_trips_with_the_whitepaper_layout() {
        let k = keys(1);
        let token = k
            .sign(
                TokenType::Access,
                USER,
                42,
                Some("9ff0457928ebe5f4"),
                false,
                1000,
            )
            .unwrap();
        let body = token.split_once('.').unwrap().1;
        assert_eq!(
            body,
            "v=1.k=1.d=1000.t=a.l=.u=4af3df2e-5c01-422f-baa1-d75546b92aa7.c=42.i=9ff0457928ebe5f4"
        );
        let t = k.verify(&token, TokenType::Access, 999).unwrap();
        assert_eq!(t.user, USER);
        assert_eq!(t.nonce, 42);
        assert_eq!(t.client.as_deref(), Some("9ff0457928ebe5f4"));
    }

    #[test]
    fn user_token_carries_its_random_and_session_tag() {
        let k = keys(1);
        let token = k
            .sign(TokenType::User, USER, 0xdead_beef, None, true, 1000)
            .unwrap();
        assert!(token.contains(".t=u.l=s.u="));
        assert!(token.ends_with(".r=deadbeef"));
        let t = k.verify(&token, TokenType::User, 1000).unwrap();
        assert!(t.session);
        assert_eq!(t.nonce, 0xdead_beef);
    }

    #[test]
    fn rejects_forged_token() {
        let k = keys(1);
        let token = k
            .sign(TokenType::Access, USER, 1, None, false, 1000)
            .unwrap();
        let forged = token.replace("c=1", "c=2");
        assert_eq!(
            k.verify(&forged, TokenType::Access, 0),
            Err(TokenError::BadSignature)
        );
        let other = keys(1)
            .sign(TokenType::Access, USER, 1, None, false, 1000)
            .unwrap();
        assert_eq!(
            k.verify(&other, TokenType::Access, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_expired_token() {
        let k = keys(1);
        let token = k
            .sign(TokenType::Access, USER, 1, None, false, 1000)
            .unwrap();
        assert_eq!(
            k.verify(&token, TokenType::Access, 1001),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn rejects_wrong_token_type() {
        let k = keys(1);
        let token = k.sign(TokenType::User, USER, 1, None, false, 1000).unwrap();
        assert_eq!(
            k.verify(&token, TokenType::Access, 0),
            Err(TokenError::WrongType)
        );
    }

    #[test]
    fn rejects_unknown_key_index_and_keeps_old_keys_after_rotation() {
        let old = keys(1);
        let token = old
            .sign(TokenType::Access, USER, 1, None, false, 1000)
            .unwrap();
        let rotated = ZauthKeys::new(vec![
            old.keys.into_iter().next().unwrap(),
            Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap(),
        ])
        .unwrap();
        rotated.verify(&token, TokenType::Access, 0).unwrap();
        let new = rotated
            .sign(TokenType::Access, USER, 1, None, false, 1000)
            .unwrap();
        assert!(new.contains(".k=2."));
        let k3 = new.replace(".k=2.", ".k=3.");
        assert_eq!(
            rotated.verify(&k3, TokenType::Access, 0),
            Err(TokenError::UnknownKey(3))
        );
        let k0 = new.replace(".k=2.", ".k=0.");
        assert_eq!(
            rotated.verify(&k0, TokenType::Access, 0),
            Err(TokenError::UnknownKey(0))
        );
    }

    #[test]
    fn rejects_malformed_tokens() {
        let k = keys(1);
        for t in [
            "",
            "abc",
            "sig.v=1",
            "sig.v=2.k=1",
            "x.v=1.k=1.d=1.t=a.l=.u=x.c=1",
        ] {
            assert!(k.verify(t, TokenType::Access, 0).is_err(), "{t}");
        }
    }

    #[test]
    fn rejects_non_ed25519_keys() {
        assert!(ZauthKeys::new(vec![Signer::ephemeral(KeyAlgorithm::P256).unwrap()]).is_err());
        assert!(ZauthKeys::new(vec![]).is_err());
    }
}
