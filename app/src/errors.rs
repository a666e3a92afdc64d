//! What a page's server function can answer instead of its data: one serde enum for every page,
//! translated exhaustively in `i18n` (a new variant without a text does not compile), with the
//! HTTP status each is sent with ([`AppError::status`]: a refusal is a 4xx, never a 500).

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
    Bytes, Encodes,
};
use serde::{Deserialize, Serialize};

/// A sign-in step the member has to redo; shown on the sign-in screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInProblem {
    InvalidPhone,
    TooManyCodes,
    InvalidCode,
    SmsFailed,
    InvalidName,
    InvalidDateOfBirth,
    InvalidEmail,
    AccountAlreadyLinked,
    CustomerAlreadyLinked,
}

/// Why a point redemption a partner asked the member to confirm cannot go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeemProblem {
    /// The partner or its redirect URI is not registered (we never redirect there).
    UnknownPartner,
    /// A field of the request does not parse (transaction id, points, amount, date).
    InvalidRequest,
    /// The member's available points do not cover it.
    InsufficientBalance,
}

/// Why a partner's cashier cannot use a benefit (`pages::cashier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenefitProblem {
    /// No benefit of this partner has the code.
    NotFound,
    AlreadyUsed,
    Expired,
    /// The platform took it back (reverseBenefitIssue).
    Reversed,
    WrongPin,
}

/// A server function's refusal or failure, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum AppError {
    /// The page needs someone this browser's session does not hold (a member, an operator, the
    /// webview's customer).
    SignedOut,
    /// The operator token was wrong, or no operator token is configured.
    Refused,
    /// The sign-in flow is unknown, expired or its form is stale.
    FlowGone,
    Redeem(RedeemProblem),
    Benefit(BenefitProblem),
    /// The Tiki VIP plan chosen is not on sale.
    UnknownPlan,
    /// The payment partner did not answer (retry later).
    PartnerUnavailable,
    /// An operator's input did not parse or was refused by the rules; the text says which.
    Invalid(String),
    /// Something failed on our side; it is logged with the request id.
    Unavailable,
    /// The call did not reach the server function or its answer did not parse (Leptos).
    Transport(String),
}

impl AppError {
    /// The variant's wire name (`signed_out`, …), for `data-error` attributes and logs.
    pub fn name(&self) -> &'static str {
        match self {
            AppError::SignedOut => "signed_out",
            AppError::Refused => "refused",
            AppError::FlowGone => "flow_gone",
            AppError::Redeem(_) => "redeem",
            AppError::Benefit(_) => "benefit",
            AppError::UnknownPlan => "unknown_plan",
            AppError::PartnerUnavailable => "partner_unavailable",
            AppError::Invalid(_) => "invalid",
            AppError::Unavailable => "unavailable",
            AppError::Transport(_) => "transport",
        }
    }

    /// The HTTP status this answer is sent with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::SignedOut => 401,
            AppError::Refused => 403,
            AppError::FlowGone => 410,
            AppError::Redeem(_) | AppError::UnknownPlan | AppError::Invalid(_) => 400,
            AppError::Benefit(BenefitProblem::NotFound) => 404,
            AppError::Benefit(BenefitProblem::WrongPin) => 400,
            AppError::Benefit(_) => 409,
            AppError::PartnerUnavailable => 502,
            AppError::Unavailable | AppError::Transport(_) => 500,
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Invalid(why) | AppError::Transport(why) => f.write_str(why),
            other => write!(f, "{other:?}"),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }

    /// Called on the server as the error leaves a server function: the one place where each
    /// answer gets its status (a refusal is a 4xx, not the server function's default 500).
    /// Not for a plain form post (no wasm yet): Leptos answers that with a redirect back to the
    /// page carrying the error in its URL, and a status set here would replace the redirect
    /// (the browser would show this JSON instead of the page).
    fn ser(&self) -> Bytes {
        #[cfg(feature = "ssr")]
        {
            use leptos::prelude::use_context;
            let plain_form_post = use_context::<http::request::Parts>()
                .and_then(|p| p.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(|a| a.contains("text/html")))
                .unwrap_or(false);
            if let (false, Some(res), Ok(status)) =
                (plain_form_post, use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(self.status()))
            {
                res.set_status(status);
            }
        }
        JsonEncoding::encode(self).unwrap_or_else(|_| Bytes::from_static(br#"{"error":"unavailable"}"#))
    }
}

/// On the server: logs an internal failure and answers [`AppError::Unavailable`].
#[cfg(feature = "ssr")]
pub fn failed(e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "page request failed");
    AppError::Unavailable
}
