//! Request JWS rules (one test per rejection, named after it), the transcript's real requests,
//! message round trips and new-order identifier rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_acme::jws::{JwsRequestIn, KeyRef, Payload, sign_flattened, verify_key_change};
use e2ei_acme::messages::{
    Account, Authorization, Directory, Identifier, NewAccountRequest, NewOrderRequest, Order,
};
use e2ei_acme::order::{OrderIdentifiers, validate_identifiers};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::ciphersuite::KeyAlgorithm;
use e2ei_core::jwk::Jwk;
use e2ei_signer::Signer;
use serde_json::{Value, json};

const URL: &str = "https://acme.example/acme/wire/new-order";
const NONCE: &str = "MkQ2RTA1Rm1uWVBVN0w3b29wemFSZGpCODFNR1lEZkM";
const KID: &str = "https://acme.example/acme/wire/account/abc";

fn testdata(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/acme")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn transcript_account_key() -> Jwk {
    Jwk::from_json(
        r#"{"kty":"OKP","crv":"Ed25519","x":"-5zCew93D_bahlxo2Gw5ceNyNOSqAxcbMuM8dBMI1Kg"}"#,
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A JWS with the given protected header and payload, signed by `signer` over exactly that.
fn signed(signer: &Signer, header: Value, payload: Option<Value>) -> Value {
    let protected = b64(&header);
    let payload = payload.map(|p| b64(&p)).unwrap_or_default();
    let signature = signer
        .sign(format!("{protected}.{payload}").as_bytes())
        .unwrap();
    json!({ "protected": protected, "payload": payload, "signature": URL_SAFE_NO_PAD.encode(signature.to_jws()) })
}

fn header(signer: &Signer) -> Value {
    json!({ "alg": signer.algorithm().jws_algorithm().as_str(), "kid": KID, "nonce": NONCE, "url": URL })
}

fn parse(body: &Value) -> Result<JwsRequestIn, Problem> {
    JwsRequestIn::parse(body.to_string().as_bytes())
}

fn rejected(body: &Value, kind: ProblemType) -> Problem {
    let p = parse(body).expect_err("must be rejected");
    assert_eq!(p.kind, kind, "{p:?}");
    p
}

#[test]
fn transcript_requests_verify_with_the_account_key() {
    let key = transcript_account_key();
    let new_account = parse(&testdata("new-account.jws.json"))
        .unwrap()
        .verify_with_embedded_key()
        .unwrap();
    assert_eq!(new_account.header.key, KeyRef::Jwk(key.clone()));
    assert_eq!(
        new_account.header.url,
        "https://stepca:32791/acme/wire/new-account"
    );
    let body: NewAccountRequest = new_account.payload_as().unwrap();
    assert_eq!(body.terms_of_service_agreed, Some(true));
    assert_eq!(body.only_return_existing, Some(false));

    let new_order = parse(&testdata("new-order.jws.json")).unwrap();
    assert!(
        matches!(&new_order.header().key, KeyRef::Kid(k) if k.ends_with("/account/fdQAnfuBXN5VlKLzEdGcotBZTpX5x6Ji"))
    );
    let new_order = new_order.verify(key.public_key()).unwrap();
    let order: NewOrderRequest = new_order.payload_as().unwrap();
    let OrderIdentifiers::Wire(pair) = validate_identifiers(&order.identifiers).unwrap() else {
        panic!("a Wire order")
    };
    assert_eq!(
        pair.client_id().to_uri(),
        "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"
    );

    let get = parse(&testdata("authz-post-as-get.jws.json"))
        .unwrap()
        .verify(key.public_key())
        .unwrap();
    assert_eq!(get.payload, Payload::Empty);
    get.require_post_as_get().unwrap();
}

#[test]
fn signs_requests_that_verify_for_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let signer = Signer::ephemeral(alg).unwrap();
        let jwk = Jwk::from_public_key(signer.public_key().clone());
        let body = sign_flattened(
            &signer,
            &KeyRef::Jwk(jwk.clone()),
            Some(NONCE),
            URL,
            Some(&json!({"a": 1})),
        )
        .unwrap();
        let verified = parse(&body).unwrap().verify_with_embedded_key().unwrap();
        assert_eq!(verified.header.nonce.as_deref(), Some(NONCE));
        assert_eq!(
            verified.payload,
            Payload::Json(json!({"a": 1}).as_object().unwrap().clone())
        );
        let get =
            sign_flattened(&signer, &KeyRef::Kid(KID.into()), Some(NONCE), URL, None).unwrap();
        parse(&get)
            .unwrap()
            .verify(signer.public_key())
            .unwrap()
            .require_post_as_get()
            .unwrap();
    }
}

