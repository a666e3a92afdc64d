//! Benefits in super apps, the HTTP side (README, "Benefits"): the ISV APIs the platform calls
//! (counterparts.md §2.2, paths from `[benefits]`), and the partner API a shop's mini program
//! uses to spend a benefit.
//!
//! | path (default) | what |
//! |---|---|
//! | `POST /isv/benefit/sync/notify` | notifyBenefitSync: the platform's review result ([`isv::notify`]) |
//! | `POST /isv/benefit/issue` | issueBenefit: a user collected a benefit ([`isv::issue`]) |
//! | `POST /isv/benefit/reverse` | reverseBenefitIssue ([`isv::reverse`]) |
//! | `POST /isv/benefit/query` | inquireBenefitIssue ([`isv::query`]) |
//! | `POST /api-benefit/partner/v1/benefit/lookup`, `…/use` | a partner's cashier: see, then use a benefit ([`partner`], scope `benefit:use`) |
//!
//! Every ISV request is verified and every answer signed (§2.5) in [`exchange`]: `Client-Id`
//! names the platform, `Request-Time` must be within `[benefits] time_window_s`, `Signature`
//! must verify with the platform's key of its `keyVersion`. The answers are the seed's flat
//! shape `{"success","resultCode","resultMessage",…}` with HTTP 200, signed with our active key
//! over the request's URI and our `Response-Time`. Every refusal is one of the documented codes,
//! chosen in one place ([`IsvError`]); the platform treats any other code as a system error.

pub mod isv;
pub mod partner;

use axum::{
    body::Bytes,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
    Router,
};
use domain::{
    benefits::{
        keys::{KeyStore, PlatformKeys, SigningKey},
        BenefitError, InvalidField,
    },
    signing::{alipay_plus, SignatureError, TimestampWindow},
};
use serde_json::{json, Map, Value};

use super::AppState;
use crate::config::BenefitsSettings;

/// What the ISV APIs and the sandbox endpoints share (part of [`super::Shared`]).
#[derive(Clone, Debug)]
pub struct BenefitsContext {
    pub keys: KeyStore,
    pub window: TimestampWindow,
    /// When an accepted sync is first asked about (inquireBenefitSync).
    pub poll_after_ms: i64,
    /// Sandbox mode: the sandbox shop's cashier credentials (`/sandbox/cashier`).
    pub sandbox_cashier: Option<(String, crate::config::Secret)>,
}

pub fn routes(settings: &BenefitsSettings) -> Router<AppState> {
    Router::new()
        .route(&settings.notify_path, any(isv::notify))
        .route(&settings.issue_path, any(isv::issue))
        .route(&settings.reverse_path, any(isv::reverse))
        .route(&settings.query_path, any(isv::query))
        .route_layer(super::input::limit_uri::<IsvRefusal>())
        .merge(partner::routes())
}

/// An ISV refusal before any exchange (a target over 8 KiB): the seed's HTTP 200
/// `PARAM_ILLEGAL`, unsigned (nothing of the request was read).
pub struct IsvRefusal(IsvError);

impl From<super::input::Rejected> for IsvRefusal {
    fn from(r: super::input::Rejected) -> Self {
        IsvRefusal(IsvError::new(Code::ParamIllegal, r.to_string()))
    }
}

impl IntoResponse for IsvRefusal {
    fn into_response(self) -> Response {
        unsigned(self.0.body())
    }
}

/// The result codes we answer with, each with its documented resultStatus (§2.6, and the
/// API-specific codes of §2.1–2.2). Nothing else is ever sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// U: ours failed for a reason the caller can retry (the database, …).
    UnknownException,
    /// F: a business refusal (budget used up, outside the collection period, not synced, a
    /// reversed id, a reversal of a used benefit).
    ProcessFail,
    /// F: a field is missing or not allowed; also an unknown template or client code, and a
    /// benefitIssueRequestId reused with other fields (see README: why not another code).
    ParamIllegal,
    MethodNotSupported,
    MediaTypeNotAcceptable,
    InvalidClient,
    InvalidSignature,
    /// inquireBenefitIssue: no issuing record for the id.
    IssueRequestIdNotExist,
    /// notifyBenefitSync: no sync has the id.
    SyncRequestIdNotExist,
}

