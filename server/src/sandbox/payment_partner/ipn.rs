//! The IPN to Tiki (§4.4 §1): the body fixed when a delivery starts, each attempt signed anew,
//! Tiki's answer read (code 0 delivered; 1 and 3–6 final; anything else retried after each of
//! `ipn_retry_ms`), every attempt logged and kept as the transaction's last answer.

use std::time::Duration;

use axum::{body::Bytes, http::header};
use domain::signing::tikivip;
use serde::Serialize;
use serde_json::Value;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};

use super::{state::Partner, IPN_PATH};

/// The IPN log keeps this many attempts, the oldest dropped first.
const MAX_IPN_LOG: usize = 2_000;

/// One IPN attempt as `/sandbox/ipn-log` shows it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct IpnAttempt {
    pub(super) transaction_id: String,
    pub(super) delivery: u32,
    pub(super) attempt: u32,
    /// The status the IPN told: SUCCESS or FAILURE.
    pub(super) status: &'static str,
    pub(super) http_status: Option<u16>,
    pub(super) code: Option<i64>,
    pub(super) outcome: IpnOutcome,
    pub(super) answer: Option<Value>,
    pub(super) error: Option<String>,
    pub(super) at: i64,
}

/// What an IPN attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum IpnOutcome {
    /// HTTP 200, code 0.
    Delivered,
    /// HTTP 200 with code 1 or 3–6: Tiki's answer stands, no retry.
    Final,
    /// Anything else (no answer, not 200, code 2, …): tried again after the next delay.
    Retry,
    /// Like `Retry`, but no attempt is left: Tiki has to check the transaction.
    Failed,
}

impl IpnOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            IpnOutcome::Delivered => "delivered",
            IpnOutcome::Final => "final",
            IpnOutcome::Retry => "retry",
            IpnOutcome::Failed => "failed",
        }
    }
}

/// An IPN to deliver: the body is fixed when the delivery starts, signed anew at each attempt.
pub(super) struct Ipn {
    pub(super) transaction_id: String,
    pub(super) delivery: u32,
    pub(super) status: &'static str,
    pub(super) body: Bytes,
}


impl Partner {
    /// One signed IPN attempt; its outcome is logged and kept as the transaction's last answer.
    pub(super) async fn send_ipn(&self, ipn: &Ipn, attempt: u32, last: bool) -> IpnAttempt {
        let mut req = self.http.post(format!("{}{IPN_PATH}", self.config.tiki_url)).header(header::CONTENT_TYPE, "application/json");
        for (name, value) in tikivip::headers(&self.config.client_id, &self.config.client_secret, &ipn.body, domain::now_ms()) {
            req = req.header(name, value);
        }
        let sent = req
            .body(ipn.body.clone())
            .send()
            .await;
        let (http_status, answer, error) = match sent {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.bytes().await {
                    Ok(b) => (Some(status), serde_json::from_slice::<Value>(&b).ok(), None),
                    Err(e) => (Some(status), None, Some(e.to_string())),
                }
            }
            Err(e) => (None, None, Some(e.to_string())),
        };
        let code = answer.as_ref().and_then(|a| a["code"].as_i64());
        let outcome = match (http_status, code) {
            (Some(200), Some(0)) => IpnOutcome::Delivered,
            // §4.4 §1: invalid request, not found, not this partner's, wrong amount, cancelled
            (Some(200), Some(1 | 3..=6)) => IpnOutcome::Final,
            _ if last => IpnOutcome::Failed,
            _ => IpnOutcome::Retry,
        };
        let record = IpnAttempt {
            transaction_id: ipn.transaction_id.clone(),
            delivery: ipn.delivery,
            attempt,
            status: ipn.status,
            http_status,
            code,
            outcome,
            answer,
            error,
            at: domain::now_ms(),
        };
        match outcome {
            IpnOutcome::Delivered => tracing::info!(transaction_id = %ipn.transaction_id, attempt, "IPN delivered to Tiki"),
            IpnOutcome::Final => tracing::warn!(transaction_id = %ipn.transaction_id, attempt, ?code, "Tiki refused the IPN"),
            IpnOutcome::Failed => {
                tracing::warn!(transaction_id = %ipn.transaction_id, attempt, ?http_status, ?code, "IPN not delivered; Tiki has to check the transaction")
            }
            IpnOutcome::Retry => {
                tracing::info!(transaction_id = %ipn.transaction_id, attempt, ?http_status, ?code, error = ?record.error, "IPN failed, will retry")
            }
        }
        let mut ledger = self.ledger();
        if let Some(t) = ledger.transactions.get_mut(&ipn.transaction_id) {
            t.last_ipn = Some(record.clone());
        }
        ledger.ipn_log.push(record.clone());
        let excess = ledger.ipn_log.len().saturating_sub(MAX_IPN_LOG);
        ledger.ipn_log.drain(..excess);
        record
    }

    /// The first attempt, then one retry after each configured delay while Tiki's answer is
    /// neither a success nor final.
    pub(super) async fn deliver(self, ipn: Ipn) {
        self.attempts(&ipn).await;
        let mut ledger = self.ledger();
        ledger.ipn_in_flight = ledger.ipn_in_flight.saturating_sub(1);
    }

    async fn attempts(&self, ipn: &Ipn) {
        let delays = self.config.ipn_retry_ms.clone();
        let attempts = delays.len() as u32 + 1;
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(delays[attempt as usize - 2])).await;
            }
            if self.send_ipn(ipn, attempt, attempt == attempts).await.outcome != IpnOutcome::Retry {
                return;
            }
        }
    }
}

/// Runs the IPN deliveries beside the requests, so a browser's redirect never waits for Tiki;
/// at shutdown the deliveries still waiting stop (Tiki will check those transactions).
pub(super) async fn sender(partner: Partner, mut queue: mpsc::UnboundedReceiver<Ipn>, mut shutdown: watch::Receiver<bool>) {
    let mut deliveries = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            Some(ipn) = queue.recv() => {
                deliveries.spawn(partner.clone().deliver(ipn));
            }
            Some(_) = deliveries.join_next(), if !deliveries.is_empty() => {}
        }
    }
    deliveries.shutdown().await;
}

