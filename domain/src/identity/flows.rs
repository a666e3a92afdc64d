//! A sign-in flow: what one visit to `/authorize` or `/embed` asked for, and how far the member
//! has got (phone → code → profile for a new member → done). The flow lives in the database
//! under a random id carried in the page URL, with a CSRF token carried in the page's forms, so
//! the embedded sign-in works with third-party cookies blocked.
//!
//! Each `submit_*` function is one step; a failure a member can fix is kept on the flow
//! ([`Flow::error`], one of [`UserError`]) so that the page shows it whether the form was sent
//! by the hydrated page or by the browser before the wasm arrived.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{
    grants::{self, CodeRequest, GrantPolicy},
    link_requests::LinkHint,
    members::{self, Member, MemberError, NewMember},
    otp::{self, OtpError, OtpPolicy},
    sms::{otp_text, SmsSender},
    DateOfBirth, Email, FullName, PhoneNumber,
};
use crate::store::{Db, StoreError};

/// How long a member has to finish signing in.
pub const FLOW_TTL_MS: i64 = 30 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Redirect to `redirect_uri?code=…&state=…` (regular web app).
    Query,
    /// `postMessage` to the framing partner page (iFrame and single-page-app modes).
    WebMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    SignIn,
    SignUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Phone,
    Code,
    Profile,
    Done,
    /// Ended without a code: linking the partner's Customer ID was refused ([`Flow::error`]).
    Failed,
}

/// A mistake the member can correct; shown on the page in their language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserError {
    InvalidPhone,
    TooManyCodes,
    InvalidCode,
    SmsFailed,
    InvalidName,
    InvalidDateOfBirth,
    InvalidEmail,
    /// ACCOUNT_ALREADY_LINKED: the member is linked to another Customer ID of this partner.
    AccountAlreadyLinked,
    /// CUSTOMER_ALREADY_LINKED: the partner's Customer ID is linked to another member.
    CustomerAlreadyLinked,
}

impl UserError {
    /// Whether the flow ends with this error (nothing the member can correct here).
    pub fn is_final(self) -> bool {
        matches!(self, UserError::AccountAlreadyLinked | UserError::CustomerAlreadyLinked)
    }

    /// The partner-facing code (SkyJoy style, UPPERCASE) and English message of a final error.
    pub fn partner_error(self) -> Option<(&'static str, &'static str)> {
        match self {
            UserError::AccountAlreadyLinked => Some(("ACCOUNT_ALREADY_LINKED", "This account is already linked in the system.")),
            UserError::CustomerAlreadyLinked => {
                Some(("CUSTOMER_ALREADY_LINKED", "This Customer ID is already linked to another SkyJoy account."))
            }
            _ => None,
        }
    }
}

fn enum_str<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn enum_parse<T: for<'de> Deserialize<'de>>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// What the authorization request asked for (validated by the HTTP layer against the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlow {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub response_mode: ResponseMode,
    pub action: Action,
    pub lang: String,
    /// The partner's customer to link after sign-in (`link_token`).
    pub link_hint: Option<LinkHint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub id: String,
    pub csrf: String,
    /// What the authorization request asked for.
    pub request: NewFlow,
    pub step: Step,
    pub phone: Option<String>,
    pub challenge_id: Option<String>,
    pub member_id: Option<String>,
    pub error: Option<UserError>,
    /// The authorization code, once the flow is done (single use, 60 s).
    pub code: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Unknown, expired, or the CSRF token does not match: start again from the partner.
    #[error("this sign-in has expired; start again")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for FlowError {
    fn from(e: sqlx::Error) -> Self {
        FlowError::Store(e.into())
    }
}

impl From<members::MemberError> for FlowError {
    fn from(e: members::MemberError) -> Self {
        match e {
            members::MemberError::Store(s) => FlowError::Store(s),
            other => FlowError::Store(StoreError::Internal(other.to_string())),
        }
    }
}

