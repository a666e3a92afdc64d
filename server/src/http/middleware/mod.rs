//! Middleware, one concern per file.

pub mod language;
pub mod metrics;
pub mod same_origin;
pub mod security_headers;
pub mod trace;
