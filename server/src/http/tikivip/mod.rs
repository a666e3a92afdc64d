//! The Tiki-side APIs of the VIP webview integration (counterparts.md §4.4), at Tiki's paths
//! under `/miniapp/tikivip/`, signed by the payment partner with `X-Tikivip-Timestamp`,
//! `X-Tikivip-Client-Id`, `X-Tikivip-Signature` (5-minute window; a GET signs the empty body),
//! answering `{"code":0,"message":"success",…}` and, on failure, HTTP 200 `{"code":N,"message"}`
//! with Tiki's codes (1 invalid request, 2 system error, 3 not found, 4 not this partner's,
//! 5 wrong amount, 6 cancelled). A request that is not signed right: HTTP 401, code 1.
//!
//! | path | what |
//! |---|---|
//! | `POST /miniapp/tikivip/webview` | a single-use link into the webview for a customer ([`webview`]) |
//! | `POST /miniapp/tikivip/payment/ipn` | the partner reports a payment's status ([`ipn`]) |
//! | `GET /miniapp/tikivip/transaction?tiki_transaction_id=` | a payment as we know it ([`transaction`]) |
//! | `GET /miniapp/tikivip/reconciliation?date=YYYYMMDD&part=n` | a past day's reconciliation file, CSV ([`reconcile`]) |
//! | `GET /apps/vn.tiki.vip/open?t=` | `url_open`: spends the link, starts the webview session |

pub mod api;
pub mod reconcile;

use axum::{
    routing::{get, post},
    Router,
};

use super::AppState;

pub use api::TikiAnswer;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/miniapp/tikivip/webview", post(api::webview))
        .route("/miniapp/tikivip/payment/ipn", post(api::ipn))
        .route("/miniapp/tikivip/transaction", get(api::transaction))
        .route("/miniapp/tikivip/reconciliation", get(reconcile::reconciliation))
        .route_layer(super::input::limit_uri::<TikiAnswer>())
}

/// The webview's opening link: it signs the customer in to the webview's browser session.
pub fn session_routes() -> Router<AppState> {
    Router::new().route("/apps/vn.tiki.vip/open", get(api::open))
}

