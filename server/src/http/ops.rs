//! Operator endpoints: liveness, readiness, Prometheus metrics.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use super::errors::ApiError;
use crate::telemetry;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
pub async fn readyz(State(db): State<domain::Db>) -> Result<impl IntoResponse, ApiError> {
    db.ping().await.map_err(|e| ApiError::unavailable(format!("database: {e}")))?;
    Ok((StatusCode::OK, Json(json!({ "status": "ready", "checks": { "database": "ok" } }))))
}

/// Prometheus text exposition.
pub async fn metrics() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry::metrics_handle().render())
}
