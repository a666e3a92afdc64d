//! Earning rules: how many SkyPoints a purchase earns at a partner (configuration, per partner).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    Down,
    Nearest,
    Up,
}

/// `points = round(amount_vnd / vnd_per_point)`, capped at `max_points` (0: no cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarningRule {
    pub vnd_per_point: i64,
    pub rounding: Rounding,
    pub max_points: i64,
}

impl Default for EarningRule {
    /// 1 point per 10,000 VND, rounded down, no cap.
    fn default() -> Self {
        Self { vnd_per_point: 10_000, rounding: Rounding::Down, max_points: 0 }
    }
}

impl EarningRule {
    /// Never overflows whatever the amount and rounding (i128 inside), never negative, and at
    /// most `MAX_POINTS` (`ledger::request`) even without a cap of the partner's own.
    pub fn points_for(&self, amount_vnd: i64) -> i64 {
        let per = i128::from(self.vnd_per_point.max(1));
        let amount = i128::from(amount_vnd.max(0));
        let points = match self.rounding {
            Rounding::Down => amount / per,
            Rounding::Up => (amount + per - 1) / per,
            Rounding::Nearest => (amount + per / 2) / per,
        };
        let cap = if self.max_points > 0 { self.max_points.min(super::request::MAX_POINTS) } else { super::request::MAX_POINTS };
        i64::try_from(points).unwrap_or(i64::MAX).min(cap)
    }
}

/// The default rule and the partners that have their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarningRules {
    pub default: EarningRule,
    pub partners: std::collections::BTreeMap<String, EarningRule>,
}

impl EarningRules {
    pub fn for_partner(&self, client_id: &str) -> &EarningRule {
        self.partners.get(client_id).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_caps() {
        let down = EarningRule::default();
        assert_eq!((down.points_for(152_123), down.points_for(9_999), down.points_for(-5)), (15, 0, 0));
        let up = EarningRule { rounding: Rounding::Up, ..down };
        assert_eq!((up.points_for(150_001), up.points_for(150_000)), (16, 15));
        let nearest = EarningRule { rounding: Rounding::Nearest, max_points: 20, ..down };
        assert_eq!((nearest.points_for(154_999), nearest.points_for(155_000), nearest.points_for(10_000_000)), (15, 16, 20));
    }

    #[test]
    fn no_amount_overflows_or_passes_the_ceiling() {
        for rounding in [Rounding::Down, Rounding::Up, Rounding::Nearest] {
            for per in [1, 7, 10_000, i64::MAX] {
                let rule = EarningRule { vnd_per_point: per, rounding, max_points: 0 };
                for amount in [i64::MIN, -1, 0, 1, i64::MAX - 1, i64::MAX] {
                    let p = rule.points_for(amount);
                    assert!((0..=crate::ledger::request::MAX_POINTS).contains(&p), "{rounding:?} {per} {amount} → {p}");
                }
            }
        }
    }
}