impl From<grants::GrantError> for FlowError {
    fn from(e: grants::GrantError) -> Self {
        match e {
            grants::GrantError::Store(s) => FlowError::Store(s),
            other => FlowError::Store(StoreError::Internal(other.to_string())),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

const COLUMNS: &str = "id, csrf, client_id, redirect_uri, scope, state, nonce, code_challenge, response_mode, action, lang, \
                       step, phone, challenge_id, member_id, error, code, link_hint, created_at, expires_at";

#[derive(sqlx::FromRow)]
struct FlowRow {
    id: String,
    csrf: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    response_mode: String,
    action: String,
    lang: String,
    step: String,
    phone: Option<String>,
    challenge_id: Option<String>,
    member_id: Option<String>,
    error: Option<String>,
    code: Option<String>,
    link_hint: Option<String>,
    created_at: i64,
    expires_at: i64,
}

/// A stored flow; a value none of our writers could have written is a corrupt row, never a
/// silently different flow.
fn from_row(r: FlowRow) -> Result<Flow, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt("signin_flows", format!("{}: {what}", r.id));
    let link_hint = match r.link_hint.as_deref() {
        Some(h) => Some(serde_json::from_str(h).map_err(|_| corrupt("link_hint"))?),
        None => None,
    };
    let error = match r.error.as_deref() {
        Some(e) => Some(enum_parse(e).ok_or_else(|| corrupt("error"))?),
        None => None,
    };
    let request = NewFlow {
        response_mode: enum_parse(&r.response_mode).ok_or_else(|| corrupt("response_mode"))?,
        action: enum_parse(&r.action).ok_or_else(|| corrupt("action"))?,
        link_hint,
        client_id: r.client_id,
        redirect_uri: r.redirect_uri,
        scope: r.scope,
        state: r.state,
        nonce: r.nonce,
        code_challenge: r.code_challenge,
        lang: r.lang,
    };
    Ok(Flow {
        step: enum_parse(&r.step).ok_or_else(|| corrupt("step"))?,
        error,
        id: r.id,
        csrf: r.csrf,
        request,
        phone: r.phone,
        challenge_id: r.challenge_id,
        member_id: r.member_id,
        code: r.code,
        created_at_ms: r.created_at,
        expires_at_ms: r.expires_at,
    })
}

pub async fn create(db: &Db, new: NewFlow, now_ms: i64) -> Result<Flow, FlowError> {
    let id = random_hex(16);
    sqlx::query(
        "INSERT INTO signin_flows (id, csrf, client_id, redirect_uri, scope, state, nonce, code_challenge, response_mode,
             action, lang, link_hint, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&id)
    .bind(random_hex(16))
    .bind(&new.client_id)
    .bind(&new.redirect_uri)
    .bind(&new.scope)
    .bind(&new.state)
    .bind(&new.nonce)
    .bind(&new.code_challenge)
    .bind(enum_str(&new.response_mode))
    .bind(enum_str(&new.action))
    .bind(&new.lang)
    .bind(new.link_hint.as_ref().and_then(|h| serde_json::to_string(h).ok()))
    .bind(now_ms)
    .bind(now_ms + FLOW_TTL_MS)
    .execute(db.pool())
    .await?;
    load(db, &id, now_ms).await?.ok_or(FlowError::Gone)
}

/// The flow, unless it is unknown or expired.
pub async fn load(db: &Db, id: &str, now_ms: i64) -> Result<Option<Flow>, FlowError> {
    let row: Option<FlowRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM signin_flows WHERE id = $1 AND expires_at > $2"))
        .bind(id)
        .bind(now_ms)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(from_row).transpose()?)
}

/// The flow a form was posted for, if the form's CSRF token is the flow's.
pub async fn load_for_form(db: &Db, id: &str, csrf: &str, now_ms: i64) -> Result<Flow, FlowError> {
    let flow = load(db, id, now_ms).await?.ok_or(FlowError::Gone)?;
    if !crate::signing::constant_time_eq(flow.csrf.as_bytes(), csrf.as_bytes()) {
        return Err(FlowError::Gone);
    }
    Ok(flow)
}

/// Deletes flows that expired more than a day ago.
pub async fn purge_expired(db: &Db, now_ms: i64) -> Result<u64, FlowError> {
    let done = sqlx::query("DELETE FROM signin_flows WHERE expires_at < $1").bind(now_ms - 86_400_000).execute(db.pool()).await?;
    Ok(done.rows_affected())
}

async fn set_error(db: &Db, flow: &Flow, error: UserError) -> Result<(), FlowError> {
    sqlx::query("UPDATE signin_flows SET error = $2 WHERE id = $1").bind(&flow.id).bind(enum_str(&error)).execute(db.pool()).await?;
    Ok(())
}

/// Everything a step needs besides the flow.
pub struct Services<'a> {
    pub db: &'a Db,
    pub otp: &'a OtpPolicy,
    pub grants: &'a GrantPolicy,
    pub sms: &'a dyn SmsSender,
}

