//! The sandbox payment partner: a super app's wallet that plays the partner side of the Tiki VIP
//! webview integration (issue 5) on its own port, while the platform plays Tiki. Tiki leaves
//! create-transaction, check-transaction, the payment screen and refund to each partner
//! (counterparts.md §4.1 rows 6–10, §4.5), so this is the contract we defined, base
//! `{partner}/partner/v1`:
//!
//! - every call from Tiki carries `X-Tikivip-Timestamp` (ms), `X-Tikivip-Client-Id` and
//!   `X-Tikivip-Signature` over the raw body ("" for GET), as in §4.3; a wrong client id, a
//!   timestamp outside 5 minutes or a bad signature gets HTTP 401 `{"code":1,"message"}`;
//! - answers are `{"code":0,"message":"success","data":{…}}`; errors are HTTP 200
//!   `{"code","message"}` with 1 invalid request, 2 system error, 3 not found (refunds: HTTP 500);
//! - `POST /partner/v1/transactions` {tiki_transaction_id, amount, description, identify_code,
//!   return_url} → {transaction_id, tiki_transaction_id, status, payment_url, deeplink};
//!   idempotent on tiki_transaction_id, the same id with another amount is code 1;
//! - `GET /partner/v1/transactions?tiki_transaction_id=…` → {transaction_id, tiki_transaction_id,
//!   status PENDING|SUCCESS|FAILURE|CANCELLED, amount, refunded_amount, partner_banking_method,
//!   updated_at}; unknown is code 3;
//! - `POST /partner/v1/refunds` {tiki_transaction_id, transaction_amount, transaction_id, reason,
//!   request_id} → HTTP 200 {refund_id, request_id, refunded_amount (in total), status SUCCESS},
//!   any failure HTTP 500 (refund.md); partial or full, never above what was paid, idempotent on
//!   request_id ("partner API must support idempotency");
//! - `GET /pay/{transaction_id}`, the payment screen: the tester picks pay, fail, cancel or pay
//!   but drop the IPN (`POST /pay/{transaction_id}` with `decision=success|fail|cancel|drop-ipn`);
//!   the first decision wins, then 303 to return_url with tiki_transaction_id, transaction_id and
//!   status added to its query;
//! - the IPN, `POST {tiki}/miniapp/tikivip/payment/ipn` (§4.4 §1), signed the same way, sent in
//!   the background: code 0 is delivered, codes 1 and 3–6 are final, anything else is retried
//!   after each of `ipn_retry_ms` ("retry at least 3 times", payment.md), then Tiki has to
//!   check the transaction;
//! - sandbox knobs, no auth: `POST /sandbox/resend-ipn?transaction_id=…` (one more attempt now,
//!   answered with its outcome), `POST /sandbox/fail-refunds?count=N` (the next N refund calls
//!   answer HTTP 500 code 2), `GET /sandbox/ipn-log[?transaction_id=…]` (every IPN attempt),
//!   `GET /sandbox/ipn-deliveries` (`in_flight`: IPN deliveries queued or with retries to come).
//!
//! State is in memory: this is a sandbox counterpart, not the product.
//!
//! Where is each rule?
//! - the transactions, their one-way status and the refunds kept per request_id: `state.rs`;
//! - the signed partner API (X-Tikivip checked once, in the `signed` middleware; create, check,
//!   refund; the `{"code","message"}` refusals): `api.rs`;
//! - the IPN: its body, each signed attempt, what Tiki's answer means and the retries:
//!   `ipn.rs`;
//! - the payment screen, the tester's decision and the testers' index (open Tiki VIP as a
//!   customer): `screen.rs`;
//! - the sandbox knobs (resend an IPN, fail refunds, the IPN log): `knobs.rs`;
//! - the router and start: here.

mod api;
mod ipn;
mod knobs;
mod screen;
mod state;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    middleware,
    routing::{get, post},
    Router,
};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use ipn::Ipn;
use state::Partner;

