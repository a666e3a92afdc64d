//! The OpenAPI document (generated from the handlers, served at `/openapi.json`) against the
//! router: it names exactly the partner-facing routes the API families register (read from
//! their route tables in `server/src/http/`), each with the right method — the live server
//! answers each documented operation, unauthenticated, with its family's refusal of an
//! unauthenticated caller, never 404 or 405 — and the ISV paths `[benefits]` configures. What
//! each answer looks like is checked by schemathesis against the live server (`make
//! test-contract`).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

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

/// The routes a family's source registers: `.route(PATH, get(…))` / `post(…)`, PATH a literal or
/// built from the batch module's `BATCH` constant; `not_api` lists the paths that are pages or
/// fallbacks, not APIs.
fn routes_in(source: &str, not_api: &[&str]) -> BTreeSet<(String, String)> {
    let batch_base = "/api-point/partner/v1/batch";
    assert!(source.contains(&format!("const BATCH: &str = \"{batch_base}\"")) || !source.contains("const BATCH"), "the batch base path moved");
    let mut routes = BTreeSet::new();
    for call in source.split(".route(").skip(1) {
        let Some((path_expr, rest)) = call.split_once(", ") else { continue };
        let method = rest.split('(').next().unwrap_or_default();
        let path = if let Some(lit) = path_expr.strip_prefix('"') {
            lit.trim_end_matches('"').to_string()
        } else if path_expr == "BATCH" {
            batch_base.to_string()
        } else if let Some(f) = path_expr.strip_prefix("&format!(\"{BATCH}") {
            format!("{batch_base}{}", f.trim_end_matches(")").trim_end_matches('"').replace("{{", "{").replace("}}", "}"))
        } else if path_expr.starts_with("&settings.") {
            continue; // the ISV paths: from the configuration (`isv_routes`)
        } else {
            panic!("a route whose path this test cannot read: {path_expr}");
        };
        if !not_api.contains(&path.as_str()) {
            routes.insert(normalised(method, &path));
        }
    }
    routes
}

/// Every partner-facing route the router serves, the ISV ones at `isv` (issue, reverse, query,
/// notify paths).
fn served_routes(isv: [&str; 4]) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    routes.extend(routes_in(include_str!("../../src/http/skyjoy/mod.rs"), &[]));
    routes.extend(routes_in(include_str!("../../src/http/skyjoy/batch.rs"), &[]));
    routes.extend(routes_in(include_str!("../../src/http/benefits/partner.rs"), &[]));
    routes.extend(routes_in(include_str!("../../src/http/benefits/mod.rs"), &[]));
    // `url_open` is the customer's page, not an API
    routes.extend(routes_in(include_str!("../../src/http/tikivip/mod.rs"), &["/apps/vn.tiki.vip/open"]));
    // the gateway's fallbacks answer "Access route not found"
    routes.extend(routes_in(include_str!("../../src/http/rewards/mod.rs"), &["/saas", "/saas/{*rest}"]));
    let isv_source = include_str!("../../src/http/benefits/mod.rs");
    assert_eq!(isv_source.matches(".route(&settings.").count(), 4, "the four ISV routes");
    routes.extend(isv.iter().map(|p| normalised("POST", p)));
    routes
}

/// The documented operations, and each one probed without credentials: its family's refusal.
async fn documented(app: &TestApp) -> BTreeSet<(String, String)> {
    let res = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.insert(normalised(method, path));
            assert!(op["responses"]["200"].is_object(), "{method} {path}: its answer");
            // the family, by its security schemes' names: bearer, tikivip…, alipay…, reward…
            let scheme = op["security"][0].as_object().and_then(|s| s.keys().next().cloned()).unwrap_or_default();
            let family = ["bearer", "tikivip", "alipay", "reward"].into_iter().find(|f| scheme.starts_with(f)).unwrap_or_default();
            let url = format!("{}{}", app.url, path.replace("{skyjoyId}", "SJ1234567890").replace("{batchId}", "b-1"));
            let request = app.client.request(method.to_ascii_uppercase().parse().unwrap(), url);
            // the reward gateway routes before it authenticates: a routed, unauthenticated body
            let routed = json!({"Subject":"loyalty","SubjectType":"reward","SubjectIdentifier":"task","Action":"transaction","TicketId":"t"});
            let res = if family == "reward" { request.json(&routed) } else { request }.send().await.unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            let what = format!("{method} {path} ({scheme}): {status} {body}");
            match family {
                "bearer" => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_eq!(body["errors"]["code"], "UNAUTHORIZED", "{what}");
                    assert!(op["responses"]["401"].is_object(), "{what}: documents its 401");
                }
                "tikivip" => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_eq!(body["code"], 1, "{what}");
                    assert!(op["responses"]["401"].is_object(), "{what}: documents its 401");
                }
                // the seed's convention: HTTP 200, a documented resultCode
                "alipay" => {
                    assert_eq!(status, StatusCode::OK, "{what}");
                    assert_eq!((&body["success"], &body["resultCode"]), (&json!(false), &json!("INVALID_CLIENT")), "{what}");
                }
                "reward" => {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
                    assert_eq!((&body["Status"], &body["StatusCode"]), (&json!("failed"), &json!(401)), "{what}");
                    assert!(op["responses"]["401"].is_object(), "{what}: documents its 401");
                }
                _ => panic!("{what}: an operation without a known security scheme"),
            }
        }
    }
    documented
}

#[tokio::test]
async fn the_openapi_document_names_exactly_the_served_partner_routes() {
    let app = TestApp::spawn().await;
    let documented = documented(&app).await;
    let served = served_routes(["/isv/benefit/issue", "/isv/benefit/reverse", "/isv/benefit/query", "/isv/benefit/sync/notify"]);
    assert_eq!(served.len(), 27, "every partner-facing route was read: {served:?}");
    assert_eq!(documented, served, "the OpenAPI document and the router name the same operations");
}

#[tokio::test]
async fn the_document_names_the_isv_paths_the_configuration_serves() {
    let isv = ["/isv/v2/issue", "/isv/v2/reverse", "/isv/v2/inquire", "/isv/v2/notify"];
    let app = TestApp::spawn_with(|c| {
        c.benefits.issue_path = isv[0].into();
        c.benefits.reverse_path = isv[1].into();
        c.benefits.query_path = isv[2].into();
        c.benefits.notify_path = isv[3].into();
    })
    .await;
    let documented = documented(&app).await;
    assert!(!documented.contains(&normalised("POST", "/isv/benefit/issue")), "the default path is not documented");
    assert_eq!(documented, served_routes(isv));
}

#[tokio::test]
async fn the_reference_page_renders_every_operation() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    let res = app.client.get(format!("{}/docs/api", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self' 'nonce-"), "the page policy applies");
    let page = res.text().await.unwrap();
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            operations += 1;
            let heading = format!("<code>{} {}</code>", method.to_uppercase(), path);
            assert!(page.contains(&heading), "{heading} is on the page");
            assert!(page.contains(&format!("id=\"op-{}\"", op["operationId"].as_str().unwrap())), "{heading}: its anchor");
        }
    }
    assert_eq!(operations, 27);
    for (name, _) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(page.contains(&format!("id=\"schema-{name}\"")), "schema {name} is on the page");
    }
    // a field's range, read from the domain, is shown
    assert!(page.contains(&format!("≤ {}", domain::ledger::request::MAX_AMOUNT)), "the amount's range is on the page");
}
