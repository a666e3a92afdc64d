//! The handlers; see the module table in `mod.rs`. Rules live in `domain::tikivip`.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Json,
};
use domain::{
    signing::{replay::SeenNonces, tikivip as sig, TimestampWindow},
    tikivip::{
        customers::{self, CustomerRequest},
        partners::{self, Partner},
        payments::{self, Report, Status},
        TikiError,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower_sessions::Session;
use utoipa::{
    openapi::{
        schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
        Object,
    },
    IntoParams, ToSchema,
};

use crate::http::{
    input::{self, Rejected, TIKIVIP_BODY_LIMIT},
    AppState,
};

/// A signed body (at most 64 KiB), refused in Tiki's shape.
type Signed = input::Bytes<TikiAnswer, TIKIVIP_BODY_LIMIT>;
/// A query string, refused in Tiki's shape.
pub(super) type Query<T> = input::Query<T, TikiAnswer>;

/// A Tiki answer: `{"code":0,"message":"success",…}` or `{"code":N,"message":…}`.
pub struct TikiAnswer(StatusCode, Value);

impl TikiAnswer {
    fn ok(extra: Value) -> Self {
        let mut body = json!({ "code": 0, "message": "success" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        TikiAnswer(StatusCode::OK, body)
    }

    fn error(e: &TikiError) -> Self {
        if let TikiError::Store(s) = e {
            tracing::error!(error = %s, "Tiki VIP API failed");
            return TikiAnswer(StatusCode::OK, json!({ "code": 2, "message": "system error; it has been logged" }));
        }
        TikiAnswer(StatusCode::OK, json!({ "code": e.code(), "message": e.to_string() }))
    }

    /// `{"code":N,"message":…}` for a refusal no [`TikiError`] names (reconciliation: no such part).
    pub(super) fn failure(code: u8, message: impl Into<String>) -> Self {
        TikiAnswer(StatusCode::OK, json!({ "code": code, "message": message.into() }))
    }

    fn unsigned(message: impl Into<String>) -> Self {
        TikiAnswer(StatusCode::UNAUTHORIZED, json!({ "code": 1, "message": message.into() }))
    }
}

/// Input the framework refused: a body over the limit is refused before its signature is read,
/// so as unsigned (401, code 1); a path and query over 8 KiB is HTTP 414, code 1; a query that
/// does not parse is Tiki's invalid-request code.
impl From<Rejected> for TikiAnswer {
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::TooLarge { .. } => TikiAnswer::unsigned(format!("{r}; it was not checked")),
            Rejected::UriTooLong { .. } => TikiAnswer(StatusCode::URI_TOO_LONG, json!({ "code": 1, "message": r.to_string() })),
            Rejected::ContentType(m) | Rejected::Malformed(m) => TikiAnswer::error(&TikiError::Invalid(m)),
        }
    }
}

impl IntoResponse for TikiAnswer {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<TikiError> for TikiAnswer {
    fn from(e: TikiError) -> Self {
        TikiAnswer::error(&e)
    }
}

/// The partner that signed this request, or why it is refused.
pub(super) async fn signed_by(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Partner, TikiAnswer> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let client_id = header(sig::HEADER_CLIENT_ID);
    if client_id.is_empty() {
        return Err(TikiAnswer::unsigned("X-Tikivip-Client-Id is required"));
    }
    let partner = partners::by_client_id(&state.db, client_id).await?.ok_or_else(|| TikiAnswer::unsigned("unknown X-Tikivip-Client-Id"))?;
    let ts = sig::parse_timestamp(header(sig::HEADER_TIMESTAMP)).map_err(|e| TikiAnswer::unsigned(e.to_string()))?;
    sig::verify(partner.client_secret.as_bytes(), ts, client_id, body, header(sig::HEADER_SIGNATURE), TimestampWindow::FIVE_MINUTES, domain::now_ms())
        .map_err(|e| TikiAnswer::unsigned(format!("X-Tikivip-Signature: {e}")))?;
    Ok(partner)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TikiAnswer> {
    serde_json::from_slice(body).map_err(|e| TikiError::Invalid(format!("the body is not the expected JSON: {e}")).into())
}

/// Tiki's answer: `code` 0 and `message` "success" with the operation's fields, or a failure's
/// code — 1 invalid request, 2 system error, 3 not found, 4 not this partner's, 5 wrong amount,
/// 6 cancelled — and why. Failures are HTTP 200 (Tiki's convention), except a request that is
/// not signed right: HTTP 401, code 1.
#[derive(ToSchema)]
#[allow(dead_code)] // the wire shape, for the document; answers are built by `TikiAnswer`
pub struct TikiReply<T> {
    #[schema(minimum = 0, maximum = 6)]
    code: u8,
    message: String,
    /// Present when `code` is 0.
    data: Option<T>,
}

/// A refusal: `{"code":N,"message":…}`.
#[derive(ToSchema)]
#[allow(dead_code)] // the wire shape, for the document
pub struct TikiFailure {
    #[schema(minimum = 1, maximum = 6)]
    code: u8,
    message: String,
}

/// A Vietnamese mobile number, as a string or a number (a number's lost leading 0 is put back).
fn phone_schema() -> Schema {
    let text = ObjectBuilder::new().schema_type(Type::String).pattern(Some(domain::identity::PhoneNumber::PATTERN)).build();
    // a mobile number whose leading 0 a JSON number lost
    let number = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(300_000_000)).maximum(Some(999_999_999)).build();
    Schema::OneOf(OneOfBuilder::new().item(text).item(number).description(Some("The customer's phone: 09xxxxxxxx, 849xxxxxxxx or +849xxxxxxxx")).build())
}

fn fullname_schema() -> Schema {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(customers::MAX_FULL_NAME))
        .pattern(Some(crate::http::openapi::fields::NO_CONTROL))
        .description(Some(format!("At most {} characters, no control characters (longer is refused, not cut)", customers::MAX_FULL_NAME)))
        .build();
    crate::http::openapi::fields::or_null(text)
}

fn identify_code_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(customers::MAX_IDENTIFY_CODE))
        .pattern(Some(crate::http::openapi::fields::PRINTABLE))
        .description(Some("The partner's id for its customer: 1 to 64 characters, no control characters"))
        .build()
}