/// The payment method reported to Tiki (the partner supplies its list of codes, §4.4 §1).
pub const BANKING_METHOD: &str = "SANDBOX_WALLET";
/// Tiki's IPN endpoint under its base URL (§4.4 §1).
pub const IPN_PATH: &str = "/miniapp/tikivip/payment/ipn";
/// How long one IPN attempt may take before it counts as a network error.
const IPN_TIMEOUT: Duration = Duration::from_secs(10);

/// The partner code the sandbox partner is registered under.
pub const PARTNER_CODE: &str = "SANDBOXPAY";

/// How the payment partner reaches Tiki, and the credentials Tiki gave it (§4.1): the same
/// client id and secret sign Tiki's calls to the partner and the partner's IPNs to Tiki.
#[derive(Clone)]
pub struct PaymentPartnerConfig {
    /// Tiki's base URL (the platform); IPNs go to `{tiki_url}/miniapp/tikivip/payment/ipn`.
    pub tiki_url: String,
    pub partner_code: String,
    pub client_id: String,
    pub client_secret: String,
    /// The delay before each IPN retry, in milliseconds: one attempt plus one per entry.
    pub ipn_retry_ms: Vec<u64>,
}

impl PaymentPartnerConfig {
    /// payment.md: "the partner should retry at least 3 times", then check the transaction.
    pub const DEFAULT_IPN_RETRY_MS: [u64; 3] = [1_000, 5_000, 30_000];
}

/// Serves the payment partner on `listener` until shutdown, its IPN deliveries beside it.
async fn serve(listener: tokio::net::TcpListener, partner: Partner, queue: mpsc::UnboundedReceiver<Ipn>, shutdown: watch::Receiver<bool>) {
    let sender = tokio::spawn(ipn::sender(partner.clone(), queue, shutdown.clone()));
    let api = Router::new()
        .route("/partner/v1/transactions", post(api::create_transaction).get(api::check_transaction))
        .route("/partner/v1/refunds", post(api::refund))
        .route_layer(middleware::from_fn_with_state(partner.clone(), api::signed));
    let app = Router::new()
        .merge(api)
        .route("/", get(screen::home))
        .route("/open-vip", post(screen::open_vip))
        .route("/pay/{transaction_id}", get(screen::payment_screen).post(screen::decide))
        .route("/sandbox/resend-ipn", post(knobs::resend_ipn))
        .route("/sandbox/fail-refunds", post(knobs::fail_refunds))
        .route("/sandbox/ipn-log", get(knobs::ipn_log))
        .route("/sandbox/ipn-deliveries", get(knobs::ipn_deliveries))
        .with_state(partner);
    let mut stop = shutdown;
    let stop = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "payment partner stopped");
    }
    let _ = sender.await;
}

/// Starts the payment partner on `listen` (port 0 picks one). Returns its URL — `public_url`,
/// or `http://localhost:{port}`, another site than the platform's `127.0.0.1` — and the task
/// that ends once it has stopped.
pub async fn start(
    config: PaymentPartnerConfig,
    listen: SocketAddr,
    public_url: Option<&str>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(String, JoinHandle<()>)> {
    anyhow::ensure!(!config.client_id.is_empty() && !config.client_secret.is_empty(), "the payment partner needs a client_id and a client_secret");
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr()?;
    let own_url = match public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", bound.port()),
    };
    let http = reqwest::Client::builder().timeout(IPN_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build()?;
    let (ipn_queue, queue) = mpsc::unbounded_channel();
    let config = PaymentPartnerConfig { tiki_url: config.tiki_url.trim_end_matches('/').to_string(), ..config };
    let partner = Partner { config: Arc::new(config), own_url: own_url.clone(), http, ledger: Arc::default(), ipn_queue };
    Ok((own_url, tokio::spawn(serve(listener, partner, queue, shutdown))))
}

