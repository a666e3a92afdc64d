//! `/signin/:flow`: the SkyJoy sign-in and sign-up screens (phone → one-time code → profile for
//! a new member → done), for every mode: the partner redirected here (`/authorize`), or this page
//! is inside the partner's iFrame or the SDK's dialog/popup (`/embed`).
//!
//! Every screen is a plain form posted to a server function, so it works before the wasm
//! arrives (the server answers a form post by redirecting back here); once hydrated, the same
//! forms are sent in place. The flow's state (and any error to show) lives on the server, keyed
//! by the flow id in the URL and guarded by the CSRF token in each form — no cookie needed,
//! which is what lets the iFrame work with third-party cookies blocked.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::{
    components::{ErrorNote, LanguageSwitch},
    errors::{AppError, SignInProblem},
    i18n::SignInTexts,
    prefs::use_language,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Screen {
    Phone,
    Code,
    Profile,
    Done,
    /// Linking the partner's Customer ID was refused; `error` says why.
    Failed,
}

/// What the page shows of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowView {
    pub id: String,
    pub csrf: String,
    pub client_name: String,
    pub signup: bool,
    pub screen: Screen,
    pub phone_masked: Option<String>,
    pub error: Option<SignInProblem>,
    /// `Some(parent origin)` inside an iFrame/popup.
    pub embed_origin: Option<String>,
    pub state: Option<String>,
    /// Redirect mode: where "continue" and "cancel" go.
    pub done_url: Option<String>,
    pub cancel_url: Option<String>,
    /// Embedded mode: the event for the bridge script when done or failed.
    pub result_message: Option<String>,
    /// What the partner told us about its customer (`link_token`), to pre-fill the forms;
    /// the date as `YYYY-MM-DD` for `<input type=date>`.
    pub prefill_phone: Option<String>,
    pub prefill_name: Option<String>,
    pub prefill_dob: Option<String>,
    pub prefill_email: Option<String>,
}

#[cfg(feature = "ssr")]
pub mod backend {
    use domain::identity::{
        clients,
        flows::{self, Flow, ResponseMode, Step, UserError},
        Idp,
    };
    use leptos::prelude::*;

    use super::{FlowView, Screen};
    use crate::errors::{failed, AppError, SignInProblem};

    pub async fn form_flow(idp: &Idp, id: &str, csrf: &str) -> Result<Flow, AppError> {
        flows::load_for_form(&idp.db, id, csrf, domain::now_ms()).await.map_err(|e| match e {
            flows::FlowError::Gone => AppError::FlowGone,
            other => failed(other),
        })
    }

    fn problem(e: UserError) -> SignInProblem {
        match e {
            UserError::InvalidPhone => SignInProblem::InvalidPhone,
            UserError::TooManyCodes => SignInProblem::TooManyCodes,
            UserError::InvalidCode => SignInProblem::InvalidCode,
            UserError::SmsFailed => SignInProblem::SmsFailed,
            UserError::InvalidName => SignInProblem::InvalidName,
            UserError::InvalidDateOfBirth => SignInProblem::InvalidDateOfBirth,
            UserError::InvalidEmail => SignInProblem::InvalidEmail,
            UserError::AccountAlreadyLinked => SignInProblem::AccountAlreadyLinked,
            UserError::CustomerAlreadyLinked => SignInProblem::CustomerAlreadyLinked,
        }
    }

