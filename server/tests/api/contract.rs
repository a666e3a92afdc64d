//! The OpenAPI document (`server/openapi.json`, served at `/openapi.json`) against the code: it
//! names exactly the SkyJoy partner routes the router serves (read from the route tables in
//! `server/src/http/skyjoy/`), each with the right method (the live server answers each
//! documented operation, unauthenticated, with SkyJoy's 401, never 404 or 405). What each
//! answer looks like is checked by schemathesis against the live server (`make test-contract`).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

/// `(METHOD, path)` with every path parameter written `{}`.
fn normalised(method: &str, path: &str) -> (String, String) {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    (method.to_ascii_uppercase(), out)
}

/// The routes the SkyJoy modules register: `.route(PATH, get(…))` / `post(…)`, PATH a literal or
/// built from the batch module's `BATCH` constant.
fn served_routes() -> BTreeSet<(String, String)> {
    let batch_base = "/api-point/partner/v1/batch";
    let mut routes = BTreeSet::new();
    for source in [include_str!("../../src/http/skyjoy/mod.rs"), include_str!("../../src/http/skyjoy/batch.rs")] {
        assert!(source.contains(&format!("const BATCH: &str = \"{batch_base}\"")) || !source.contains("const BATCH"), "the batch base path moved");
        for call in source.split(".route(").skip(1) {
            let Some((path_expr, rest)) = call.split_once(", ") else { continue };
            let method = rest.split('(').next().unwrap_or_default();
            let path = if let Some(lit) = path_expr.strip_prefix('"') {
                lit.trim_end_matches('"').to_string()
            } else if path_expr == "BATCH" {
                batch_base.to_string()
            } else if let Some(f) = path_expr.strip_prefix("&format!(\"{BATCH}") {
                format!("{batch_base}{}", f.trim_end_matches(")").trim_end_matches('"').replace("{{", "{").replace("}}", "}"))
            } else {
                panic!("a route whose path this test cannot read: {path_expr}");
            };
            routes.insert(normalised(method, &path));
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_names_exactly_the_served_skyjoy_routes() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert(normalised(method, path));
            assert!(op["responses"]["401"].is_object() && op["responses"]["200"].is_object(), "{method} {path}: its answers");
            // the route answers that method: unauthenticated, SkyJoy's 401 (not 404, not 405)
            let url = format!("{}{}", app.url, path.replace("{skyjoyId}", "SJ1234567890").replace("{batchId}", "b-1"));
            let res = app.client.request(method.to_ascii_uppercase().parse().unwrap(), url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["errors"]["code"], "UNAUTHORIZED", "{method} {path}: {body}");
        }
    }
    let served = served_routes();
    assert_eq!(served.len(), 15, "every SkyJoy route was read: {served:?}");
    assert_eq!(documented, served, "the OpenAPI document and the router name the same operations");
}
