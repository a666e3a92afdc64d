//! Per-flow page policy for `/signin/{flow}`: the embedded sign-in may be framed only by its
//! client's registered web origins (CSP `frame-ancestors` per client, never realm-wide), and a
//! plain form post may be redirected only to the flow's own redirect URI origin.

use app::PagePolicy;
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use domain::identity::{clients, flows};

use crate::http::AppState;

pub async fn signin_page_policy(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let flow_id = req.uri().path().strip_prefix("/signin/").map(|rest| rest.split('/').next().unwrap_or("").to_string());
    if let Some(flow_id) = flow_id.filter(|id| !id.is_empty()) {
        if let Ok(Some(flow)) = flows::load(&state.idp.db, &flow_id, domain::now_ms()).await {
            let embedded = flow.request.response_mode == flows::ResponseMode::WebMessage;
            let client = if embedded { clients::find(&state.idp.db, &flow.request.client_id).await.ok().flatten() } else { None };
            let ancestors = client.as_ref().filter(|c| !c.web_origins.is_empty()).map(|c| c.web_origins.join(" "));
            req.extensions_mut().insert(PagePolicy { frame_ancestors: ancestors, form_targets: flow.message_origin() });
        }
    }
    next.run(req).await
}