impl Code {
    pub const ALL: [Code; 9] = [
        Code::UnknownException,
        Code::ProcessFail,
        Code::ParamIllegal,
        Code::MethodNotSupported,
        Code::MediaTypeNotAcceptable,
        Code::InvalidClient,
        Code::InvalidSignature,
        Code::IssueRequestIdNotExist,
        Code::SyncRequestIdNotExist,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnknownException => "UNKNOWN_EXCEPTION",
            Code::ProcessFail => "PROCESS_FAIL",
            Code::ParamIllegal => "PARAM_ILLEGAL",
            Code::MethodNotSupported => "METHOD_NOT_SUPPORTED",
            Code::MediaTypeNotAcceptable => "MEDIA_TYPE_NOT_ACCEPTABLE",
            Code::InvalidClient => "INVALID_CLIENT",
            Code::InvalidSignature => "INVALID_SIGNATURE",
            Code::IssueRequestIdNotExist => "ISSUE_REQUEST_ID_NOT_EXIST",
            Code::SyncRequestIdNotExist => "SYNC_REQUEST_ID_NOT_EXIST",
        }
    }

    /// The documented resultStatus of the code: only UNKNOWN_EXCEPTION is retryable.
    pub fn result_status(self) -> &'static str {
        match self {
            Code::UnknownException => "U",
            _ => "F",
        }
    }
}

/// A refusal of an ISV API, in the seed's flat shape.
#[derive(Debug)]
pub struct IsvError {
    pub code: Code,
    pub message: String,
}

impl IsvError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: domain::benefits::fields::clip_message(&message.into()) }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "benefit ISV API failed");
        Self::new(Code::UnknownException, "internal error; it has been logged, try again")
    }

    fn signature(e: SignatureError) -> Self {
        Self::new(Code::InvalidSignature, format!("Signature: {e}"))
    }

    pub fn body(&self) -> Value {
        json!({ "success": false, "resultCode": self.code.as_str(), "resultMessage": self.message })
    }
}

impl From<InvalidField> for IsvError {
    fn from(e: InvalidField) -> Self {
        IsvError::new(Code::ParamIllegal, e.to_string())
    }
}

/// The one mapping of the domain's refusals to the documented codes.
impl From<BenefitError> for IsvError {
    fn from(e: BenefitError) -> Self {
        use BenefitError::*;
        let code = match &e {
            Field(_) | UnknownTemplate | ClientCodeNotAllowed(_) | RequestIdConflict => Code::ParamIllegal,
            NotSynced | NotStarted | Ended | BudgetExhausted(_) | IssueReversed | NotReversible(_) | Expired => Code::ProcessFail,
            UnknownIssue => Code::IssueRequestIdNotExist,
            UnknownSync => Code::SyncRequestIdNotExist,
            UnknownPlatform => Code::InvalidClient,
            Store(_) | Invalid(_) | TemplateExists | Immutable(_) | SyncInFlight | UnknownBenefit | AlreadyUsed | Reversed | WrongPin => {
                return IsvError::internal(e);
            }
        };
        IsvError::new(code, e.to_string())
    }
}

