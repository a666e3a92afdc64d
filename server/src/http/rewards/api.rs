//! Request In and Request Out. The order of the checks in [`request_in`] is the documented one:
//! route, API key, envelope and Data (into a `Command`), the action switched on, a retry of an
//! earlier command (answered with its TicketId), the Data signature, then the ticket is stored
//! with its job and the TicketId answered.

use axum::{
    body::Body,
    extract::{Request, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    Json,
};
use domain::rewards::{
    envelope::{self, Action},
    tickets::{self, NewTicket, Submitted, Ticket},
    Command, Envelope,
};
use serde_json::{json, Value};

use super::{authenticate, RewardsError, IDEMPOTENCY_KEY_HEADER};
use crate::{http::AppState, rewards::KeyError};

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
fn answer(ticket_id: &str, action: Action, result: Value) -> Json<Value> {
    Json(json!({
        "TicketId": ticket_id,
        "Subject": envelope::SUBJECT,
        "SubjectType": envelope::SUBJECT_TYPE,
        "SubjectIdentifier": envelope::SUBJECT_IDENTIFIER,
        "Action": action.as_str(),
        "ResourceType": "data",
        "Resource": "none",
        "ResourceId": "none",
        "Result": result,
        "Status": "success",
        "Message": SUCCESS,
        "StatusCode": 200,
    }))
}

fn accepted(submitted: &Submitted, action: Action) -> Response {
    let mut res = answer(&submitted.ticket_id, action, Value::Null).into_response();
    if submitted.replayed {
        res.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    res
}

/// `POST /saas/requestin`.
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
    // A retry of a stored command (same data, so a signature verified before): its first ticket.
    if let Some(earlier) = tickets::find_earlier(&state.db, &new).await? {
        return Ok(accepted(&earlier, action));
    }
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
    let submitted = tickets::submit(&state.db, &new, state.rewards.max_attempts, now).await?;
    if !submitted.replayed {
        state.worker.wake();
    }
    Ok(accepted(&submitted, action))
}

/// What Request Out tells of a ticket.
fn result_of(t: &Ticket) -> Value {
    let paid = t.result.as_ref();
    json!({
        "ticketStatus": t.state.as_str(),
        "reason": t.reason.map(|r| r.as_str()),
        "message": t.message,
        "points": paid.map(|r| r.points),
        "rewards": paid.map(|r| &r.rewards),
        "prize": paid.and_then(|r| r.prize),
        "streak": paid.and_then(|r| r.streak),
        "createdAt": domain::clock::iso_utc(t.created_at_ms),
        "finishedAt": t.finished_at_ms.map(domain::clock::iso_utc),
    })
}

/// `POST /saas/requestout`: `{TicketId, Subject, SubjectType, SubjectIdentifier}`.
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
    Ok(answer(&ticket.ticket_id, ticket.action, result_of(&ticket)).into_response())
}
