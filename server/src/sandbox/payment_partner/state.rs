//! The sandbox partner's state, in memory: transactions (a pending payment is decided once),
//! refunds kept under their request_id, the sandbox knobs' counters and the IPN log.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    ipn::{Ipn, IpnAttempt},
    PaymentPartnerConfig, BANKING_METHOD,
};

/// A payment's state at the partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Pending,
    Success,
    Failure,
    Cancelled,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::Cancelled => "CANCELLED",
        }
    }

    /// Tiki's IPN knows SUCCESS and FAILURE (§4.4 §1): a cancelled payment is a failed one.
    pub(super) fn ipn_status(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            _ => "FAILURE",
        }
    }

    /// A pending payment is decided once; every other move is refused (`None`).
    pub(super) fn transition(self, to: Status) -> Option<Status> {
        (self == Status::Pending && to != Status::Pending).then_some(to)
    }
}

/// What the tester chose on the payment screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum Decision {
    Success,
    Fail,
    Cancel,
    /// Paid, but Tiki is never told: it has to find out with check-transaction.
    DropIpn,
}

impl Decision {
    pub(super) fn status(self) -> Status {
        match self {
            Decision::Success | Decision::DropIpn => Status::Success,
            Decision::Fail => Status::Failure,
            Decision::Cancel => Status::Cancelled,
        }
    }
}

#[derive(Clone)]
pub(super) struct Transaction {
    pub(super) transaction_id: String,
    pub(super) tiki_transaction_id: String,
    pub(super) amount: i64,
    pub(super) description: String,
    pub(super) identify_code: String,
    pub(super) return_url: url::Url,
    pub(super) status: Status,
    pub(super) refunded_amount: i64,
    pub(super) ipn_dropped: bool,
    /// IPN deliveries started for it: the decision's, then one per resend.
    pub(super) ipn_deliveries: u32,
    /// Tiki's last answer to an IPN for it.
    pub(super) last_ipn: Option<IpnAttempt>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

impl Transaction {
    /// Where the browser goes after the decision: return_url plus what happened.
    pub(super) fn return_target(&self) -> url::Url {
        let mut url = self.return_url.clone();
        url.query_pairs_mut()
            .append_pair("tiki_transaction_id", &self.tiki_transaction_id)
            .append_pair("transaction_id", &self.transaction_id)
            .append_pair("status", self.status.as_str());
        url
    }

    /// The next IPN delivery for a decided payment (§4.4 §1 body, compact JSON).
    pub(super) fn next_ipn(&mut self) -> Ipn {
        self.ipn_deliveries += 1;
        let body = json!({
            "reference_transaction_id": self.tiki_transaction_id,
            "transaction_amount": self.amount,
            "transaction_id": self.transaction_id,
            "status": self.status.ipn_status(),
            "partner_banking_method": BANKING_METHOD,
        });
        Ipn {
            transaction_id: self.transaction_id.clone(),
            delivery: self.ipn_deliveries,
            status: self.status.ipn_status(),
            body: Bytes::from(body.to_string()),
        }
    }
}

/// A refund done, kept under its request_id with the answer given.
pub(super) struct Refund {
    pub(super) tiki_transaction_id: String,
    pub(super) transaction_id: String,
    pub(super) amount: i64,
    pub(super) answer: Value,
}

#[derive(Default)]
pub(super) struct Ledger {
    pub(super) transactions: HashMap<String, Transaction>,
    /// tiki_transaction_id → transaction_id
    pub(super) by_tiki_id: HashMap<String, String>,
    /// request_id → the refund done for it
    pub(super) refunds: HashMap<String, Refund>,
    /// Refund calls still to fail on purpose (`/sandbox/fail-refunds`).
    pub(super) fail_refunds: u32,
    pub(super) ipn_log: Vec<IpnAttempt>,
    /// IPN deliveries queued or still attempting (retries to come): `/sandbox/ipn-deliveries`.
    pub(super) ipn_in_flight: u32,
}

#[derive(Clone)]
pub(super) struct Partner {
    pub(super) config: Arc<PaymentPartnerConfig>,
    pub(super) own_url: String,
    pub(super) http: reqwest::Client,
    pub(super) ledger: Arc<Mutex<Ledger>>,
    pub(super) ipn_queue: mpsc::UnboundedSender<Ipn>,
}

/// An id in the partner's style, e.g. `8A43B011-0EC9-4AA5-8D83-6FE7B2BCE4EC` (§4.4 examples).
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase()
}

impl Partner {
    pub(super) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn transaction(&self, transaction_id: &str) -> Option<Transaction> {
        self.ledger().transactions.get(transaction_id).cloned()
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_is_decided_once() {
        assert_eq!(Status::Pending.transition(Status::Success), Some(Status::Success));
        assert_eq!(Status::Pending.transition(Status::Pending), None);
        for decided in [Status::Success, Status::Failure, Status::Cancelled] {
            for to in [Status::Pending, Status::Success, Status::Failure, Status::Cancelled] {
                assert_eq!(decided.transition(to), None);
            }
        }
        assert_eq!(Status::Cancelled.ipn_status(), "FAILURE");
    }
}
