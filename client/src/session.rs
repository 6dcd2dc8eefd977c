//! The ACME conversation's I/O (protocol doc §4, §5.1): every request is a flattened JWS signed
//! by the ACME account key — `jwk` on new-account, `kid` (the account URL) afterwards — with
//! the last `Replay-Nonce` and the exact request URL, sent as `application/jose+json`. The
//! answers are checked by the pure functions of `acme`.

use e2ei_acme::ProblemType;
use e2ei_acme::jws::{JOSE_CONTENT_TYPE, KeyRef, sign_flattened};
use e2ei_acme::messages::Directory;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde_json::Value;

use crate::acme::{self, ResponseError};
use crate::error::EnrollError;
use crate::http::HttpResponse;

/// An ACME conversation with one account key.
pub(crate) struct AcmeSession<'a> {
    http: &'a reqwest::Client,
    key: &'a Signer,
    jwk: Jwk,
    directory: Directory,
    nonce: Option<String>,
    account_url: Option<String>,
}

impl<'a> AcmeSession<'a> {
    /// Steps 1 and 2: the directory and the first nonce.
    pub(crate) async fn open(
        http: &'a reqwest::Client,
        directory_url: &str,
        key: &'a Signer,
    ) -> Result<Self, EnrollError> {
        let response = HttpResponse::send("GET", directory_url, http.get(directory_url)).await?;
        let directory = acme::check_directory(&response)?;
        let url = directory.new_nonce.clone();
        let response = HttpResponse::send("HEAD", &url, http.head(&url)).await?;
        let nonce = acme::check_new_nonce(&response)?;
        Ok(Self {
            http,
            key,
            jwk: Jwk::from_public_key(key.public_key().clone()),
            directory,
            nonce: Some(nonce),
            account_url: None,
        })
    }

    /// The directory.
    pub(crate) fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The account key as a JWK.
    pub(crate) fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    async fn fresh_nonce(&mut self) -> Result<String, EnrollError> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        let url = self.directory.new_nonce.clone();
        let response = HttpResponse::send("HEAD", &url, self.http.head(&url)).await?;
        Ok(acme::check_new_nonce(&response)?)
    }

    /// Signs and posts `payload` (`None`: POST-as-GET) to `url`. Every successful answer must
    /// carry the next nonce (§9.3). A `badNonce` refusal is retried once with the nonce it
    /// carries, as RFC 8555 §6.5 asks clients to.
    pub(crate) async fn post(
        &mut self,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<HttpResponse, EnrollError> {
        let key_ref = match &self.account_url {
            Some(kid) => KeyRef::Kid(kid.clone()),
            None => KeyRef::Jwk(self.jwk.clone()),
        };
        let mut retried = false;
        loop {
            let nonce = self.fresh_nonce().await?;
            let jws = sign_flattened(self.key, &key_ref, Some(&nonce), url, payload)?;
            let request = self
                .http
                .post(url)
                .header("content-type", JOSE_CONTENT_TYPE)
                .body(jws.to_string());
            let response = HttpResponse::send("POST", url, request).await?;
            self.nonce = acme::replay_nonce(&response).ok();
            let bad_nonce =
                acme::problem(&response).is_some_and(|p| p.kind == ProblemType::BadNonce);
            if bad_nonce && !retried && self.nonce.is_some() {
                retried = true;
                continue;
            }
            if response.is_success() && self.nonce.is_none() {
                return Err(ResponseError::MissingReplayNonce {
                    url: url.to_owned(),
                }
                .into());
            }
            return Ok(response);
        }
    }

    /// Step 3: a new account with the reference client's payload; later requests use its URL
    /// as `kid`.
    pub(crate) async fn new_account(&mut self) -> Result<String, EnrollError> {
        let url = self.directory.new_account.clone();
        let response = self.post(&url, Some(&acme::new_account_payload())).await?;
        let account_url = acme::check_new_account(&response)?;
        self.account_url = Some(account_url.clone());
        Ok(account_url)
    }
}