#[test]
fn rejects_empty_and_oversized_bodies() {
    assert_eq!(
        JwsRequestIn::parse(b"").unwrap_err().kind,
        ProblemType::Malformed
    );
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        JwsRequestIn::parse(&big).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn rejects_general_serialization_with_several_signatures() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let one = signed(&signer, header(&signer), Some(json!({})));
    let general = json!({ "payload": one["payload"], "signatures": [
        { "protected": one["protected"], "signature": one["signature"] },
        { "protected": one["protected"], "signature": one["signature"] },
    ]});
    rejected(&general, ProblemType::Malformed);
}

#[test]
fn rejects_unprotected_header() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut body = signed(&signer, header(&signer), Some(json!({})));
    body["header"] = json!({ "kid": KID });
    let p = rejected(&body, ProblemType::Malformed);
    assert!(p.detail.contains("unprotected"));
}

#[test]
fn rejects_unknown_top_level_members_and_duplicates() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut body = signed(&signer, header(&signer), Some(json!({})));
    body["extra"] = json!(1);
    rejected(&body, ProblemType::Malformed);
    let text = signed(&signer, header(&signer), Some(json!({}))).to_string();
    let duplicated = text.replacen('{', "{\"payload\":\"\",", 1);
    assert_eq!(
        JwsRequestIn::parse(duplicated.as_bytes()).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn rejects_both_jwk_and_kid_and_neither() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut both = header(&signer);
    both["jwk"] = Jwk::from_public_key(signer.public_key().clone()).to_json_value();
    rejected(
        &signed(&signer, both, Some(json!({}))),
        ProblemType::Malformed,
    );
    let mut neither = header(&signer);
    neither.as_object_mut().unwrap().remove("kid");
    rejected(
        &signed(&signer, neither, Some(json!({}))),
        ProblemType::Malformed,
    );
}

#[test]
fn rejects_alg_none_hmac_and_rsa_with_the_supported_list() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    for alg in ["none", "HS256", "RS256", "PS256"] {
        let mut h = header(&signer);
        h["alg"] = json!(alg);
        let p = rejected(
            &signed(&signer, h, Some(json!({}))),
            ProblemType::BadSignatureAlgorithm,
        );
        assert_eq!(p.algorithms, ["EdDSA", "ES256", "ES384", "ES512"]);
    }
}

#[test]
fn rejects_alg_that_does_not_match_the_key_type() {
    let signer = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let mut h = header(&signer);
    h["alg"] = json!("ES256");
    let jws = parse(&signed(&signer, h, Some(json!({})))).unwrap();
    assert_eq!(
        jws.verify(signer.public_key()).unwrap_err().kind,
        ProblemType::BadSignatureAlgorithm
    );
}

#[test]
fn rejects_signature_by_another_key() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let other = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let jws = parse(&signed(&signer, header(&signer), Some(json!({})))).unwrap();
    assert_eq!(
        jws.verify(other.public_key()).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn rejects_missing_or_malformed_nonce() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut h = header(&signer);
    h.as_object_mut().unwrap().remove("nonce");
    rejected(&signed(&signer, h, Some(json!({}))), ProblemType::BadNonce);
    let mut h = header(&signer);
    h["nonce"] = json!("not base64url!");
    rejected(&signed(&signer, h, Some(json!({}))), ProblemType::BadNonce);
}

#[test]
fn rejects_missing_url() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut h = header(&signer);
    h.as_object_mut().unwrap().remove("url");
    rejected(&signed(&signer, h, Some(json!({}))), ProblemType::Malformed);
}

#[test]
fn rejects_key_urls_certificate_chains_and_crit() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    for name in ["jku", "x5u", "x5c", "crit", "b64"] {
        let mut h = header(&signer);
        h[name] = json!("x");
        rejected(&signed(&signer, h, Some(json!({}))), ProblemType::Malformed);
    }
}

#[test]
fn rejects_jwk_with_private_material_or_unsupported_type() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let mut h = header(&signer);
    h.as_object_mut().unwrap().remove("kid");
    let mut jwk = Jwk::from_public_key(signer.public_key().clone()).to_json_value();
    jwk["d"] = json!("secret");
    h["jwk"] = jwk;
    rejected(
        &signed(&signer, h.clone(), Some(json!({}))),
        ProblemType::BadPublicKey,
    );
    h["jwk"] = json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" });
    rejected(
        &signed(&signer, h, Some(json!({}))),
        ProblemType::BadPublicKey,
    );
}