/// A customer to open the webview for.
#[derive(Deserialize, ToSchema)]
pub struct WebviewRequest {
    #[schema(schema_with = identify_code_schema, required = true)]
    identify_code: Option<String>,
    /// The doc says number; both a number and a string are accepted.
    #[schema(schema_with = phone_schema, required = true)]
    identify_phone: Option<Value>,
    #[schema(schema_with = fullname_schema)]
    identify_fullname: Option<String>,
}

/// The webview link.
#[derive(Serialize, ToSchema)]
pub struct WebviewLink {
    /// Single use, valid for minutes: open it in the webview.
    url_open: String,
    url_checkout_result: String,
    request_id: String,
}

/// A single-use link into the VIP webview for a customer.
///
/// Signed by the payment partner (`X-Tikivip-*`). Each signed request is accepted once (a
/// replayed one is refused as unsigned).
#[utoipa::path(
    post, path = "/miniapp/tikivip/webview", tag = "Tiki VIP", operation_id = "tikivipWebview",
    security(("tikivipClientId" = [], "tikivipTimestamp" = [], "tikivipSignature" = [])),
    request_body = WebviewRequest,
    responses(
        (status = 200, description = "`code` 0 with the link, or a refusal's code", body = TikiReply<WebviewLink>),
        (status = 401, description = "Not signed right, replayed, or over 64 KiB (code 1)", body = TikiFailure),
    )
)]
pub async fn webview(State(state): State<AppState>, headers: HeaderMap, input::Bytes(body, ..): Signed) -> Result<TikiAnswer, TikiAnswer> {
    let partner = signed_by(&state, &headers, &body).await?;
    let signature = headers.get(sig::HEADER_SIGNATURE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let fresh = SeenNonces::new(state.db.clone())
        .first_sighting("tikivip.webview", signature, TimestampWindow::FIVE_MINUTES.retention_ms(), domain::now_ms())
        .await
        .map_err(|e| TikiError::Store(e))?;
    if !fresh {
        return Err(TikiAnswer::unsigned("this signed request was already used"));
    }
    let req: WebviewRequest = parse(&body)?;
    let phone = match req.identify_phone {
        Some(Value::String(s)) => s,
        // a number loses the leading 0 of 0912…: put it back; 84912… parses as it is
        Some(Value::Number(n)) if n.to_string().len() == 9 => format!("0{n}"),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let customer = CustomerRequest { identify_code: req.identify_code.unwrap_or_default(), phone, full_name: req.identify_fullname };
    let vip = &state.tikivip;
    let link = customers::open_link(&state.db, &partner.partner_code, &customer, vip.link_ttl_ms, domain::now_ms()).await?;
    Ok(TikiAnswer::ok(json!({ "data": WebviewLink {
        url_open: format!("{}/apps/vn.tiki.vip/open?t={}", vip.public_url, link.token),
        url_checkout_result: vip.checkout_result_url(),
        request_id: link.request_id,
    }})))
}

/// A payment's status, reported by the payment partner.
#[derive(Deserialize, ToSchema)]
pub struct IpnRequest {
    /// Tiki's transaction id, from the checkout.
    #[schema(required = true, min_length = 1)]
    reference_transaction_id: Option<String>,
    /// VND; must equal the payment's amount (code 5 otherwise).
    #[schema(required = true)]
    transaction_amount: Option<i64>,
    /// The partner's own id for the payment.
    #[schema(required = true, min_length = 1)]
    transaction_id: Option<String>,
    #[schema(required = true, pattern = "^(SUCCESS|FAILURE|PENDING)$")]
    status: Option<String>,
    partner_banking_method: Option<String>,
}

/// The IPN's answer data.
#[derive(Serialize, ToSchema)]
pub struct IpnApplied {
    transaction_id: String,
}

/// The payment partner reports a payment's status (IPN).
///
/// Signed by the payment partner. Applied once however often it comes; its code tells the
/// partner what to do (0 done; 1, 3–6: refund the customer).
#[utoipa::path(
    post, path = "/miniapp/tikivip/payment/ipn", tag = "Tiki VIP", operation_id = "tikivipIpn",
    security(("tikivipClientId" = [], "tikivipTimestamp" = [], "tikivipSignature" = [])),
    request_body = IpnRequest,
    responses(
        (status = 200, description = "`code` 0 (applied, or already), or a refusal's code", body = TikiReply<IpnApplied>),
        (status = 401, description = "Not signed right, or over 64 KiB (code 1)", body = TikiFailure),
    )
)]
pub async fn ipn(State(state): State<AppState>, headers: HeaderMap, input::Bytes(body, ..): Signed) -> Result<TikiAnswer, TikiAnswer> {
    let partner = signed_by(&state, &headers, &body).await?;
    let req: IpnRequest = parse(&body)?;
    let invalid = |m: &str| TikiAnswer::from(TikiError::Invalid(m.into()));
    let tiki_id = req.reference_transaction_id.filter(|s| !s.is_empty()).ok_or_else(|| invalid("reference_transaction_id is required"))?;
    let transaction_id = req.transaction_id.filter(|s| !s.is_empty()).ok_or_else(|| invalid("transaction_id is required"))?;
    let amount = req.transaction_amount.ok_or_else(|| invalid("transaction_amount is required"))?;
    let status = match req.status.as_deref() {
        Some("SUCCESS") => Status::Success,
        Some("FAILURE") => Status::Failure,
        Some("PENDING") => Status::Pending,
        _ => return Err(invalid("status must be SUCCESS, FAILURE or PENDING")),
    };
    let report = Report {
        partner_code: partner.partner_code,
        tiki_transaction_id: tiki_id,
        partner_transaction_id: Some(transaction_id.clone()),
        amount: Some(amount),
        status,
        banking_method: req.partner_banking_method,
    };
    let applied = payments::apply_report(&state.db, &state.tikivip.plans, &report, domain::now_ms()).await?;
    if applied.changed {
        tracing::info!(payment = %applied.payment.tiki_transaction_id, status = applied.payment.status.as_str(), "IPN applied");
    }
    Ok(TikiAnswer::ok(json!({ "data": IpnApplied { transaction_id } })))
}

