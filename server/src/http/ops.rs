//! Operator endpoints: liveness, readiness, Prometheus metrics.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use super::errors::ApiError;
use crate::telemetry;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers (within the pool's acquire timeout). Reports
/// which instance answered, the database kind and this instance's pool.
pub async fn readyz(State(state): State<super::AppState>) -> Result<impl IntoResponse, ApiError> {
    let db = &state.db;
    db.ping().await.map_err(|e| ApiError::unavailable(format!("database: {e}")))?;
    let (open, idle) = db.pool_state();
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": "ready",
            "instance": state.instance,
            "checks": { "database": "ok" },
            "database": { "kind": db.backend().as_str(), "pool": { "open": open, "idle": idle } },
        })),
    ))
}

/// Prometheus text exposition (with this instance's database pool, as gauges).
pub async fn metrics(State(db): State<domain::Db>) -> impl IntoResponse {
    let (open, idle) = db.pool_state();
    metrics::gauge!("joygate_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("joygate_db_pool_connections", "state" => "idle").set(idle as f64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], telemetry::metrics_handle().render())
}
