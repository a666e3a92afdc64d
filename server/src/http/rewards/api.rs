//! Request In and Request Out. The order of the checks in [`request_in`] is the documented one:
//! route, API key, envelope and Data (into a `Command`), the action switched on, the Data
//! signature (also for a retry), a retry of an earlier command (answered with its TicketId),
//! then the ticket is stored with its job and the TicketId answered.

use axum::{
    body::Body,
    extract::{Request, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    Json,
};
use domain::rewards::{
    envelope::{self, Action},
    tickets::{self, NewTicket, Payout, PrizeWon, Submitted, Ticket},
    Command, Envelope,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{
    openapi::{
        schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
        Object,
    },
    ToSchema,
};

use super::{authenticate, RewardsError, RewardsFailure, IDEMPOTENCY_KEY_HEADER};
use crate::{http::AppState, rewards::KeyError};

fn fixed(value: &str) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some([value])).build()
}
fn subject() -> Object {
    fixed(envelope::SUBJECT)
}
fn subject_type() -> Object {
    fixed(envelope::SUBJECT_TYPE)
}
fn subject_identifier() -> Object {
    fixed(envelope::SUBJECT_IDENTIFIER)
}
fn action() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(Action::ALL.map(Action::as_str))).description(Some("One of the six commands")).build()
}
fn text() -> Object {
    ObjectBuilder::new().schema_type(Type::String).max_length(Some(envelope::MAX_TEXT_CHARS)).build()
}
/// An id: a string of at most 64 visible characters, or a whole number (`0`, `""` and null are no
/// value).
fn id() -> Schema {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(envelope::MAX_ID_CHARS))
        .pattern(Some(crate::http::openapi::fields::NO_CONTROL))
        .build();
    let number = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).build();
    let none = ObjectBuilder::new().schema_type(Type::Null).build();
    Schema::OneOf(OneOfBuilder::new().item(text).item(number).item(none).build())
}
/// The member: a Customer ID at the client (1 to 64 visible characters, or a whole number; `0`
/// is no value).
fn member_id() -> Schema {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(domain::identity::CustomerId::MAX_CHARS))
        .pattern(Some(format!(r"^(?!\s*0\s*$){}", &crate::http::openapi::fields::PRINTABLE[1..])))
        .build();
    let number = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).build();
    Schema::OneOf(OneOfBuilder::new().item(text).item(number).description(Some("The member's Customer ID at the client")).build())
}
fn trx_amount() -> Schema {
    crate::http::openapi::fields::or_null(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(envelope::MAX_AMOUNT)).description(Some("VND")).build())
}

/// The task service's route, the same three in every message and answer.
#[derive(Serialize, Deserialize, ToSchema)]
#[allow(non_snake_case)] // the task service's member names
pub struct Route {
    #[schema(schema_with = subject)]
    Subject: String,
    #[schema(schema_with = subject_type)]
    SubjectType: String,
    #[schema(schema_with = subject_identifier)]
    SubjectIdentifier: String,
}

impl Route {
    fn ours() -> Route {
        Route { Subject: envelope::SUBJECT.into(), SubjectType: envelope::SUBJECT_TYPE.into(), SubjectIdentifier: envelope::SUBJECT_IDENTIFIER.into() }
    }
}

/// A command (counterparts.md §3.2): the envelope routes it, `Data` carries it, signed.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)] // the wire shape, for the document; read by `Envelope::try_from`
pub struct TaskCommand {
    #[serde(flatten)]
    route: Route,
    #[schema(schema_with = action)]
    Action: String,
    /// The examples send `"null"`.
    #[schema(schema_with = text)]
    ResourceType: String,
    #[schema(schema_with = text)]
    Resource: String,
    #[schema(schema_with = text)]
    ResourceId: String,
    #[schema(max_length = 200)]
    ScopeSource: Option<String>,
    #[schema(schema_with = task_data)]
    Data: TaskData,
}

/// [`TaskData`], with `trxId` or `refference` (what makes a retried command the same one; a
/// check-in, keyed by its day, may leave both out).
fn task_data() -> Schema {
    use utoipa::{openapi::schema::{AllOfBuilder, AnyOfBuilder}, PartialSchema};
    let key = |name: &str| ObjectBuilder::new().schema_type(Type::Object).required(name).build();
    Schema::AllOf(
        AllOfBuilder::new()
            .item(TaskData::schema())
            .item(Schema::AnyOf(AnyOfBuilder::new().item(key("trxId")).item(key("refference")).build()))
            .build(),
    )
}

