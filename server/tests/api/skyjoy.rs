//! The SkyJoy partner customer APIs over HTTP with a client_credentials token, and linking a
//! partner's Customer ID through the sign-in (`link_token`): the four linking cases, the
//! envelopes, and every error code.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{self, TestApp},
    oidc::{authorize, location, query, register, sign_in, token, REDIRECT},
};

/// A client_credentials access token for `client_id`.
pub(crate) async fn partner_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let (status, body) = token(app, &[("grant_type", "client_credentials"), ("scope", "partner")], Some((client_id, secret))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn call(app: &TestApp, bearer: Option<&str>, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.url));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

pub(crate) async fn post(app: &TestApp, bearer: &str, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, Some(bearer), reqwest::Method::POST, path, Some(body)).await
}

pub(crate) async fn get(app: &TestApp, bearer: &str, path: &str) -> (StatusCode, Value) {
    call(app, Some(bearer), reqwest::Method::GET, path, None).await
}

/// Asserts SkyJoy's error envelope and returns its code.
pub(crate) fn error_code(status: StatusCode, body: &Value) -> String {
    assert_eq!(body["statusCode"].as_u64(), Some(u64::from(status.as_u16())), "{body}");
    assert_eq!(body["errors"]["message"], body["message"], "{body}");
    assert!(body["errors"]["name"].as_str().is_some_and(|n| !n.is_empty() && !n.contains(' ')), "{body}");
    body["errors"]["code"].as_str().unwrap().to_string()
}

pub(crate) const ONBOARD: &str = "/api-user/partner/v1/user/onboard";
const LINK: &str = "/api-user/partner/v1/user/link";
const LINK_TOKEN: &str = "/api-user/partner/v1/user/link-token";

#[tokio::test]
async fn partner_apis_want_a_client_credentials_token_with_the_partner_scope() {
    let app = TestApp::spawn().await;
    let path = "/api-user/partner/v1/user-profile/SJ0000000001";
    let (status, body) = call(&app, None, reqwest::Method::GET, path, None).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(body["errors"]["name"], "Unauthorized");
    let (status, body) = get(&app, "not-a-jwt", path).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));

    // A member's access token is not a partner's.
    let secret = register(&app, "shop", true).await.unwrap();
    let res = authorize(&app, &[("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid")]).await;
    let done = sign_in(&app, &location(&res), "0911000111").await;
    let code = query(done["done_url"].as_str().unwrap(), "code").unwrap();
    let (_, tokens) = token(&app, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)], Some(("shop", &secret))).await;
    let member_token = tokens["access_token"].as_str().unwrap();
    let (status, body) = get(&app, member_token, path).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::FORBIDDEN, "FORBIDDEN"));
    app.stop().await;
}