    /// The client's address (`server::http::middleware::client_ip` decides it).
    pub async fn client_ip() -> String {
        use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<crate::ClientIp>().map(|c| c.0.clone()))
            .unwrap_or_else(|| "unknown".into())
    }

    /// Remembers the member on this browser (single sign-on for the redirect mode), then sends
    /// a redirect-mode browser back to the partner.
    pub async fn signed_in(idp: &Idp, flow: &Flow, member_id: &str) -> Result<(), AppError> {
        if let Some(session) = crate::session::current().await {
            if let Err(e) = crate::session::sign_in_member(&session, member_id, domain::now_ms()).await {
                // the sign-in itself succeeded; only single sign-on on this browser is lost
                tracing::warn!(error = %e, "the member could not be remembered in the session");
            }
        }
        if flow.request.response_mode == ResponseMode::Query {
            let done = flows::load(&idp.db, &flow.id, domain::now_ms()).await.map_err(failed)?;
            if let Some(url) = done.and_then(|f| f.redirect_url(&idp.issuer)) {
                leptos_axum::redirect(&url);
            }
        }
        Ok(())
    }

    fn screen(step: Step) -> Screen {
        match step {
            Step::Phone => Screen::Phone,
            Step::Code => Screen::Code,
            Step::Profile => Screen::Profile,
            Step::Done => Screen::Done,
            Step::Failed => Screen::Failed,
        }
    }

    /// A flow and its client as the page's request already loaded them (the server's
    /// `/signin/{flow}` policy middleware puts it in the request's extensions), so the first
    /// render does not read them again.
    #[derive(Clone)]
    pub struct Preloaded {
        pub flow: Flow,
        pub client: Option<clients::Client>,
    }

    /// The preloaded flow `id`, when this is the page request that loaded it.
    pub fn preloaded(id: &str) -> Option<Preloaded> {
        let parts = use_context::<axum::http::request::Parts>()?;
        parts.extensions.get::<Preloaded>().filter(|p| p.flow.id == id).cloned()
    }

    pub fn view(idp: &Idp, flow: Flow, client: Option<clients::Client>) -> FlowView {
        let embed = flow.request.response_mode == ResponseMode::WebMessage;
        let error = flow.error.map(problem);
        let cancel_url = if embed { None } else { flow.cancel_url(&idp.issuer) };
        let partner_error = flow.error.and_then(|e| e.partner_error()).filter(|_| flow.step == Step::Failed);
        let result_message = match (embed, flow.step, partner_error) {
            (true, Step::Done, _) => Some(serde_json::json!({ "type": "success", "code": flow.code, "state": flow.request.state })),
            (true, Step::Failed, Some((code, message))) => Some(serde_json::json!({
                "type": "error", "error": "access_denied", "error_code": code, "error_description": message, "state": flow.request.state,
            })),
            _ => None,
        }
        .map(|m| m.to_string());
        let done_url = match (embed, flow.step) {
            (false, Step::Done) => flow.redirect_url(&idp.issuer),
            (false, Step::Failed) => flow.error_redirect_url(&idp.issuer),
            _ => None,
        };
        let hint = flow.request.link_hint.as_ref();
        FlowView {
            id: flow.id.clone(),
            csrf: flow.csrf.clone(),
            client_name: client.map(|c| c.name).unwrap_or_default(),
            signup: flow.request.action == flows::Action::SignUp,
            screen: screen(flow.step),
            phone_masked: flow.phone.as_deref().and_then(|p| domain::identity::PhoneNumber::parse(p).ok()).map(|p| p.masked()),
            error,
            embed_origin: if embed { flow.message_origin() } else { None },
            state: flow.request.state.clone(),
            done_url,
            cancel_url,
            result_message,
            prefill_phone: hint.and_then(|h| h.phone.as_ref()).map(|p| p.national()),
            prefill_name: hint.and_then(|h| h.full_name.as_ref()).map(|n| n.to_string()),
            prefill_dob: hint.and_then(|h| h.date_of_birth).map(|d| d.iso()),
            prefill_email: hint.and_then(|h| h.email.as_ref()).map(|e| e.to_string()),
        }
    }
}

/// The flow as the page shows it; `None` when it is unknown or expired.
#[server(endpoint = "signin/flow")]
pub async fn get_flow(flow: String) -> Result<Option<FlowView>, AppError> {
    use domain::identity::flows;
    use crate::errors::failed;
    let idp = crate::context::idp()?;
    if let Some(p) = backend::preloaded(&flow) {
        return Ok(Some(backend::view(&idp, p.flow, p.client)));
    }
    match flows::load(&idp.db, &flow, domain::now_ms()).await.map_err(failed)? {
        Some(f) => {
            let client = idp.client(&f.request.client_id).await.map_err(failed)?;
            Ok(Some(backend::view(&idp, f, client)))
        }
        None => Ok(None),
    }
}

#[server(endpoint = "signin/phone")]
pub async fn submit_phone(flow: String, csrf: String, phone: String) -> Result<(), AppError> {
    let idp = crate::context::idp()?;
    let f = backend::form_flow(&idp, &flow, &csrf).await?;
    let ip = backend::client_ip().await;
    domain::identity::flows::submit_phone(&idp.services(), &f, &phone, &ip, domain::now_ms()).await.map_err(crate::errors::failed)
}

#[server(endpoint = "signin/resend")]
pub async fn resend_code(flow: String, csrf: String) -> Result<(), AppError> {
    let idp = crate::context::idp()?;
    let f = backend::form_flow(&idp, &flow, &csrf).await?;
    let ip = backend::client_ip().await;
    domain::identity::flows::resend_code(&idp.services(), &f, &ip, domain::now_ms()).await.map_err(crate::errors::failed)
}

#[server(endpoint = "signin/restart")]
pub async fn restart(flow: String, csrf: String) -> Result<(), AppError> {
    let idp = crate::context::idp()?;
    let f = backend::form_flow(&idp, &flow, &csrf).await?;
    domain::identity::flows::restart(&idp.db, &f).await.map_err(crate::errors::failed)
}

