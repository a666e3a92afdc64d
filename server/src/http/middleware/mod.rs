//! Middleware, one concern per file.

pub mod client_ip;
pub mod language;
pub mod metrics;
pub mod same_origin;
pub mod page_policy;
pub mod trace;
