//! The reward rules of one client, per action (configuration: `[rewards.clients.ID.ACTION]`),
//! and the arithmetic each one does. Pure functions: the worker ([`super::process`]) applies
//! them and writes the result.
//!
//! | action | rule |
//! |---|---|
//! | transaction | the rows' amounts add up; the earning rule (`vnd_per_point`, `rounding`, `max_points`) gives the points of the total, one posting |
//! | register | `points` once per member |
//! | registerreferral | `referrer_points` to the referrer and `member_points` to the new member, once per member (one referrer each) |
//! | transactionreferral | the referrer earns, by the transaction's earning rule, `percent` (or `products[product_id]`) % of each row's amount |
//! | luckydraw | one prize of `prizes` (points and weight; 0 points is "no prize") drawn with the operating system's CSPRNG; at most `daily_limit` draws per member and local day |
//! | dailycheckin | once per member and local day; day n of an unbroken streak earns `streak_points[(n − 1) mod len]`; a missed day starts again at day 1 |

use std::collections::BTreeMap;

use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::envelope::{Action, Row};
use crate::ledger::{EarningRule, Rounding};

/// The most points one rule may give at once.
pub const MAX_REWARD_POINTS: i64 = 1_000_000;

/// A rule that cannot be used, with where and why (a configuration error at start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), RuleError> {
    if ok {
        Ok(())
    } else {
        Err(RuleError(what()))
    }
}