/// Step 1: the member's phone number. Sends a code and moves to the code step.
pub async fn submit_phone(s: &Services<'_>, flow: &Flow, phone: &str, client_ip: &str, now_ms: i64) -> Result<(), FlowError> {
    if flow.is_over() {
        return Ok(());
    }
    let Ok(phone) = PhoneNumber::parse(phone) else {
        return set_error(s.db, flow, UserError::InvalidPhone).await;
    };
    send_code(s, flow, &phone, client_ip, now_ms).await
}

/// Sends a new code to the flow's phone (the resend button).
pub async fn resend_code(s: &Services<'_>, flow: &Flow, client_ip: &str, now_ms: i64) -> Result<(), FlowError> {
    let phone = flow.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok());
    match (flow.step, phone) {
        (Step::Code, Some(phone)) => send_code(s, flow, &phone, client_ip, now_ms).await,
        _ => Ok(()),
    }
}

async fn send_code(s: &Services<'_>, flow: &Flow, phone: &PhoneNumber, client_ip: &str, now_ms: i64) -> Result<(), FlowError> {
    let issued = match otp::request_code(s.db, s.otp, phone, client_ip, now_ms).await {
        Ok(issued) => issued,
        Err(OtpError::RateLimited { .. }) => return set_error(s.db, flow, UserError::TooManyCodes).await,
        Err(OtpError::Invalid { .. }) => return set_error(s.db, flow, UserError::InvalidCode).await,
        Err(OtpError::Store(e)) => return Err(e.into()),
    };
    let text = otp_text(&flow.request.lang, &issued.code, s.otp.ttl_ms / 60_000);
    if let Err(e) = s.sms.send(phone, &text).await {
        tracing::warn!(error = %e, "sending the sign-in code failed");
        return set_error(s.db, flow, UserError::SmsFailed).await;
    }
    sqlx::query("UPDATE signin_flows SET step = 'code', phone = $2, challenge_id = $3, error = NULL WHERE id = $1 AND step NOT IN ('done', 'failed')")
        .bind(&flow.id)
        .bind(phone.as_str())
        .bind(&issued.challenge_id)
        .execute(s.db.pool())
        .await?;
    Ok(())
}