/// A request body as an object whose field names are matched case-insensitively (§2.5: "field
/// names are case-insensitive").
pub struct Fields(Map<String, Value>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Fields, IsvError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Fields(map)),
            Ok(_) => Err(IsvError::new(Code::ParamIllegal, "the body must be a JSON object")),
            Err(e) => Err(IsvError::new(Code::ParamIllegal, format!("the body is not JSON: {e}"))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).or_else(|| self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)).filter(|v| !v.is_null())
    }

    /// A string field, absent or null as `None`; another JSON type is refused.
    pub fn text(&self, name: &'static str) -> Result<Option<&str>, InvalidField> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(InvalidField::new(name, "must be a string")),
        }
    }

    pub fn required(&self, name: &'static str) -> Result<&str, InvalidField> {
        self.text(name)?.ok_or(InvalidField::new(name, "is required"))
    }

    /// A whole number, as a JSON number or a string of digits.
    pub fn integer(&self, name: &'static str) -> Result<Option<i64>, InvalidField> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(InvalidField::new(name, "must be a whole number")),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(s.parse().map_err(|_| InvalidField::new(name, "must be a whole number"))?))
            }
            Some(_) => Err(InvalidField::new(name, "must be a whole number")),
        }
    }
}

/// A request whose signature holds: the platform, its keys, and what was signed.
pub struct Verified {
    pub client_id: String,
    pub fields: Fields,
}

/// The caller as far as we know it, for signing the answer: `None` when the `Client-Id` is
/// missing or unknown (there is no key the caller could verify ours with, so the refusal goes
/// unsigned).
struct Caller {
    client_id: String,
    keys: PlatformKeys,
}

const MAX_BODY: usize = 64 * 1024;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the request's method, media type, client, time and signature (§2.5).
async fn verify(ctx: &BenefitsContext, method: &Method, uri: &str, headers: &HeaderMap, body: &[u8]) -> Result<(Caller, Verified), (Option<Caller>, IsvError)> {
    let client_id = header_str(headers, alipay_plus::HEADER_CLIENT_ID).unwrap_or_default().trim().to_string();
    let caller = if client_id.is_empty() {
        None
    } else {
        match ctx.keys.for_platform(&client_id).await {
            Ok(Some(keys)) => Some(Caller { client_id: client_id.clone(), keys }),
            Ok(None) => None,
            Err(e) => return Err((None, IsvError::internal(e))),
        }
    };
    let refuse = |caller, e| Err((caller, e));
    if *method != Method::POST {
        return refuse(caller, IsvError::new(Code::MethodNotSupported, "the benefit APIs take POST only"));
    }
    if let Some(ct) = header_str(headers, header::CONTENT_TYPE.as_str()) {
        if !ct.trim().to_ascii_lowercase().starts_with("application/json") {
            return refuse(caller, IsvError::new(Code::MediaTypeNotAcceptable, "Content-Type must be application/json"));
        }
    }
    let Some(caller) = caller else {
        let why = if client_id.is_empty() { "the Client-Id header is required" } else { "no platform has this Client-Id" };
        return refuse(None, IsvError::new(Code::InvalidClient, why));
    };
    let checked = (|| {
        let time = header_str(headers, alipay_plus::HEADER_REQUEST_TIME).ok_or(SignatureError::Malformed("the Request-Time header is required"))?;
        alipay_plus::check_time(time, ctx.window, domain::now_ms())?;
        let signature = header_str(headers, alipay_plus::HEADER_SIGNATURE).ok_or(SignatureError::Malformed("the Signature header is required"))?;
        let parsed = alipay_plus::parse_header(signature)?;
        let key = caller.keys.verifying(parsed.key_version.as_deref()).ok_or(SignatureError::Malformed("no key of the platform has this keyVersion"))?;
        alipay_plus::verify(&key.key, signature, method.as_str(), uri, &client_id, time, body).map(|_| ())
    })();
    if let Err(e) = checked {
        return refuse(Some(caller), IsvError::signature(e));
    }
    match Fields::parse(body) {
        Ok(fields) => Ok((caller, Verified { client_id, fields })),
        Err(e) => refuse(Some(caller), e),
    }
}