fn points_in_range(name: &str, points: i64) -> Result<(), RuleError> {
    ensure((0..=MAX_REWARD_POINTS).contains(&points), || format!("{name} must be 0 to {MAX_REWARD_POINTS} points, not {points}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransactionRule {
    pub enabled: bool,
    pub vnd_per_point: i64,
    pub rounding: Rounding,
    /// Per command; 0: no cap.
    pub max_points: i64,
}

impl Default for TransactionRule {
    fn default() -> Self {
        let e = EarningRule::default();
        Self { enabled: true, vnd_per_point: e.vnd_per_point, rounding: e.rounding, max_points: e.max_points }
    }
}

impl TransactionRule {
    pub fn earning(&self) -> EarningRule {
        EarningRule { vnd_per_point: self.vnd_per_point, rounding: self.rounding, max_points: self.max_points }
    }

    /// The points of a purchase of `amount` VND (all rows together).
    pub fn points_for(&self, amount: i64) -> i64 {
        self.earning().points_for(amount)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterRule {
    pub enabled: bool,
    /// Welcome points, once per member.
    pub points: i64,
}

impl Default for RegisterRule {
    fn default() -> Self {
        Self { enabled: true, points: 50 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegisterReferralRule {
    pub enabled: bool,
    /// To the member who shared (userIdShare).
    pub referrer_points: i64,
    /// To the new member (memberId).
    pub member_points: i64,
}

impl Default for RegisterReferralRule {
    fn default() -> Self {
        Self { enabled: true, referrer_points: 100, member_points: 50 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransactionReferralRule {
    pub enabled: bool,
    /// The referrer's share of each row's amount, in percent.
    pub percent: i64,
    /// Another share for rows of these product ids.
    pub products: BTreeMap<String, i64>,
}

impl Default for TransactionReferralRule {
    fn default() -> Self {
        Self { enabled: true, percent: 10, products: BTreeMap::new() }
    }
}

impl TransactionReferralRule {
    /// The amount (VND) the referrer earns on: each row's share, added up (exact, then rounded
    /// down once); the points follow from the transaction rule.
    pub fn shared_amount(&self, rows: &[Row]) -> i64 {
        let hundredths: i128 = rows
            .iter()
            .map(|r| {
                let share = r.product_id.as_ref().and_then(|p| self.products.get(p)).copied().unwrap_or(self.percent);
                i128::from(r.amount.unwrap_or(0)) * i128::from(share)
            })
            .sum();
        // rows ≤ 100, amounts ≤ 10^15, shares ≤ 100: far inside i64 after dividing by 100
        i64::try_from(hundredths / 100).unwrap_or(i64::MAX)
    }
}

/// One line of the prize table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prize {
    /// 0: "no prize".
    pub points: i64,
    /// Relative chance (0: never drawn).
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LuckyDrawRule {
    pub enabled: bool,
    /// Draws per member and local day.
    pub daily_limit: i64,
    pub prizes: Vec<Prize>,
}

impl Default for LuckyDrawRule {
    fn default() -> Self {
        let p = |points, weight| Prize { points, weight };
        Self { enabled: true, daily_limit: 3, prizes: vec![p(0, 50), p(10, 30), p(50, 15), p(200, 5)] }
    }
}

impl LuckyDrawRule {
    /// Draws a line of the table, each with a chance of `weight / Σ weight`. The caller passes a
    /// cryptographically secure generator (`rand::rngs::OsRng`), so nobody can predict a draw.
    pub fn draw<R: RngCore + CryptoRng>(&self, rng: &mut R) -> usize {
        let total: i64 = self.prizes.iter().map(|p| p.weight.max(0)).sum();
        let mut pick = rng.gen_range(0..total.max(1));
        for (i, prize) in self.prizes.iter().enumerate() {
            let w = prize.weight.max(0);
            if pick < w {
                return i;
            }
            pick -= w;
        }
        // unreachable with a validated table (Σ weight > 0); the last line with a chance
        self.prizes.iter().rposition(|p| p.weight > 0).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckInRule {
    pub enabled: bool,
    /// Day 1, 2, … of a streak; after the last day the table starts again.
    pub streak_points: Vec<i64>,
}

impl Default for CheckInRule {
    fn default() -> Self {
        Self { enabled: true, streak_points: vec![5, 5, 10, 10, 15, 15, 50] }
    }
}

impl CheckInRule {
    /// The points of day `streak` (1-based) of a streak.
    pub fn points_for(&self, streak: i64) -> i64 {
        let len = self.streak_points.len() as i64;
        if len == 0 || streak < 1 {
            return 0;
        }
        self.streak_points[((streak - 1) % len) as usize]
    }
}

/// A client's rules for the six actions (each on by default, with the defaults above).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    pub transaction: TransactionRule,
    pub luckydraw: LuckyDrawRule,
    pub register: RegisterRule,
    pub registerreferral: RegisterReferralRule,
    pub transactionreferral: TransactionReferralRule,
    pub dailycheckin: CheckInRule,
}

impl Rules {
    pub fn enabled(&self, action: Action) -> bool {
        match action {
            Action::Transaction => self.transaction.enabled,
            Action::LuckyDraw => self.luckydraw.enabled,
            Action::Register => self.register.enabled,
            Action::RegisterReferral => self.registerreferral.enabled,
            Action::TransactionReferral => self.transactionreferral.enabled,
            Action::DailyCheckIn => self.dailycheckin.enabled,
        }
    }

    /// Every number in range, so the worker's arithmetic cannot overflow.
    pub fn validate(&self) -> Result<(), RuleError> {
        let t = &self.transaction;
        ensure((1..=1_000_000_000).contains(&t.vnd_per_point), || format!("transaction.vnd_per_point must be 1 to 1,000,000,000, not {}", t.vnd_per_point))?;
        ensure((0..=1_000_000_000).contains(&t.max_points), || format!("transaction.max_points must be 0 (no cap) to 1,000,000,000, not {}", t.max_points))?;
        points_in_range("register.points", self.register.points)?;
        points_in_range("registerreferral.referrer_points", self.registerreferral.referrer_points)?;
        points_in_range("registerreferral.member_points", self.registerreferral.member_points)?;
        let r = &self.transactionreferral;
        ensure((0..=100).contains(&r.percent), || format!("transactionreferral.percent must be 0 to 100, not {}", r.percent))?;
        ensure(r.products.len() <= 1000, || "transactionreferral.products may name at most 1000 products".into())?;
        for (product, share) in &r.products {
            ensure(!product.is_empty() && product.chars().count() <= 64, || format!("transactionreferral.products: {product:?} is not a product id"))?;
            ensure((0..=100).contains(share), || format!("transactionreferral.products.{product} must be 0 to 100 percent, not {share}"))?;
        }
        let d = &self.luckydraw;
        ensure((1..=1000).contains(&d.daily_limit), || format!("luckydraw.daily_limit must be 1 to 1000, not {}", d.daily_limit))?;
        ensure((1..=50).contains(&d.prizes.len()), || "luckydraw.prizes must have 1 to 50 lines".into())?;
        for (i, p) in d.prizes.iter().enumerate() {
            points_in_range(&format!("luckydraw.prizes[{i}].points"), p.points)?;
            ensure((0..=1_000_000).contains(&p.weight), || format!("luckydraw.prizes[{i}].weight must be 0 to 1,000,000, not {}", p.weight))?;
        }
        ensure(d.prizes.iter().any(|p| p.weight > 0), || "luckydraw.prizes: at least one line needs a weight above 0".into())?;
        let c = &self.dailycheckin;
        ensure((1..=31).contains(&c.streak_points.len()), || "dailycheckin.streak_points must have 1 to 31 days".into())?;
        for (i, p) in c.streak_points.iter().enumerate() {
            points_in_range(&format!("dailycheckin.streak_points[{i}]"), *p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::{rngs::StdRng, SeedableRng};

    use super::*;

    fn row(amount: i64, product: Option<&str>) -> Row {
        Row { amount: Some(amount), date: None, product_id: product.map(str::to_string) }
    }

    #[test]
    fn transaction_points_come_from_the_earning_rule_on_the_total() {
        let rule = TransactionRule::default();
        assert_eq!((rule.points_for(175_000), rule.points_for(9_999)), (17, 0));
        let capped = TransactionRule { max_points: 10, rounding: Rounding::Up, ..rule };
        assert_eq!((capped.points_for(10_001), capped.points_for(1_000_000)), (2, 10));
    }

    #[test]
    fn the_referrer_shares_each_row_by_its_product() {
        let mut rule = TransactionReferralRule { percent: 10, ..Default::default() };
        rule.products.insert("10".into(), 50);
        assert_eq!(rule.shared_amount(&[row(100_000, None), row(100_000, Some("10")), row(100_000, Some("11"))]), 10_000 + 50_000 + 10_000);
        assert_eq!(rule.shared_amount(&[row(15, None), row(15, None)]), 3, "exact hundredths, rounded down once");
        let rows: Vec<Row> = (0..100).map(|_| row(super::super::envelope::MAX_AMOUNT, Some("10"))).collect();
        assert_eq!(rule.shared_amount(&rows), 50 * super::super::envelope::MAX_AMOUNT, "no overflow, whatever the rows");
    }

    #[test]
    fn a_streak_runs_through_the_table_and_starts_again() {
        let rule = CheckInRule::default();
        let week: Vec<i64> = (1..=8).map(|d| rule.points_for(d)).collect();
        assert_eq!(week, vec![5, 5, 10, 10, 15, 15, 50, 5]);
        assert_eq!(rule.points_for(0), 0);
    }

    #[test]
    fn draws_follow_the_weights_and_never_pick_a_zero_weight() {
        let rule = LuckyDrawRule { prizes: vec![Prize { points: 0, weight: 3 }, Prize { points: 99, weight: 0 }, Prize { points: 10, weight: 1 }], ..Default::default() };
        // StdRng (ChaCha) is a CSPRNG too; seeded here so the counts are the same every run
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[rule.draw(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((29_000..31_000).contains(&counts[0]) && (9_000..11_000).contains(&counts[2]), "{counts:?}");
        let mut os = rand::rngs::OsRng;
        assert_ne!(rule.draw(&mut os), 1);
    }

    #[test]
    fn rules_out_of_range_are_refused_with_their_name() {
        assert_eq!(Rules::default().validate(), Ok(()));
        let err = |change: fn(&mut Rules)| {
            let mut r = Rules::default();
            change(&mut r);
            r.validate().unwrap_err().0
        };
        assert!(err(|r| r.transaction.vnd_per_point = 0).starts_with("transaction.vnd_per_point"));
        assert!(err(|r| r.register.points = -1).starts_with("register.points"));
        assert!(err(|r| r.luckydraw.prizes = vec![Prize { points: 5, weight: 0 }]).contains("weight above 0"));
        assert!(err(|r| r.luckydraw.prizes.clear()).contains("1 to 50"));
        assert!(err(|r| r.luckydraw.daily_limit = 0).starts_with("luckydraw.daily_limit"));
        assert!(err(|r| r.dailycheckin.streak_points.clear()).contains("1 to 31"));
        assert!(err(|r| {
            r.transactionreferral.products.insert("9".into(), 101);
        })
        .starts_with("transactionreferral.products.9"));
    }

    #[test]
    fn rules_read_from_configuration_text() {
        let rules: Rules = serde_json::from_value(serde_json::json!({
            "transaction": {"vnd_per_point": 5000},
            "luckydraw": {"daily_limit": 1, "prizes": [{"points": 0, "weight": 1}, {"points": 20, "weight": 1}]},
            "dailycheckin": {"streak_points": [1, 2, 3]},
            "registerreferral": {"enabled": false}
        }))
        .unwrap();
        assert_eq!((rules.transaction.vnd_per_point, rules.transaction.rounding), (5000, Rounding::Down));
        assert!(!rules.enabled(Action::RegisterReferral) && rules.enabled(Action::Register));
        assert!(serde_json::from_value::<Rules>(serde_json::json!({"register": {"point": 5}})).is_err(), "a typo is an error");
    }
}