/// The payment to read.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    /// Tiki's transaction id.
    #[param(required = true, min_length = 1)]
    tiki_transaction_id: Option<String>,
}

/// A payment as we know it: Tiki's flat answer (the fields are absent on a failure's code).
#[derive(Serialize, ToSchema)]
pub struct TransactionReply {
    #[schema(minimum = 0, maximum = 6)]
    code: u8,
    message: &'static str,
    tiki_transaction_id: Option<String>,
    partner_transaction_id: Option<String>,
    #[schema(pattern = "^(PENDING|SUCCESS|FAILURE|CANCELLED)$")]
    status: Option<&'static str>,
    amount: Option<i64>,
}

/// A payment as we know it.
///
/// Signed by the payment partner (the empty body). Code 3 for an unknown id, 4 for another
/// partner's payment, 6 for a cancelled one.
#[utoipa::path(
    get, path = "/miniapp/tikivip/transaction", tag = "Tiki VIP", operation_id = "tikivipTransaction",
    security(("tikivipClientId" = [], "tikivipTimestamp" = [], "tikivipSignature" = [])),
    params(TransactionQuery),
    responses(
        (status = 200, description = "`code` 0 with the payment, or a refusal's code", body = TransactionReply),
        (status = 401, description = "Not signed right (code 1)", body = TikiFailure),
    )
)]
pub async fn transaction(State(state): State<AppState>, headers: HeaderMap, input::Query(q, ..): Query<TransactionQuery>) -> Result<TikiAnswer, TikiAnswer> {
    let partner = signed_by(&state, &headers, b"").await?;
    let id = q.tiki_transaction_id.filter(|s| !s.is_empty()).ok_or_else(|| TikiAnswer::from(TikiError::Invalid("tiki_transaction_id is required".into())))?;
    let p = payments::find(&state.db, &id).await?.ok_or(TikiError::NotFound)?;
    if p.partner_code != partner.partner_code {
        return Err(TikiError::OtherPartner.into());
    }
    if p.status == Status::Cancelled {
        return Err(TikiError::Cancelled.into());
    }
    let reply = TransactionReply {
        code: 0,
        message: "success",
        tiki_transaction_id: Some(p.tiki_transaction_id),
        partner_transaction_id: p.partner_transaction_id,
        status: Some(p.status.as_str()),
        amount: Some(p.amount),
    };
    Ok(TikiAnswer(StatusCode::OK, json!(reply)))
}

