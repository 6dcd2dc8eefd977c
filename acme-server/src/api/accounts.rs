//! Accounts (RFC 8555 §7.3):
//!
//! - `POST new-account` (`jwk`): create, or find with `onlyReturnExisting`; an existing account
//!   for the key is returned with 200; terms agreement and external account binding when the
//!   provisioner requires them; `mailto:` contacts only, and on Wire provisioners the Wire
//!   client's fixed dummy contact (protocol doc §4 step 3).
//! - `POST account/{id}` (`kid`): fetch (POST-as-GET), update contacts or terms, deactivate.
//! - `POST key-change` (`kid`): key rollover (§7.3.5); a key another account holds → 409.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use e2ei_acme::jws::{KeyRef, Payload, verify_key_change};
use e2ei_acme::messages::{Account, AccountStatus, AccountUpdateRequest, NewAccountRequest};
use e2ei_acme::{Problem, ProblemType};

use super::limits::ClientIp;
use super::{AcmeError, AcmeResult, KeyMode, authenticate, provisioner};
use crate::app::{AppState, Provisioner, ProvisionerKind, SharedState};
use crate::store::{AccountRow, random_token};

/// Most contacts per account.
const MAX_CONTACTS: usize = 10;

fn account_response(state: &AppState, account: &AccountRow, status: StatusCode) -> Response {
    let url = state
        .settings
        .account_url(&account.provisioner, &account.id);
    let body = Account {
        status: account.status,
        contact: account.contact.clone(),
        terms_of_service_agreed: Some(account.terms_agreed),
        // Wire's client requires exactly `<account URL>/orders` (protocol doc §15.1).
        orders: format!("{url}/orders"),
        external_account_binding: None,
    };
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The contact Wire's client sends with every new account: a fixed dummy that is not a URL
/// (protocol doc §4 step 3). Wire provisioners accept it as it is, or real Wire clients could
/// not register.
const WIRE_CLIENT_CONTACT: &str = "anonymous@anonymous.invalid";

/// `mailto:` addresses only, without header fields, at most [`MAX_CONTACTS`]; on a Wire
/// provisioner also [`WIRE_CLIENT_CONTACT`].
fn validate_contacts(p: &Provisioner, contacts: &[String]) -> Result<(), Problem> {
    let wire = matches!(p.kind, ProvisionerKind::Wire(_));
    if contacts.len() > MAX_CONTACTS {
        return Err(Problem::new(
            ProblemType::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    for contact in contacts {
        if wire && contact == WIRE_CLIENT_CONTACT {
            continue;
        }
        let Some(address) = contact.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                format!("contact `{contact}`: only mailto: is supported"),
            ));
        };
        let valid = address.len() <= 254
            && !address.contains(['?', ',', ' ', '<', '>'])
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@')
            });
        if !valid {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                format!("contact `{contact}` is not a valid e-mail address"),
            ));
        }
    }
    Ok(())
}

pub(super) async fn new_account(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Jwk).await?;
    let request: NewAccountRequest = auth.request.payload_as()?;
    if let Some(existing) = auth.account {
        return Ok(account_response(&state, &existing, StatusCode::OK));
    }
    if request.only_return_existing == Some(true) {
        return Err(Problem::new(
            ProblemType::AccountDoesNotExist,
            "no account exists for this key",
        )
        .into());
    }
    let KeyRef::Jwk(jwk) = auth.request.header.key.clone() else {
        return Err(Problem::malformed("new-account needs `jwk`").into());
    };
    let contact = request.contact.unwrap_or_default();
    validate_contacts(p, &contact)?;
    if p.terms_of_service.is_some() && request.terms_of_service_agreed != Some(true) {
        return Err(Problem::malformed(
            "the terms of service must be agreed to (termsOfServiceAgreed)",
        )
        .into());
    }
    let eab_kid = external_account_binding(
        p,
        request.external_account_binding.as_ref(),
        &auth.request.header.url,
        &jwk,
    )?;
    super::limits::new_account(&state, ip).await?;
    let account = AccountRow {
        id: random_token(18),
        provisioner: p.name.clone(),
        jwk: jwk.clone(),
        status: AccountStatus::Valid,
        contact,
        terms_agreed: request.terms_of_service_agreed == Some(true),
    };
    if !state
        .store
        .create_account(&account, eab_kid.as_deref(), state.now())
        .await?
    {
        // A concurrent request registered this key first: answer with that account.
        let existing = state
            .store
            .account_by_key(&p.name, &jwk)
            .await?
            .ok_or_else(|| AcmeError(Problem::server_internal()))?;
        return Ok(account_response(&state, &existing, StatusCode::OK));
    }
    Ok(account_response(&state, &account, StatusCode::CREATED))
}

fn external_account_binding(
    p: &Provisioner,
    binding: Option<&serde_json::Value>,
    url: &str,
    jwk: &e2ei_core::jwk::Jwk,
) -> Result<Option<String>, Problem> {
    match binding {
        None if p.eab.required => Err(Problem::new(
            ProblemType::ExternalAccountRequired,
            "this provisioner requires external account binding",
        )),
        None => Ok(None),
        Some(binding) => {
            e2ei_acme::eab::verify(binding, url, jwk, |kid| p.eab.keys.get(kid).cloned()).map(Some)
        }
    }
}

pub(super) async fn account(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let mut account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    if account.id != id {
        return Err(Problem::unauthorized("the request is signed by another account").into());
    }
    if let Payload::Json(_) = auth.request.payload {
        let update: AccountUpdateRequest = auth.request.payload_as()?;
        if let Some(contact) = update.contact {
            validate_contacts(p, &contact)?;
            account.contact = contact;
        }
        if let Some(agreed) = update.terms_of_service_agreed {
            account.terms_agreed = account.terms_agreed || agreed;
        }
        match update.status {
            None => {}
            Some(AccountStatus::Deactivated) => account.status = AccountStatus::Deactivated,
            Some(other) => {
                return Err(Problem::malformed(format!(
                    "an account can only be set to deactivated, not {other:?}"
                ))
                .into());
            }
        }
        state.store.update_account(&account).await?;
    }
    Ok(account_response(&state, &account, StatusCode::OK))
}

pub(super) async fn key_change(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let account_url = state.settings.account_url(&p.name, &account.id);
    let new_key = verify_key_change(&auth.request, &account_url, &account.jwk)?;
    if let Some(holder) = state.store.account_by_key(&p.name, &new_key).await? {
        let mut response = AcmeError(Problem::new(
            ProblemType::Malformed,
            "another account holds the new key",
        ))
        .into_response();
        *response.status_mut() = StatusCode::CONFLICT;
        if let Ok(v) = HeaderValue::from_str(&state.settings.account_url(&p.name, &holder.id)) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(response);
    }
    if !state.store.change_key(&account, &new_key).await? {
        return Err(Problem::malformed("another account holds the new key").into());
    }
    let mut updated = account;
    updated.jwk = new_key;
    Ok(account_response(&state, &updated, StatusCode::OK))
}