#[test]
fn rejects_payload_that_is_not_a_json_object() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    rejected(
        &signed(&signer, header(&signer), Some(json!([1, 2]))),
        ProblemType::Malformed,
    );
    let mut body = signed(&signer, header(&signer), None);
    body["payload"] = json!("not-base64!");
    rejected(&body, ProblemType::Malformed);
}

#[test]
fn post_as_get_and_payload_requests_are_told_apart() {
    let signer = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let get = parse(&signed(&signer, header(&signer), None))
        .unwrap()
        .verify(signer.public_key())
        .unwrap();
    assert_eq!(
        get.payload_as::<NewOrderRequest>().unwrap_err().kind,
        ProblemType::Malformed
    );
    let post = parse(&signed(
        &signer,
        header(&signer),
        Some(json!({"identifiers": []})),
    ))
    .unwrap();
    let post = post.verify(signer.public_key()).unwrap();
    assert_eq!(
        post.require_post_as_get().unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn content_type_must_be_jose_json() {
    use e2ei_acme::jws::check_content_type;
    check_content_type(Some("application/jose+json")).unwrap();
    check_content_type(Some("application/jose+json; charset=utf-8")).unwrap();
    assert!(check_content_type(Some("application/json")).is_err());
    assert!(check_content_type(None).is_err());
}

fn key_change(
    old: &Signer,
    new: &Signer,
    account: &str,
    old_key: &Jwk,
    inner_url: &str,
) -> e2ei_acme::jws::VerifiedRequest {
    let new_jwk = Jwk::from_public_key(new.public_key().clone());
    let inner = sign_flattened(
        new,
        &KeyRef::Jwk(new_jwk),
        None,
        inner_url,
        Some(&json!({ "account": account, "oldKey": old_key.to_json_value() })),
    )
    .unwrap();
    let outer = sign_flattened(
        old,
        &KeyRef::Kid(account.into()),
        Some(NONCE),
        URL,
        Some(&inner),
    )
    .unwrap();
    parse(&outer).unwrap().verify(old.public_key()).unwrap()
}

#[test]
fn key_rollover_accepts_a_consistent_inner_jws() {
    let old = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let new = Signer::ephemeral(KeyAlgorithm::Ed25519).unwrap();
    let old_jwk = Jwk::from_public_key(old.public_key().clone());
    let outer = key_change(&old, &new, KID, &old_jwk, URL);
    let got = verify_key_change(&outer, KID, &old_jwk).unwrap();
    assert_eq!(got.public_key(), new.public_key());
}

#[test]
fn key_rollover_rejects_inner_url_account_and_old_key_mismatches() {
    let old = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let new = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let old_jwk = Jwk::from_public_key(old.public_key().clone());
    let other_url = key_change(&old, &new, KID, &old_jwk, "https://acme.example/other");
    assert_eq!(
        verify_key_change(&other_url, KID, &old_jwk)
            .unwrap_err()
            .kind,
        ProblemType::Malformed
    );
    let other_account = key_change(
        &old,
        &new,
        "https://acme.example/acme/wire/account/zzz",
        &old_jwk,
        URL,
    );
    assert_eq!(
        verify_key_change(&other_account, KID, &old_jwk)
            .unwrap_err()
            .kind,
        ProblemType::Unauthorized
    );
    let stranger = Jwk::from_public_key(
        Signer::ephemeral(KeyAlgorithm::P256)
            .unwrap()
            .public_key()
            .clone(),
    );
    let wrong_old = key_change(&old, &new, KID, &stranger, URL);
    assert_eq!(
        verify_key_change(&wrong_old, KID, &old_jwk)
            .unwrap_err()
            .kind,
        ProblemType::Unauthorized
    );
    let same = key_change(&old, &old, KID, &old_jwk, URL);
    assert_eq!(
        verify_key_change(&same, KID, &old_jwk).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn key_rollover_rejects_inner_jws_with_a_nonce_or_a_foreign_signature() {
    let old = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let new = Signer::ephemeral(KeyAlgorithm::P256).unwrap();
    let old_jwk = Jwk::from_public_key(old.public_key().clone());
    let new_jwk = Jwk::from_public_key(new.public_key().clone());
    let payload = json!({ "account": KID, "oldKey": old_jwk.to_json_value() });
    let with_nonce = sign_flattened(
        &new,
        &KeyRef::Jwk(new_jwk.clone()),
        Some(NONCE),
        URL,
        Some(&payload),
    )
    .unwrap();
    let outer = sign_flattened(
        &old,
        &KeyRef::Kid(KID.into()),
        Some(NONCE),
        URL,
        Some(&with_nonce),
    )
    .unwrap();
    let outer = parse(&outer).unwrap().verify(old.public_key()).unwrap();
    assert_eq!(
        verify_key_change(&outer, KID, &old_jwk).unwrap_err().kind,
        ProblemType::Malformed
    );
    // Inner JWS carrying the new key but signed by the old one.
    let forged = sign_flattened(&old, &KeyRef::Jwk(new_jwk), None, URL, Some(&payload)).unwrap();
    let outer = sign_flattened(
        &old,
        &KeyRef::Kid(KID.into()),
        Some(NONCE),
        URL,
        Some(&forged),
    )
    .unwrap();
    let outer = parse(&outer).unwrap().verify(old.public_key()).unwrap();
    assert_eq!(
        verify_key_change(&outer, KID, &old_jwk).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn transcript_responses_round_trip_through_the_message_types() {
    let directory = testdata("directory.json");
    assert_eq!(
        serde_json::to_value(serde_json::from_value::<Directory>(directory.clone()).unwrap())
            .unwrap(),
        directory
    );
    let account = testdata("account.json");
    assert_eq!(
        serde_json::to_value(serde_json::from_value::<Account>(account.clone()).unwrap()).unwrap(),
        account
    );
    let order = testdata("order.json");
    assert_eq!(
        serde_json::to_value(serde_json::from_value::<Order>(order.clone()).unwrap()).unwrap(),
        order
    );
    for name in ["authz-device.json", "authz-user.json"] {
        let authz = testdata(name);
        let parsed: Authorization = serde_json::from_value(authz.clone()).unwrap();
        assert_eq!(parsed.challenges.len(), 1);
        assert!(parsed.challenges[0].target.is_some());
        assert_eq!(serde_json::to_value(parsed).unwrap(), authz);
    }
}

fn wire_identifiers() -> Vec<Identifier> {
    let order: Order = serde_json::from_value(testdata("order.json")).unwrap();
    order.identifiers
}

#[test]
fn wire_order_needs_exactly_one_user_and_one_device_identifier() {
    let ids = wire_identifiers();
    assert!(matches!(
        validate_identifiers(&ids).unwrap(),
        OrderIdentifiers::Wire(_)
    ));
    for bad in [
        vec![ids[0].clone()],
        vec![ids[1].clone()],
        vec![ids[0].clone(), ids[0].clone(), ids[1].clone()],
        vec![ids[1].clone(), ids[1].clone()],
    ] {
        assert_eq!(
            validate_identifiers(&bad).unwrap_err().kind,
            ProblemType::Malformed
        );
    }
}

#[test]
fn wire_identifiers_are_never_mixed_with_dns() {
    let mut ids = wire_identifiers();
    ids.push(Identifier::dns("wire.com"));
    assert_eq!(
        validate_identifiers(&ids).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn wire_identifiers_must_agree_and_parse() {
    let mut ids = wire_identifiers();
    ids[1].value = ids[1].value.replace("Alice Smith", "Mallory");
    assert_eq!(
        validate_identifiers(&ids).unwrap_err().kind,
        ProblemType::Malformed
    );
    let mut ids = wire_identifiers();
    ids[0].value = "not json".into();
    assert_eq!(
        validate_identifiers(&ids).unwrap_err().kind,
        ProblemType::Malformed
    );
}

#[test]
fn dns_orders_take_valid_names_and_report_each_bad_one() {
    let ok = validate_identifiers(&[
        Identifier::dns("Example.COM"),
        Identifier::dns("*.example.com"),
        Identifier::dns("example.com"),
    ])
    .unwrap();
    assert_eq!(
        ok,
        OrderIdentifiers::Dns(vec!["example.com".into(), "*.example.com".into()])
    );
    let p = validate_identifiers(&[
        Identifier::dns("bad_name.example"),
        Identifier {
            kind: "ip".into(),
            value: "192.0.2.1".into(),
        },
        Identifier::dns("example.com"),
    ])
    .unwrap_err();
    assert_eq!(p.kind, ProblemType::RejectedIdentifier);
    assert_eq!(p.subproblems.len(), 2);
    assert_eq!(p.subproblems[1].kind, ProblemType::UnsupportedIdentifier);
    let only_unsupported = validate_identifiers(&[Identifier {
        kind: "wireapp-id".into(),
        value: "x".into(),
    }])
    .unwrap_err();
    assert_eq!(only_unsupported.kind, ProblemType::UnsupportedIdentifier);
    assert_eq!(
        validate_identifiers(&[]).unwrap_err().kind,
        ProblemType::Malformed
    );
    for bad in [
        "localhost",
        "-a.example",
        "a..example",
        "example.com.",
        "1.2.3.4",
    ] {
        assert!(!e2ei_acme::order::is_dns_name(bad), "{bad}");
    }
}