#[derive(Deserialize)]
pub struct OpenQuery {
    t: Option<String>,
    lang: Option<String>,
}

/// `url_open`: spends the single-use link and opens the webview as that customer.
pub async fn open(State(state): State<AppState>, session: Session, axum::extract::Query(q): axum::extract::Query<OpenQuery>) -> Response {
    let customer = match q.t.as_deref() {
        Some(t) => customers::open(&state.db, t, domain::now_ms()).await,
        None => Ok(None),
    };
    match customer {
        Ok(Some(c)) => {
            if app::session::open_tikivip(&session, &c.id).await.is_err() {
                return crate::http::oidc::page::error(StatusCode::SERVICE_UNAVAILABLE, "the service is unavailable; try again shortly", None);
            }
            let lang = q.lang.as_deref().and_then(app::i18n::Lang::parse).map(|l| format!("?lang={}", l.code())).unwrap_or_default();
            Redirect::to(&format!("/apps/vn.tiki.vip{lang}")).into_response()
        }
        Ok(None) => crate::http::oidc::page::error(StatusCode::GONE, "this link has expired or was already used; open VIP from your app again", None),
        Err(e) => {
            tracing::error!(error = %e, "opening the VIP webview failed");
            crate::http::oidc::page::error(StatusCode::SERVICE_UNAVAILABLE, "the service is unavailable; try again shortly", None)
        }
    }
}