#[tokio::test]
async fn onboarding_profile_and_lookup_in_skyjoys_wire_format() {
    let app = TestApp::spawn().await;
    let (_, t) = helpers::partner(&app, "shop").await;

    let new = json!({"phone": "0912 345 678", "fullName": "Nguyen Van A", "dateOfBirth": "01-01-1990", "email": "a@example.vn", "customerId": "C-1"});
    let (status, body) = post(&app, &t, ONBOARD, new.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["statusCode"].as_u64(), body["message"].as_str()), (Some(200), Some("SUCCESS")));
    let data = &body["data"];
    let skyjoy_id = data["skyjoyId"].as_str().unwrap().to_string();
    assert!(skyjoy_id.len() == 12 && skyjoy_id.starts_with("SJ") && skyjoy_id[2..].bytes().all(|b| b.is_ascii_digit()), "{skyjoy_id}");
    assert_eq!(data["phone"], "+84912345678");
    assert_eq!(data["dateOfBirth"], "01-01-1990");
    assert_eq!((data["firstName"].as_str(), data["lastName"].as_str()), (Some("Nguyen Van"), Some("A")));
    assert_eq!((data["customerId"].as_str(), data["isNewMember"].as_bool()), (Some("C-1"), Some(true)));
    assert_eq!(data["status"], "ACTIVE");
    assert!(data["dateOfJoin"].as_str().is_some_and(|d| d.len() == 10 && d.as_bytes()[2] == b'-'), "{data}");

    let (status, body) = post(&app, &t, ONBOARD, new.clone()).await;
    assert_eq!((status, body["data"]["isNewMember"].as_bool()), (StatusCode::OK, Some(false)), "the same customer again: the same member");
    assert_eq!(body["data"]["skyjoyId"].as_str(), Some(skyjoy_id.as_str()));

    // The four linking cases' refusals, each leaving nothing behind.
    let other_customer = json!({"phone": "0912345678", "fullName": "Nguyen Van A", "customerId": "C-2"});
    let (status, body) = post(&app, &t, ONBOARD, other_customer).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "ACCOUNT_ALREADY_LINKED"));
    assert_eq!(body["message"], "This account is already linked in the system.");
    let other_member = json!({"phone": "0987654321", "fullName": "Tran Thi B", "customerId": "C-1"});
    let (status, body) = post(&app, &t, ONBOARD, other_member).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "CUSTOMER_ALREADY_LINKED"));
    let (status, body) = get(&app, &t, "/api-user/partner/v2/user/lookup?phone=0987654321").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND"), "nobody was created");

    // Validation: one code per field, never a 500.
    for (body, code) in [
        (json!({"phone": "12345", "fullName": "A"}), "INVALID_PHONE"),
        (json!({"fullName": "A"}), "INVALID_PHONE"),
        (json!({"phone": "0912345678"}), "INVALID_FULL_NAME"),
        (json!({"phone": "0912345678", "fullName": "A", "dateOfBirth": "1990-01-01"}), "INVALID_DATE_OF_BIRTH"),
        (json!({"phone": "0912345678", "fullName": "A", "email": "nope"}), "INVALID_EMAIL"),
    ] {
        let (status, res) = post(&app, &t, ONBOARD, body.clone()).await;
        assert_eq!((status, error_code(status, &res).as_str()), (StatusCode::BAD_REQUEST, code), "{body}");
    }
    let res = app.client.post(format!("{}{ONBOARD}", app.url)).bearer_auth(&t).body("{not json").send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));

    // Customer info and lookup.
    let (status, body) = get(&app, &t, &format!("/api-user/partner/v1/user-profile/{skyjoy_id}")).await;
    assert_eq!((status, body["data"]["customerId"].as_str()), (StatusCode::OK, Some("C-1")), "{body}");
    let (status, body) = get(&app, &t, "/api-user/partner/v1/user-profile/12345").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_SKYJOY_ID"));
    let (status, body) = get(&app, &t, "/api-user/partner/v1/user-profile/SJ0000000000").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND"));
    for q in [format!("skyjoyId={skyjoy_id}"), "phone=%2B84912345678".into(), "customerId=C-1".into()] {
        let (status, body) = get(&app, &t, &format!("/api-user/partner/v2/user/lookup?{q}")).await;
        assert_eq!((status, body["data"]["skyjoyId"].as_str()), (StatusCode::OK, Some(skyjoy_id.as_str())), "{q}: {body}");
    }
    let (status, body) = get(&app, &t, "/api-user/partner/v2/user/lookup").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"));
    let (status, body) = get(&app, &t, "/api-user/partner/v2/user/lookup?documentId=N0123").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND"));

    // Another partner sees the member but not the first partner's Customer ID.
    let secret2 = register(&app, "airline", true).await.unwrap();
    let t2 = partner_token(&app, "airline", &secret2).await;
    let (status, body) = get(&app, &t2, &format!("/api-user/partner/v1/user-profile/{skyjoy_id}")).await;
    assert_eq!((status, body["data"]["customerId"].clone()), (StatusCode::OK, Value::Null));
    // …and cannot link it server-side before the member has signed in there.
    let (status, body) = post(&app, &t2, LINK, json!({"skyjoyId": skyjoy_id, "customerId": "AIR-9"})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::FORBIDDEN, "MEMBER_NOT_AUTHORIZED"));
    app.stop().await;
}