/// What the command says. `memberId` always; `trxId` or `refference` (not for dailycheckin: a
/// member's day is its key); rows with `trxAmount` for transaction and transactionreferral;
/// `userIdShare` for registerreferral. `signature` covers the other members (README, "Reward
/// tasks").
#[derive(Deserialize, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document; read by `Command::try_from`
pub struct TaskData {
    #[schema(schema_with = member_id)]
    member_id: String,
    #[schema(schema_with = id)]
    trx_id: Option<String>,
    #[schema(schema_with = id)]
    refference: Option<String>,
    #[schema(max_length = 100)]
    member_name: Option<String>,
    #[schema(schema_with = id)]
    member_qtag_phone: Option<String>,
    #[schema(schema_with = id)]
    user_id: Option<String>,
    /// The referrer's Customer ID.
    #[schema(schema_with = id)]
    user_id_share: Option<String>,
    #[schema(schema_with = id)]
    user_from_status: Option<String>,
    #[schema(schema_with = id)]
    device_type: Option<String>,
    #[schema(schema_with = id)]
    install_id: Option<String>,
    #[schema(max_items = 100)]
    data: Option<Vec<TaskRow>>,
    /// The client's signature of the other members.
    signature: String,
}

/// One row of a command.
#[derive(Deserialize, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // the wire shape, for the document
pub struct TaskRow {
    #[schema(schema_with = trx_amount)]
    trx_amount: Option<i64>,
    /// `YYYY-MM-DD HH:MM:SS` (or with dashes, or `T`, or a day alone), in the client's zone.
    trx_date: Option<String>,
    #[schema(schema_with = id)]
    product_id: Option<String>,
}

/// Which ticket to read.
#[derive(Deserialize, ToSchema)]
#[allow(non_snake_case, dead_code)] // the wire shape, for the document
pub struct TicketQuery {
    #[schema(min_length = 1, max_length = 64)]
    TicketId: String,
    #[serde(flatten)]
    route: Route,
}

/// The answer to a command or a ticket query.
#[derive(Serialize, ToSchema)]
#[allow(non_snake_case)] // the task service's member names
pub struct TicketAnswer {
    TicketId: String,
    #[serde(flatten)]
    route: Route,
    #[schema(schema_with = action)]
    Action: &'static str,
    ResourceType: &'static str,
    Resource: &'static str,
    ResourceId: &'static str,
    /// Request In: null. Request Out: the ticket's status and, once paid, what it paid.
    Result: Option<TicketResult>,
    #[schema(pattern = "^success$")]
    Status: &'static str,
    Message: &'static str,
    #[schema(minimum = 200, maximum = 200)]
    StatusCode: u16,
}

/// A ticket's status and result.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketResult {
    #[schema(pattern = "^(queued|processing|success|failed|dead)$")]
    ticket_status: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
    points: Option<i64>,
    /// Each posting the ticket paid (README "Reward tasks").
    #[schema(value_type = Option<Vec<Object>>)]
    rewards: Option<Vec<Payout>>,
    #[schema(value_type = Option<Object>)]
    prize: Option<PrizeWon>,
    streak: Option<i64>,
    created_at: String,
    finished_at: Option<String>,
}

/// The largest request body.
const MAX_BODY: usize = 64 * 1024;
/// The task service's success message (counterparts.md §3.3).
const SUCCESS: &str = "Success process data(Success)";

async fn body_of(request: Request<Body>) -> Result<(HeaderMap, String, Value), RewardsError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| RewardsError::TooLarge)?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| RewardsError::BadRequest("Invalid request: the body is not UTF-8".into()))?;
    let message = serde_json::from_str(&text).map_err(|e| RewardsError::BadRequest(format!("Invalid request: the body is not JSON ({e})")))?;
    Ok((parts.headers, text, message))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, RewardsError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_string())).ok_or_else(|| RewardsError::BadRequest("Invalid request: Idempotency-Key must be 1 to 255 visible ASCII characters".into()))
}

/// The envelope of every answer, with the ticket's action and result.
fn answer(ticket_id: &str, action: Action, result: Option<TicketResult>) -> Json<TicketAnswer> {
    Json(TicketAnswer {
        TicketId: ticket_id.to_string(),
        route: Route::ours(),
        Action: action.as_str(),
        ResourceType: "data",
        Resource: "none",
        ResourceId: "none",
        Result: result,
        Status: "success",
        Message: SUCCESS,
        StatusCode: 200,
    })
}

