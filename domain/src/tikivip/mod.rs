//! Tiki VIP webview payments (counterparts.md §4): Joygate plays Tiki. A payment partner (a
//! super app) opens our VIP webview for its customer; the customer picks a plan and pays in the
//! partner's payment screen; the partner reports the result by IPN, and we check PENDING
//! payments at the partner when the IPN does not come.
//!
//! Where is each rule?
//! - partners and their credentials: [`partners`]; the plans: [`Plan`] (configuration);
//! - the webview's single-use links and the customers: [`customers`];
//! - a payment's life (one open payment per customer and plan, PENDING → SUCCESS / FAILURE /
//!   CANCELLED once, VIP granted once per successful payment, IPN codes 0–6): [`payments`];
//! - refunds (never above what was paid, full refund revokes the VIP time): [`refunds`];
//! - reconciliation (daily files per partner, T+1; comparing the partner's file): [`reconcile`];
//! - Tiki transaction ids (`YYMMDD` + `TIKIVIP-` + number + `-` + unix seconds): [`TikiTransactionId`].

pub mod customers;
pub mod gateway;
pub mod partners;
pub mod payments;
pub mod reconcile;
pub mod refunds;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A VIP plan on sale (configuration `[[tikivip.plans]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub months: u32,
    /// VND.
    pub price: i64,
}

impl Plan {
    /// The plans sold when the configuration names none.
    pub fn defaults() -> Vec<Plan> {
        let plan = |code: &str, vi: &str, en: &str, months, price| Plan { code: code.into(), name_vi: vi.into(), name_en: en.into(), months, price };
        vec![
            plan("VIP1M", "VIP 1 tháng", "VIP 1 month", 1, 99_000),
            plan("VIP3M", "VIP 3 tháng", "VIP 3 months", 3, 269_000),
            plan("VIP12M", "VIP 12 tháng", "VIP 12 months", 12, 899_000),
        ]
    }
}

/// `221115TIKIVIP-235784371-1668488254`: the day (Vietnam) as YYMMDD, `TIKIVIP-`, a random
/// number, `-`, the unix seconds of creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TikiTransactionId(String);

impl TikiTransactionId {
    pub fn new(now_ms: i64) -> TikiTransactionId {
        let at = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let local = at.to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("a valid offset"));
        let day = local.format(time::macros::format_description!("[year repr:last_two][month][day]")).unwrap_or_default();
        let number: u32 = rand::thread_rng().gen_range(100_000_000..1_000_000_000);
        TikiTransactionId(format!("{day}TIKIVIP-{number}-{}", now_ms.div_euclid(1000)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What went wrong, as Tiki's APIs answer it (`{"code":N,"message":…}`, HTTP 200).
#[derive(Debug, thiserror::Error)]
pub enum TikiError {
    /// 1: the request is not valid (field, signature, plan, …).
    #[error("{0}")]
    Invalid(String),
    /// 3: no such transaction.
    #[error("transaction not found")]
    NotFound,
    /// 4: the transaction belongs to another partner.
    #[error("the transaction does not belong to this partner")]
    OtherPartner,
    /// 5: the amount differs from the transaction's.
    #[error("invalid transaction amount")]
    WrongAmount,
    /// 6: the transaction was cancelled.
    #[error("the transaction was cancelled")]
    Cancelled,
    /// 2: ours.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

impl TikiError {
    pub fn code(&self) -> u8 {
        match self {
            TikiError::Invalid(_) => 1,
            TikiError::Store(_) => 2,
            TikiError::NotFound => 3,
            TikiError::OtherPartner => 4,
            TikiError::WrongAmount => 5,
            TikiError::Cancelled => 6,
        }
    }
}

impl From<sqlx::Error> for TikiError {
    fn from(e: sqlx::Error) -> Self {
        TikiError::Store(e.into())
    }
}

#[cfg(test)]
mod tests;

/// What the Tiki APIs, the webview pages and the jobs share (the server builds it; the pages'
/// server functions get it as context).
#[derive(Clone)]
pub struct TikiVip {
    pub db: crate::Db,
    pub plans: std::sync::Arc<Vec<Plan>>,
    pub api: std::sync::Arc<dyn gateway::PartnerApi>,
    pub policy: gateway::PendingPolicy,
    /// How long a `url_open` link may wait to be opened.
    pub link_ttl_ms: i64,
    /// Our public base URL (for `url_open` and `url_checkout_result`).
    pub public_url: String,
}

impl TikiVip {
    pub fn plan(&self, code: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.code == code)
    }

    /// Where the partner sends the customer back after paying (Tiki's `url_checkout_result`).
    pub fn checkout_result_url(&self) -> String {
        format!("{}/apps/vn.tiki.vip/callback/index", self.public_url)
    }
}
