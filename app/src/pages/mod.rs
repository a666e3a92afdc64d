//! One file per page.

pub mod account;
pub mod cashier;
pub mod home;
pub mod not_found;
pub mod ops;
pub mod ops_rewards;
pub mod ops_benefits;
pub mod signin;
pub mod tikivip;