#[tokio::test]
async fn a_sign_in_with_a_link_token_links_the_customer_id_or_says_it_is_taken() {
    // One phone signs in four times here: no resend cool-down.
    let app = TestApp::spawn_with(|c| c.identity.otp_resend_after_s = 0).await;
    let (_, t) = helpers::partner(&app, "shop").await;
    let start = |token: String| {
        let app = &app;
        async move {
            let params = [("client_id", "shop"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "openid"), ("state", "st"), ("link_token", token.as_str())];
            location(&authorize(app, &params).await)
        }
    };

    // No member with that phone: the sign-up creates one and links it.
    let (status, body) = post(&app, &t, LINK_TOKEN, json!({"customerId": "SHOP-1", "phone": "0933000111", "fullName": "Le Van C"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["expiresIn"].as_i64(), Some(1800));
    let signin = start(body["data"]["linkToken"].as_str().unwrap().to_string()).await;
    assert!(signin.starts_with("/signin/"), "{signin}");
    let flow = signin.trim_start_matches("/signin/").split('?').next().unwrap().to_string();
    let view = crate::oidc::flow_view(&app, &flow).await;
    assert_eq!(view["prefill_phone"], "0933000111", "the partner's phone pre-fills the form");
    let done = sign_in(&app, &signin, "0933000111").await;
    assert_eq!(done["screen"], "done", "{done}");
    let (_, body) = get(&app, &t, "/api-user/partner/v2/user/lookup?customerId=SHOP-1").await;
    let skyjoy_id = body["data"]["skyjoyId"].as_str().expect("linked").to_string();

    // Already linked to the same Customer ID: signed in again, nothing changes.
    let (_, body) = post(&app, &t, LINK_TOKEN, json!({"customerId": "SHOP-1"})).await;
    let done = sign_in(&app, &start(body["data"]["linkToken"].as_str().unwrap().to_string()).await, "0933000111").await;
    assert_eq!(done["screen"], "done", "{done}");

    // Linked to another Customer ID of this partner: ACCOUNT_ALREADY_LINKED, shown and returned.
    let (_, body) = post(&app, &t, LINK_TOKEN, json!({"customerId": "SHOP-2"})).await;
    let failed = sign_in(&app, &start(body["data"]["linkToken"].as_str().unwrap().to_string()).await, "0933000111").await;
    assert_eq!((failed["screen"].as_str(), failed["error"].as_str()), (Some("failed"), Some("account_already_linked")), "{failed}");
    let back = failed["done_url"].as_str().unwrap();
    assert_eq!(query(back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(back, "error_code").as_deref(), Some("ACCOUNT_ALREADY_LINKED"));
    assert_eq!(query(back, "error_description").as_deref(), Some("This account is already linked in the system."));
    assert_eq!(query(back, "state").as_deref(), Some("st"));
    assert!(query(back, "code").is_none());

    // The member has signed in at the shop, so the server-side link API applies the same rules.
    let (status, body) = post(&app, &t, LINK, json!({"skyjoyId": skyjoy_id, "customerId": "SHOP-1"})).await;
    assert_eq!((status, body["data"]["customerId"].as_str()), (StatusCode::OK, Some("SHOP-1")), "idempotent");
    let (status, body) = post(&app, &t, LINK, json!({"skyjoyId": skyjoy_id, "customerId": "SHOP-3"})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "ACCOUNT_ALREADY_LINKED"));
    let (status, body) = post(&app, &t, LINK, json!({"skyjoyId": skyjoy_id})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_CUSTOMER_ID"));

    // A link token is the issuing client's only, and must exist.
    let secret2 = register(&app, "airline", true).await.unwrap();
    let t2 = partner_token(&app, "airline", &secret2).await;
    let (_, body) = post(&app, &t2, LINK_TOKEN, json!({"customerId": "AIR-1"})).await;
    for bogus in [body["data"]["linkToken"].as_str().unwrap().to_string(), "made-up".to_string()] {
        let back = start(bogus).await;
        assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"), "{back}");
    }
    let (status, body) = post(&app, &t, LINK_TOKEN, json!({"customerId": "SHOP-4", "dateOfBirth": "31-02-1990"})).await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::BAD_REQUEST, "INVALID_DATE_OF_BIRTH"));
    app.stop().await;
}

#[tokio::test]
async fn a_client_declared_in_the_configuration_file_gets_partner_tokens() {
    let toml = format!(
        "[[clients]]\nclient_id = \"pos-backend\"\nname = \"POS\"\nredirect_uris = [\"https://pos.example/cb\"]\nsecret_sha256 = \"{}\"\n",
        domain::identity::clients::secret_sha256("pos-secret")
    );
    use figment::providers::Format;
    let declared: joygate::Config = figment::Figment::from(figment::providers::Toml::string(&toml)).extract().expect("the [[clients]] table parses");
    let app = TestApp::spawn_with(|c| c.clients = declared.clients).await;
    let t = partner_token(&app, "pos-backend", "pos-secret").await;
    let (status, body) = get(&app, &t, "/api-user/partner/v2/user/lookup?phone=0912345678").await;
    assert_eq!((status, error_code(status, &body).as_str()), (StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND"), "authorised, nobody there");
    let (status, _) = token(&app, &[("grant_type", "client_credentials")], Some(("pos-backend", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