fn accepted(submitted: &Submitted, action: Action) -> Response {
    let mut res = answer(&submitted.ticket_id, action, None).into_response();
    if submitted.replayed {
        res.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    res
}

/// Submit a reward task (Request In).
///
/// `Client-Id` and `Api-Key` name the client; `Data.signature` must verify with the client's
/// key. The command is stored once (a retry answers its first TicketId; an `Idempotency-Key` or
/// business key reused for another command is 409) and paid into the ledger by the worker.
#[utoipa::path(
    post, path = "/saas/requestin", tag = "Reward tasks", operation_id = "requestIn",
    security(("rewardClientId" = [], "rewardApiKey" = [])),
    request_body = TaskCommand,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters (the clients send MD5(body + date))", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 200, description = "Stored: its TicketId", body = TicketAnswer),
        (status = 400, description = "Not a route of ours, or a field refused", body = RewardsFailure),
        (status = 401, description = "Unknown client, wrong API key, or a signature that does not verify", body = RewardsFailure),
        (status = 403, description = "The action is switched off for this client", body = RewardsFailure),
        (status = 409, description = "A key reused for another command", body = RewardsFailure),
        (status = 413, description = "Over 64 KiB", body = RewardsFailure),
    )
)]
pub async fn request_in(State(state): State<AppState>, request: Request<Body>) -> Result<Response, RewardsError> {
    let now = state.rewards.now_ms();
    let (headers, raw, message) = body_of(request).await?;
    let action = envelope::route(&message)?;
    let client = authenticate(&state, &headers)?;
    let envelope = Envelope::try_from(&message)?;
    let command = Command::try_from(&envelope)?;
    if !client.client.rules.enabled(action) {
        return Err(RewardsError::Forbidden(format!("The action {action} is not enabled for this client")));
    }
    let mut new = NewTicket::of(&client.client, &command, raw, idempotency_key(&headers)?, true, now);
    // The signature first, also for a retry: a wrong one is refused whatever was stored before.
    match client.verify(&state.rewards.http, &envelope.data).await {
        Ok(()) => {}
        Err(KeyError::Unavailable(why)) => {
            // stored now, verified by the worker before anything is paid
            tracing::warn!(client = %client.client.client_id, error = %why, "reward task accepted unverified: the key URL did not answer");
            new.verified = false;
        }
        Err(KeyError::Mismatch) => return Err(RewardsError::Unauthorized("Invalid signature".into())),
        Err(e @ (KeyError::Malformed(_) | KeyError::KeyRefused(_))) => return Err(RewardsError::Unauthorized(format!("Invalid signature: {e}"))),
    }
    // A retry of a stored command: its first ticket.
    if let Some(earlier) = tickets::find_earlier(&state.db, &new).await? {
        return Ok(accepted(&earlier, action));
    }
    let submitted = tickets::submit(&state.db, &new, state.rewards.max_attempts, now).await?;
    if !submitted.replayed {
        state.worker.wake();
    }
    Ok(accepted(&submitted, action))
}

/// What Request Out tells of a ticket.
fn result_of(t: &Ticket) -> TicketResult {
    let paid = t.result.as_ref();
    TicketResult {
        ticket_status: t.state.as_str(),
        reason: t.reason.map(|r| r.as_str()),
        message: t.message.clone(),
        points: paid.map(|r| r.points),
        rewards: paid.map(|r| r.rewards.clone()),
        prize: paid.and_then(|r| r.prize),
        streak: paid.and_then(|r| r.streak),
        created_at: domain::clock::iso_utc(t.created_at_ms),
        finished_at: t.finished_at_ms.map(domain::clock::iso_utc),
    }
}

/// A ticket's status and result (Request Out).
///
/// Only the client's own tickets.
#[utoipa::path(
    post, path = "/saas/requestout", tag = "Reward tasks", operation_id = "requestOut",
    security(("rewardClientId" = [], "rewardApiKey" = [])),
    request_body = TicketQuery,
    responses(
        (status = 200, description = "The ticket", body = TicketAnswer),
        (status = 400, description = "Not a route of ours, or no TicketId", body = RewardsFailure),
        (status = 401, description = "Unknown client or wrong API key", body = RewardsFailure),
        (status = 404, description = "No ticket of yours has this id", body = RewardsFailure),
        (status = 413, description = "Over 64 KiB", body = RewardsFailure),
    )
)]
pub async fn request_out(State(state): State<AppState>, request: Request<Body>) -> Result<Response, RewardsError> {
    let (headers, _, message) = body_of(request).await?;
    envelope::route_request_out(&message)?;
    let client = authenticate(&state, &headers)?;
    let ticket_id = match message.get("TicketId") {
        Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 64 => id.trim().to_string(),
        _ => return Err(RewardsError::BadRequest("Invalid request: TicketId is required (a string)".into())),
    };
    let ticket = tickets::find_for_client(&state.db, &client.client.client_id, &ticket_id)
        .await?
        .ok_or_else(|| RewardsError::NotFound("Ticket not found".into()))?;
    Ok(answer(&ticket.ticket_id, ticket.action, Some(result_of(&ticket))).into_response())
}