#[server(endpoint = "signin/code")]
pub async fn submit_code(flow: String, csrf: String, code: String) -> Result<(), AppError> {
    let idp = crate::context::idp()?;
    let f = backend::form_flow(&idp, &flow, &csrf).await?;
    let member = domain::identity::flows::submit_code(&idp.services(), &f, &code, domain::now_ms()).await.map_err(crate::errors::failed)?;
    match member {
        Some(m) => backend::signed_in(&idp, &f, &m.id).await,
        None => Ok(()),
    }
}

#[server(endpoint = "signin/profile")]
pub async fn submit_profile(
    flow: String,
    csrf: String,
    full_name: String,
    date_of_birth: String,
    email: String,
) -> Result<(), AppError> {
    use domain::identity::flows::{self, ProfileForm};
    let idp = crate::context::idp()?;
    let f = backend::form_flow(&idp, &flow, &csrf).await?;
    let form = ProfileForm { full_name, date_of_birth, email };
    match flows::submit_profile(&idp.services(), &f, &form, domain::now_ms()).await.map_err(crate::errors::failed)? {
        Some(m) => backend::signed_in(&idp, &f, &m.id).await,
        None => Ok(()),
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let params = use_params_map();
    let flow_id = move || params.read().get("flow").unwrap_or_default();
    let phone = ServerAction::<SubmitPhone>::new();
    let code = ServerAction::<SubmitCode>::new();
    let resend = ServerAction::<ResendCode>::new();
    let back = ServerAction::<Restart>::new();
    let profile = ServerAction::<SubmitProfile>::new();
    let version = move || {
        phone.version().get() + code.version().get() + resend.version().get() + back.version().get() + profile.version().get()
    };
    let flow = Resource::new(move || (flow_id(), version()), |(id, _)| get_flow(id));
    let lang = use_language();
    let t = move || &lang.get().texts().signin;
    let actions = Actions { phone, code, resend, back, profile };

    view! {
        // A plain string: a reactive title is read after the async render has let go of the
        // page's signals, which panicked under load ("reactive value … already disposed").
        <Title text=lang.get_untracked().texts().signin.title_signin/>
        <header class="topbar">
            <span class="brand">"SkyJoy"</span>
            <LanguageSwitch/>
        </header>
        <main class="page narrow signin">
            <Transition fallback=|| view! { <p class="muted">"…"</p> }>
                {move || {
                    flow.get().map(|result| match result {
                        Ok(Some(f)) => view! { <FlowScreens f actions/> }.into_any(),
                        Ok(None) => view! {
                            <section class="card" data-testid="signin-expired">
                                <h1>{move || t().expired_heading}</h1>
                                <p>{move || t().expired_body}</p>
                            </section>
                        }.into_any(),
                        Err(e) => view! { <ErrorNote e/> }.into_any(),
                    })
                }}
            </Transition>
        </main>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    phone: ServerAction<SubmitPhone>,
    code: ServerAction<SubmitCode>,
    resend: ServerAction<ResendCode>,
    back: ServerAction<Restart>,
    profile: ServerAction<SubmitProfile>,
}

impl Actions {
    fn pending(&self) -> bool {
        self.phone.pending().get()
            || self.code.pending().get()
            || self.resend.pending().get()
            || self.back.pending().get()
            || self.profile.pending().get()
    }
}

/// The hidden fields every form carries.
#[component]
fn FlowFields(id: String, csrf: String) -> impl IntoView {
    view! {
        <input type="hidden" name="flow" value=id/>
        <input type="hidden" name="csrf" value=csrf/>
    }
}

#[component]
fn FlowScreens(f: FlowView, actions: Actions) -> impl IntoView {
    let lang = use_language();
    let t = move || -> &'static SignInTexts { &lang.get().texts().signin };
    let busy = move || actions.pending();
    let error = f.error.clone();
    let error_view = move || {
        error.map(|problem| view! { <p class="error" role="alert" data-testid="signin-error">{move || t().error(problem)}</p> })
    };
    // Copy (it holds only a StoredValue), so every form's view closure can call it.
    let ids = StoredValue::new((f.id.clone(), f.csrf.clone()));
    let fields = move || {
        let (id, csrf) = ids.get_value();
        view! { <FlowFields id csrf/> }
    };
    let embed = f.embed_origin.clone().map(|origin| {
        view! {
            <div id="skyjoy-embed" hidden=true data-parent-origin=origin data-state=f.state.clone().unwrap_or_default()></div>
            <script src="/sdk/v1/bridge.js" defer="defer"></script>
        }
    });
    let cancel = match (&f.embed_origin, &f.cancel_url) {
        (Some(_), _) => Some(view! { <button type="button" class="link" data-skyjoy-cancel="">{move || t().cancel}</button> }.into_any()),
        (None, Some(url)) => Some(view! { <a class="link" href=url.clone() data-testid="signin-cancel">{move || t().cancel}</a> }.into_any()),
        (None, None) => None,
    };
    // Browsers refuse autofocus inside a cross-origin frame (and say so in the console).
    let focus = f.embed_origin.is_none();
    let signup = f.signup;
    let heading = move || if signup { t().title_signup } else { t().title_signin };
    let client_name = f.client_name.clone();

    let body = match f.screen {
        Screen::Phone => view! {
            <ActionForm action=actions.phone attr:class="stack" attr:data-testid="phone-form">
                {fields()}
                <label for="phone">{move || t().phone_label}</label>
                <input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel" required=true
                    placeholder="0912 345 678" autofocus=focus value=f.prefill_phone.clone()/>
                <p class="muted small">{move || t().phone_hint}</p>
                {error_view()}
                <button type="submit" class="button" disabled=busy>{move || t().send_code}</button>
            </ActionForm>
        }
        .into_any(),
        Screen::Code => {
            let masked = f.phone_masked.clone().unwrap_or_default();
            view! {
                <p data-testid="code-sent">{move || t().code_sent_to}" "<strong>{masked.clone()}</strong></p>
                <ActionForm action=actions.code attr:class="stack" attr:data-testid="code-form">
                    {fields()}
                    <label for="code">{move || t().code_label}</label>
                    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                        pattern="[0-9]{6}" maxlength="6" required=true autofocus=focus/>
                    {error_view()}
                    <button type="submit" class="button" disabled=busy>{move || t().verify}</button>
                </ActionForm>
                <div class="row">
                    <ActionForm action=actions.resend>
                        {fields()}
                        <button type="submit" class="link" data-testid="resend" disabled=busy>{move || t().resend}</button>
                    </ActionForm>
                    <ActionForm action=actions.back>
                        {fields()}
                        <button type="submit" class="link" disabled=busy>{move || t().other_phone}</button>
                    </ActionForm>
                </div>
            }
            .into_any()
        }
        Screen::Profile => view! {
            <h2>{move || t().profile_heading}</h2>
            <p class="muted">{move || t().profile_intro}</p>
            <ActionForm action=actions.profile attr:class="stack" attr:data-testid="profile-form">
                {fields()}
                <label for="full_name">{move || t().full_name}</label>
                <input id="full_name" name="full_name" type="text" autocomplete="name" required=true maxlength="100"
                    value=f.prefill_name.clone()/>
                <label for="date_of_birth">{move || t().date_of_birth}</label>
                <input id="date_of_birth" name="date_of_birth" type="date" autocomplete="bday" required=true
                    value=f.prefill_dob.clone()/>
                <label for="email">{move || t().email_optional}</label>
                <input id="email" name="email" type="email" autocomplete="email" value=f.prefill_email.clone()/>
                {error_view()}
                <button type="submit" class="button" disabled=busy>{move || t().create_account}</button>
            </ActionForm>
        }
        .into_any(),
        Screen::Done => {
            let result = f.result_message.clone().map(|m| view! { <div id="skyjoy-result" hidden=true data-message=m></div> });
            let link = f.done_url.clone().map(|url| view! { <a class="button" href=url data-testid="signin-continue">{move || t().done_continue}</a> });
            let embedded = f.embed_origin.is_some();
            view! {
                <h2 data-testid="signin-done">{move || t().done_heading}</h2>
                {embedded.then(|| view! { <p class="muted">{move || t().done_embed}</p> })}
                {result}
                {link}
            }
            .into_any()
        }
        Screen::Failed => {
            let result = f.result_message.clone().map(|m| view! { <div id="skyjoy-result" hidden=true data-message=m></div> });
            let back = f.done_url.clone().map(|url| view! { <a class="button" href=url data-testid="signin-back">{move || t().back_to_partner}</a> });
            view! {
                <h2 data-testid="signin-failed">{move || t().failed_heading}</h2>
                {error_view()}
                {result}
                {back}
            }
            .into_any()
        }
    };

    view! {
        <section class="card" data-testid="signin" data-screen=format!("{:?}", f.screen).to_lowercase()>
            <h1>{heading}</h1>
            {(!client_name.is_empty()).then(|| view! {
                <p class="muted">{move || t().continue_to}" "<strong data-testid="client-name">{client_name.clone()}</strong></p>
            })}
            {body}
            {(!matches!(f.screen, Screen::Done | Screen::Failed)).then(|| cancel)}
        </section>
        {embed}
    }
}