/// Back to the phone step (the "use another number" link).
pub async fn restart(db: &Db, flow: &Flow) -> Result<(), FlowError> {
    sqlx::query("UPDATE signin_flows SET step = 'phone', challenge_id = NULL, error = NULL WHERE id = $1 AND step NOT IN ('done', 'failed')")
        .bind(&flow.id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Step 2: the code. A known member is signed in; a new one goes on to the profile step.
/// Returns the member when the flow is now done.
pub async fn submit_code(s: &Services<'_>, flow: &Flow, code: &str, now_ms: i64) -> Result<Option<Member>, FlowError> {
    if flow.step != Step::Code {
        return Ok(None);
    }
    let challenge = flow.challenge_id.as_deref().unwrap_or_default();
    let phone = match otp::verify_code(s.db, s.otp, challenge, code.trim(), now_ms).await {
        Ok(phone) => phone,
        Err(OtpError::Store(e)) => return Err(e.into()),
        Err(other) => {
            tracing::info!(reason = ?other, "sign-in code refused");
            set_error(s.db, flow, UserError::InvalidCode).await?;
            return Ok(None);
        }
    };
    match members::find_by_phone(s.db, &phone).await? {
        Some(member) => {
            finish(s, flow, &member, now_ms, now_ms).await?;
            Ok(Some(member))
        }
        None => {
            sqlx::query("UPDATE signin_flows SET step = 'profile', error = NULL WHERE id = $1 AND step = 'code'")
                .bind(&flow.id)
                .execute(s.db.pool())
                .await?;
            Ok(None)
        }
    }
}

/// What the sign-up form sends.
#[derive(Debug, Clone, Default)]
pub struct ProfileForm {
    pub full_name: String,
    /// `YYYY-MM-DD` (an `<input type=date>`) or `DD-MM-YYYY`.
    pub date_of_birth: String,
    pub email: String,
}

/// Step 3 (new members): name, date of birth, optional e-mail. Creates the member with a new
/// SkyJoy ID and finishes the flow.
pub async fn submit_profile(s: &Services<'_>, flow: &Flow, form: &ProfileForm, now_ms: i64) -> Result<Option<Member>, FlowError> {
    let phone = flow.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok());
    let (Step::Profile, Some(phone)) = (flow.step, phone) else { return Ok(None) };
    let Ok(full_name) = FullName::parse(&form.full_name) else {
        set_error(s.db, flow, UserError::InvalidName).await?;
        return Ok(None);
    };
    let dob = form.date_of_birth.trim();
    let Ok(date_of_birth) = DateOfBirth::parse_iso(dob).or_else(|_| DateOfBirth::parse(dob)) else {
        set_error(s.db, flow, UserError::InvalidDateOfBirth).await?;
        return Ok(None);
    };
    let email = match form.email.trim() {
        "" => None,
        e => match Email::parse(e) {
            Ok(e) => Some(e),
            Err(_) => {
                set_error(s.db, flow, UserError::InvalidEmail).await?;
                return Ok(None);
            }
        },
    };
    if let Some(hint) = &flow.request.link_hint {
        // Refuse before creating anyone: a new member cannot take a Customer ID already linked.
        if members::member_of_customer(s.db, &flow.request.client_id, &hint.customer_id).await?.is_some() {
            fail(s.db, flow, None, UserError::CustomerAlreadyLinked).await?;
            return Ok(None);
        }
    }
    let new = NewMember { phone, full_name, date_of_birth: Some(date_of_birth), email };
    let (member, _created) = members::find_or_create(s.db, new, Some(&flow.request.client_id), now_ms).await?;
    finish(s, flow, &member, now_ms, now_ms).await?;
    Ok(Some(member))
}

/// Links the partner's customer (if the flow carries one), then issues the authorization code
/// and marks the flow done, once: a second finish is a no-op. A refused link ends the flow as
/// [`Step::Failed`] without a code.
async fn finish(s: &Services<'_>, flow: &Flow, member: &Member, auth_time_ms: i64, now_ms: i64) -> Result<(), FlowError> {
    if let Some(hint) = &flow.request.link_hint {
        match members::link(s.db, &flow.request.client_id, &hint.customer_id, &member.id, now_ms).await {
            Ok(_) => {}
            Err(MemberError::AccountAlreadyLinked) => return fail(s.db, flow, Some(member), UserError::AccountAlreadyLinked).await,
            Err(MemberError::CustomerAlreadyLinked) => return fail(s.db, flow, Some(member), UserError::CustomerAlreadyLinked).await,
            Err(e) => return Err(e.into()),
        }
    }
    let req = CodeRequest {
        client_id: &flow.request.client_id,
        member_id: &member.id,
        scope: &flow.request.scope,
        nonce: flow.request.nonce.as_deref(),
        redirect_uri: &flow.request.redirect_uri,
        code_challenge: flow.request.code_challenge.as_deref(),
        auth_time_ms,
    };
    // The code and the flow's end commit together, once: a second finish (a double submit,
    // another instance) finds the flow ended and leaves no grant behind.
    let mut tx = s.db.begin().await?;
    let code = grants::issue_code_in(&mut tx, s.grants, &req, now_ms).await?;
    let ended = sqlx::query("UPDATE signin_flows SET step = 'done', member_id = $2, code = $3, error = NULL WHERE id = $1 AND step NOT IN ('done', 'failed')")
        .bind(&flow.id)
        .bind(&member.id)
        .bind(&code)
        .execute(&mut *tx)
        .await?;
    if ended.rows_affected() == 1 {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// Ends the flow without a code (`member`: who signed in, when someone did).
async fn fail(db: &Db, flow: &Flow, member: Option<&Member>, error: UserError) -> Result<(), FlowError> {
    tracing::info!(client_id = %flow.request.client_id, error = ?error, "sign-in refused: the Customer ID link is taken");
    sqlx::query(
        "UPDATE signin_flows SET step = 'failed', member_id = COALESCE($2, member_id), error = $3
         WHERE id = $1 AND step NOT IN ('done', 'failed')",
    )
    .bind(&flow.id)
    .bind(member.map(|m| m.id.as_str()))
    .bind(enum_str(&error))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Signs a member who is already signed in at the provider (single sign-on) through the flow:
/// the same linking and code as after a fresh sign-in (`auth_time_ms`: when they signed in).
/// Returns the updated flow.
pub async fn finish_signed_in(s: &Services<'_>, flow: &Flow, member: &Member, auth_time_ms: i64, now_ms: i64) -> Result<Flow, FlowError> {
    finish(s, flow, member, auth_time_ms, now_ms).await?;
    load(s.db, &flow.id, now_ms).await?.ok_or(FlowError::Gone)
}

/// An authorization response to a (verified) redirect URI: `redirect_uri?{pairs}&state=…&iss=…`
/// (RFC 6749 §4.1.2, RFC 9207), keeping the redirect URI's own query. `None` if it is no URL.
pub fn authorization_response(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>, issuer: &str) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        q.extend_pairs(pairs);
        if let Some(state) = state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", issuer);
    }
    Some(url.to_string())
}

impl Flow {
    /// Done (a code was issued) or failed: no step can change it any more.
    pub fn is_over(&self) -> bool {
        matches!(self.step, Step::Done | Step::Failed)
    }

    /// Where a redirect-mode flow that failed sends the browser (OAuth 2.0 error response, with
    /// the SkyJoy error code in `error_code`).
    pub fn error_redirect_url(&self, issuer: &str) -> Option<String> {
        let (code, message) = self.error.filter(|_| self.step == Step::Failed)?.partner_error()?;
        let pairs = [("error", "access_denied"), ("error_description", message), ("error_code", code)];
        authorization_response(&self.request.redirect_uri, &pairs, self.request.state.as_deref(), issuer)
    }

    /// Where the member's "cancel" goes in the redirect mode.
    pub fn cancel_url(&self, issuer: &str) -> Option<String> {
        let pairs = [("error", "access_denied"), ("error_description", "the member cancelled")];
        authorization_response(&self.request.redirect_uri, &pairs, self.request.state.as_deref(), issuer)
    }

    /// Where a redirect-mode flow sends the browser when done:
    /// `redirect_uri?code=…&state=…&iss=…` (RFC 9207's `iss` guards against mix-ups).
    pub fn redirect_url(&self, issuer: &str) -> Option<String> {
        let code = self.code.as_deref()?;
        authorization_response(&self.request.redirect_uri, &[("code", code)], self.request.state.as_deref(), issuer)
    }

    /// The origin that may receive this flow's postMessage events: the redirect URI's.
    pub fn message_origin(&self) -> Option<String> {
        url::Url::parse(&self.request.redirect_uri).ok().map(|u| u.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        identity::{clients, sms::DevInbox, sms::LogSender},
        store::testing::temp_db,
    };

    const T0: i64 = 1_763_800_000_000;

    async fn setup() -> (crate::store::testing::TestDb, Db, Flow) {
        let (dir, db) = temp_db().await;
        let spec = clients::ClientSpec {
            client_id: "shop".into(),
            name: "Shop".into(),
            confidential: true,
            redirect_uris: vec!["https://shop.example/cb?x=1".into()],
            ..Default::default()
        };
        clients::register(&db, &spec, true, T0).await.unwrap();
        let new = NewFlow {
            client_id: "shop".into(),
            redirect_uri: "https://shop.example/cb?x=1".into(),
            scope: "openid phone".into(),
            state: Some("st&1".into()),
            nonce: Some("n".into()),
            code_challenge: None,
            response_mode: ResponseMode::Query,
            action: Action::SignUp,
            lang: "en".into(),
            link_hint: None,
        };
        let flow = create(&db, new, T0).await.unwrap();
        (dir, db, flow)
    }

    /// A member with the phone 0987654321.
    async fn known_member(db: &Db) -> Member {
        let phone = PhoneNumber::parse("0987654321").unwrap();
        let new = NewMember { phone, full_name: FullName::parse("Le Van C").unwrap(), date_of_birth: None, email: None };
        members::create(db, new, None, T0).await.unwrap()
    }

    /// A flow like [`setup`]'s, carrying the partner's customer `customer_id`.
    async fn linking_flow(db: &Db, customer_id: &str) -> Flow {
        let hint = LinkHint {
            customer_id: crate::identity::CustomerId::parse(customer_id).unwrap(),
            phone: None,
            full_name: None,
            date_of_birth: None,
            email: None,
        };
        let new = NewFlow {
            client_id: "shop".into(),
            redirect_uri: "https://shop.example/cb?x=1".into(),
            scope: "openid".into(),
            state: Some("s".into()),
            nonce: None,
            code_challenge: None,
            response_mode: ResponseMode::Query,
            action: Action::SignIn,
            lang: "en".into(),
            link_hint: Some(hint),
        };
        create(db, new, T0).await.unwrap()
    }

    async fn last_code(inbox: &DevInbox) -> String {
        inbox.messages(None).await.unwrap()[0].text[..6].to_string()
    }

    #[tokio::test]
    async fn a_new_member_signs_up_through_phone_code_and_profile() {
        let (_d, db, flow) = setup().await;
        let inbox = DevInbox::new(db.clone());
        let sms = LogSender { inbox: Some(inbox.clone()) };
        let s = Services { db: &db, otp: &OtpPolicy::default(), grants: &GrantPolicy::default(), sms: &sms };
        assert!(load_for_form(&db, &flow.id, "wrong", T0).await.is_err(), "the CSRF token is checked");

        submit_phone(&s, &flow, "not a phone", "1.1.1.1", T0).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!((f.step, f.error), (Step::Phone, Some(UserError::InvalidPhone)));

        submit_phone(&s, &f, "0912 345 678", "1.1.1.1", T0).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!((f.step, f.error, f.phone.as_deref()), (Step::Code, None, Some("+84912345678")));

        assert!(submit_code(&s, &f, "000000x", T0 + 1).await.unwrap().is_none());
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!(f.error, Some(UserError::InvalidCode));

        submit_code(&s, &f, &last_code(&inbox).await, T0 + 2).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!(f.step, Step::Profile, "no member with this phone yet");

        let bad = ProfileForm { full_name: "A".into(), date_of_birth: "2999-01-01".into(), email: String::new() };
        submit_profile(&s, &f, &bad, T0 + 3).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!(f.error, Some(UserError::InvalidDateOfBirth));

        let good = ProfileForm { full_name: "Trần Thị B".into(), date_of_birth: "1995-04-30".into(), email: String::new() };
        let member = submit_profile(&s, &f, &good, T0 + 4).await.unwrap().expect("signed up");
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!((f.step, f.member_id.as_deref()), (Step::Done, Some(member.id.as_str())));
        let url = f.redirect_url("https://id.example").unwrap();
        assert!(url.starts_with("https://shop.example/cb?x=1&code=") && url.ends_with("&state=st%261&iss=https%3A%2F%2Fid.example"), "{url}");
        assert_eq!(f.message_origin().as_deref(), Some("https://shop.example"));
        let code = f.code.clone().unwrap();
        let grant = grants::redeem_code(&db, "shop", &code, "https://shop.example/cb?x=1", None, T0 + 5).await.unwrap();
        assert_eq!(grant.member_id, member.id);

        assert!(submit_profile(&s, &f, &good, T0 + 6).await.unwrap().is_none(), "a finished flow stays finished");
        assert!(load(&db, &flow.id, T0 + FLOW_TTL_MS).await.unwrap().is_none(), "flows expire");
    }

    #[tokio::test]
    async fn a_known_member_is_done_after_the_code_and_sms_failures_are_shown() {
        struct Broken;
        impl SmsSender for Broken {
            fn send<'a>(&'a self, _: &'a PhoneNumber, _: &'a str) -> crate::identity::sms::SendFuture<'a> {
                Box::pin(async { Err(crate::identity::sms::SmsError("gateway down".into())) })
            }
        }
        let (_d, db, flow) = setup().await;
        let known = known_member(&db).await;
        let policy = OtpPolicy::default();
        let grants = GrantPolicy::default();
        let broken = Services { db: &db, otp: &policy, grants: &grants, sms: &Broken };
        submit_phone(&broken, &flow, "0987654321", "1.1.1.1", T0).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!((f.step, f.error), (Step::Phone, Some(UserError::SmsFailed)));

        let inbox = DevInbox::new(db.clone());
        let sms = LogSender { inbox: Some(inbox.clone()) };
        let s = Services { db: &db, otp: &policy, grants: &grants, sms: &sms };
        submit_phone(&s, &f, "0987654321", "1.1.1.1", T0 + policy.resend_after_ms).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        let member = submit_code(&s, &f, &last_code(&inbox).await, T0 + policy.resend_after_ms + 1).await.unwrap();
        assert_eq!(member.map(|m| m.id), Some(known.id));
    }

    #[tokio::test]
    async fn signing_in_links_the_customer_id_once_and_refuses_a_second_one() {
        let (_d, db, _) = setup().await;
        let known = known_member(&db).await;
        let policy = OtpPolicy { resend_after_ms: 0, ..OtpPolicy::default() };
        let grants = GrantPolicy::default();
        let inbox = DevInbox::new(db.clone());
        let sms = LogSender { inbox: Some(inbox.clone()) };
        let s = Services { db: &db, otp: &policy, grants: &grants, sms: &sms };
        let sign_in = |customer: &'static str, t: i64| {
            let (db, s, inbox) = (&db, &s, &inbox);
            async move {
                let flow = linking_flow(db, customer).await;
                submit_phone(s, &flow, "0987654321", "1.1.1.1", t).await.unwrap();
                let f = load(db, &flow.id, t).await.unwrap().unwrap();
                submit_code(s, &f, &last_code(inbox).await, t + 1).await.unwrap();
                load(db, &flow.id, t + 2).await.unwrap().unwrap()
            }
        };

        let first = sign_in("CUST-1", T0).await;
        assert_eq!((first.step, first.error), (Step::Done, None), "not linked yet: linked now");
        assert_eq!(members::customer_id_of(&db, "shop", &known.id).await.unwrap().unwrap().as_str(), "CUST-1");
        let again = sign_in("CUST-1", T0 + 10).await;
        assert_eq!(again.step, Step::Done, "the same Customer ID again is fine");

        let other = sign_in("CUST-2", T0 + 20).await;
        assert_eq!((other.step, other.error, other.code.as_deref()), (Step::Failed, Some(UserError::AccountAlreadyLinked), None));
        let url = other.error_redirect_url("https://id.example").unwrap();
        assert!(url.contains("error=access_denied") && url.contains("error_code=ACCOUNT_ALREADY_LINKED"), "{url}");
        assert_eq!(members::customer_id_of(&db, "shop", &known.id).await.unwrap().unwrap().as_str(), "CUST-1", "unchanged");
        assert!(other.redirect_url("https://id.example").is_none(), "no code for a refused link");
    }

    #[tokio::test]
    async fn a_new_member_cannot_take_a_customer_id_that_is_already_linked() {
        let (_d, db, _) = setup().await;
        let known = known_member(&db).await;
        members::link(&db, "shop", &crate::identity::CustomerId::parse("CUST-1").unwrap(), &known.id, T0).await.unwrap();
        let inbox = DevInbox::new(db.clone());
        let sms = LogSender { inbox: Some(inbox.clone()) };
        let s = Services { db: &db, otp: &OtpPolicy::default(), grants: &GrantPolicy::default(), sms: &sms };
        let flow = linking_flow(&db, "CUST-1").await;
        submit_phone(&s, &flow, "0911111111", "1.1.1.1", T0).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        submit_code(&s, &f, &last_code(&inbox).await, T0 + 1).await.unwrap();
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!(f.step, Step::Profile);
        let form = ProfileForm { full_name: "Pham D".into(), date_of_birth: "01-02-1990".into(), email: String::new() };
        assert!(submit_profile(&s, &f, &form, T0 + 2).await.unwrap().is_none());
        let f = load(&db, &flow.id, T0).await.unwrap().unwrap();
        assert_eq!((f.step, f.error), (Step::Failed, Some(UserError::CustomerAlreadyLinked)));
        assert!(members::find_by_phone(&db, &PhoneNumber::parse("0911111111").unwrap()).await.unwrap().is_none(), "nobody created");
    }
}