/// Signs `body` as the answer to `uri` for `client_id` with our active key (on the blocking
/// pool: an RSA signature is the costliest step of an exchange).
async fn signed(client_id: String, key: SigningKey, method: Method, uri: String, body: Vec<u8>) -> Response {
    let signing = tokio::task::spawn_blocking(move || {
        let time = alipay_plus::format_time(domain::now_ms());
        let signature = alipay_plus::sign_header(&key.key, key.version as u32, method.as_str(), &uri, &client_id, &time, &body);
        (client_id, time, signature, body)
    })
    .await;
    let Ok((client_id, time, signature, body)) = signing else {
        tracing::error!("signing a benefit API answer failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    for (name, value) in [(alipay_plus::HEADER_CLIENT_ID, client_id), (alipay_plus::HEADER_RESPONSE_TIME, time), (alipay_plus::HEADER_SIGNATURE, signature)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    res
}

fn unsigned(body: Value) -> Response {
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    res
}

/// One ISV exchange: verify the request, run `handle`, sign its answer (or the refusal).
pub(crate) async fn exchange<F, Fut>(ctx: &BenefitsContext, req: axum::extract::Request, api: &'static str, handle: F) -> Response
where
    F: FnOnce(Verified) -> Fut,
    Fut: std::future::Future<Output = Result<Value, IsvError>>,
{
    let (parts, body) = req.into_parts();
    let uri = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| parts.uri.path().to_string());
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return unsigned(IsvError::new(Code::ParamIllegal, "the body is larger than 64 KiB").body()),
    };
    let (caller, answer) = match verify(ctx, &parts.method, &uri, &parts.headers, &body).await {
        Ok((caller, verified)) => {
            let answer = handle(verified).await.unwrap_or_else(|e| {
                tracing::info!(api, code = e.code.as_str(), message = %e.message, "benefit API refused");
                e.body()
            });
            (Some(caller), answer)
        }
        Err((caller, e)) => {
            tracing::info!(api, code = e.code.as_str(), message = %e.message, "benefit API request refused");
            (caller, e.body())
        }
    };
    let Some(caller) = caller else { return unsigned(answer) };
    let Some(key) = caller.keys.signing else {
        tracing::error!(client_id = %caller.client_id, "no active key of ours for this platform: answering unsigned");
        return unsigned(IsvError::new(Code::UnknownException, "the ISV has no active signing key").body());
    };
    signed(caller.client_id, key, parts.method, uri, answer.to_string().into_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_refusal_maps_to_a_documented_code() {
        use domain::benefits::BenefitError::*;
        let documented: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let all = [
            Field(InvalidField::new("userId", "is required")),
            Invalid("x".into()),
            UnknownPlatform,
            UnknownTemplate,
            TemplateExists,
            Immutable("clientCode"),
            SyncInFlight,
            UnknownSync,
            NotSynced,
            ClientCodeNotAllowed("TNG".into()),
            NotStarted,
            Ended,
            BudgetExhausted(1),
            RequestIdConflict,
            IssueReversed,
            UnknownIssue,
            NotReversible("USED"),
            UnknownBenefit,
            AlreadyUsed,
            Expired,
            Reversed,
            WrongPin,
        ];
        for e in all {
            let text = e.to_string();
            let mapped = IsvError::from(e);
            assert!(documented.contains(&mapped.code.as_str()), "{text}");
            assert!(mapped.message.chars().count() <= 256);
        }
        assert_eq!(IsvError::from(BudgetExhausted(2)).code, Code::ProcessFail);
        assert_eq!(IsvError::from(RequestIdConflict).code, Code::ParamIllegal);
        assert_eq!(Code::UnknownException.result_status(), "U");
        assert!(Code::ALL.iter().filter(|c| c.result_status() == "U").count() == 1);
    }

    #[test]
    fn field_names_are_case_insensitive_and_types_are_checked() {
        let f = Fields::parse(br#"{"BenefitIssueRequestId":"R-1","quantity":"3","userId":7,"clientCode":null}"#).unwrap();
        assert_eq!(f.required("benefitIssueRequestId"), Ok("R-1"));
        assert_eq!(f.integer("quantity"), Ok(Some(3)));
        assert!(f.text("userId").is_err());
        assert_eq!(f.text("clientCode"), Ok(None));
        assert!(Fields::parse(b"[1]").is_err() && Fields::parse(b"{").is_err());
    }
}
