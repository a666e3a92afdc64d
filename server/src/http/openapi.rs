//! The partner APIs' OpenAPI 3.1 document, generated from the handlers: each handler carries its
//! operation (`#[utoipa::path]`: path, method, scope, answers; its doc comment is the summary and
//! description), the types it reads and answers derive `ToSchema`, and the ranges of the checked
//! fields come from the domain's constants ([`fields`]), so the document says what the code
//! decides. Served at `GET /openapi.json`; `GET /docs/api` renders it for people ([`reference`]).
//!
//! Where is each rule? Which operations are documented: [`PartnerApis`]'s `paths(…)` — and
//! `server/tests/api/contract.rs` proves they are exactly the routes served. Field ranges: the
//! domain's validated types; the document reads their constants here. Whether the server keeps
//! its word: schemathesis, against the live server (`make test-contract`).

use axum::{
    body::Bytes,
    extract::State,
    http::header,
    response::{Html, IntoResponse, Response},
};
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as Document,
    },
    Modify, OpenApi,
};

use super::{benefits, rewards, skyjoy, tikivip, AppState};
use crate::config::BenefitsSettings;

/// Every partner-facing operation.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Joygate partner APIs",
        version = "1",
        description = "The APIs partners and counterparts call: SkyJoy's customer, SkyPoint, lock and batch APIs and the \
            benefit partner APIs (a Bearer access token from `POST /token`, client_credentials); the Tiki VIP side \
            (signed X-Tikivip-*); the benefit ISV APIs a super-app platform calls (signed RSA256 both ways); the \
            reward task gateway (Client-Id, Api-Key, a signed Data). Ranges and refusals: README \"Limits and errors\"."
    ),
    paths(
        skyjoy::customers::profile,
        skyjoy::customers::lookup,
        skyjoy::customers::onboard,
        skyjoy::customers::link,
        skyjoy::customers::link_token,
        skyjoy::points::accrual,
        skyjoy::points::redemption,
        skyjoy::points::redemption_with_token,
        skyjoy::points::lookup,
        skyjoy::locks::lock,
        skyjoy::locks::release,
        skyjoy::locks::capture,
        skyjoy::batch::upload,
        skyjoy::batch::summary,
        skyjoy::batch::result_file,
        benefits::partner::lookup,
        benefits::partner::use_benefit,
        benefits::isv::issue,
        benefits::isv::reverse,
        benefits::isv::query,
        benefits::isv::notify,
        tikivip::api::webview,
        tikivip::api::ipn,
        tikivip::api::transaction,
        tikivip::reconcile::reconciliation,
        rewards::api::request_in,
        rewards::api::request_out,
    ),
    // reached through a `schema_with` (the reward command's Data), so not collected on their own
    components(schemas(rewards::api::TaskData, rewards::api::TaskRow)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "SkyJoy customers", description = "Customer info, lookup, onboarding and Customer ID linking (counterparts.md §1.5)."),
        (name = "SkyJoy points", description = "Accrual, redemption, lookup and locks on the SkyPoint ledger (§1.6, §1.7)."),
        (name = "SkyJoy batch", description = "Batch point files, CSV or JSON Lines."),
        (name = "Benefits (partners)", description = "A shop's cashier sees and uses a benefit a user collected."),
        (name = "Benefits (super-app platforms)", description = "The ISV side of the Alipay Connect benefit APIs (counterparts.md §2.2); paths from `[benefits]`."),
        (name = "Tiki VIP", description = "The APIs the VIP payment partner calls (counterparts.md §4.4)."),
        (name = "Reward tasks", description = "The loyalty reward task gateway (counterparts.md §3.2, §3.3)."),
    )
)]
pub struct PartnerApis;

/// The security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /token (client_credentials); the operation names the scope it needs."))
                    .build(),
            ),
        );
        let header = |name: &str, description: &str| {
            let mut key = ApiKeyValue::new(name);
            key.description = Some(description.to_string());
            SecurityScheme::ApiKey(ApiKey::Header(key))
        };
        for (scheme, name, description) in [
            ("tikivipClientId", "X-Tikivip-Client-Id", "The payment partner's client id"),
            ("tikivipTimestamp", "X-Tikivip-Timestamp", "Unix milliseconds, within 5 minutes"),
            ("tikivipSignature", "X-Tikivip-Signature", "hex HMAC-SHA256, with the partner's secret, of base64url(timestamp.client_id.body) (a GET signs the empty body)"),
            ("alipayClientId", "Client-Id", "The super-app platform's client id"),
            ("alipayRequestTime", "Request-Time", "ISO 8601 with a zone, within [benefits] time_window_s"),
            ("alipaySignature", "Signature", "algorithm=RSA256,keyVersion=N,signature=… over POST, the URI, Client-Id, Request-Time and the body (§2.5)"),
            ("rewardClientId", "Client-Id", "The reward client's id (its sign-in client_id)"),
            ("rewardApiKey", "Api-Key", "The reward client's API key"),
        ] {
            components.add_security_scheme(scheme, header(name, description));
        }
    }
}

/// The document as served, and its page: made once per process.
pub struct Served {
    json: Bytes,
    page: String,
}

impl Served {
    /// The document with the ISV paths `[benefits]` configures.
    pub fn new(settings: &BenefitsSettings) -> anyhow::Result<Served> {
        let mut doc = PartnerApis::openapi();
        let defaults = BenefitsSettings::default();
        // all four taken out before any is put back: a configuration may swap two defaults
        let moved: Vec<_> = [
            (&defaults.issue_path, &settings.issue_path),
            (&defaults.reverse_path, &settings.reverse_path),
            (&defaults.query_path, &settings.query_path),
            (&defaults.notify_path, &settings.notify_path),
        ]
        .into_iter()
        .filter_map(|(default, configured)| doc.paths.paths.remove(default.as_str()).map(|item| (configured.clone(), item)))
        .collect();
        doc.paths.paths.extend(moved);
        let value = serde_json::to_value(&doc)?;
        Ok(Served { json: Bytes::from(serde_json::to_vec(&value)?), page: reference::render(&value) })
    }
}

/// `GET /openapi.json`
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi.json.clone()).into_response()
}

/// `GET /docs/api`: the document as a page.
pub async fn reference_page(State(state): State<AppState>) -> Response {
    Html(state.openapi.page.clone()).into_response()
}

/// Field schemas whose ranges the domain decides (`#[schema(schema_with = …)]`).
pub mod fields {
    use domain::ledger::request::{MAX_AMOUNT, MAX_DATE_MS, MAX_DESCRIPTION_CHARS, MAX_ITEM_ID_CHARS, MAX_POINTS, MAX_TRANSACTION_ID_CHARS, MIN_DATE_MS};
    use utoipa::openapi::{
        schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type},
        Object,
    };

    fn string(description: &str) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String).description(Some(description))
    }

    fn integer(min: i64, max: i64, description: &str) -> Object {
        ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))).minimum(Some(min)).maximum(Some(max)).description(Some(description)).build()
    }

    /// `SJ` and ten digits ([`domain::identity::SkyJoyId`]).
    pub fn skyjoy_id() -> Object {
        string("A SkyJoy ID: SJ and ten digits").pattern(Some(domain::identity::SkyJoyId::PATTERN)).build()
    }

    /// Text without a control character (Unicode Cc), empty included.
    pub const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

    /// An id: no control character (Unicode Cc), and not only spaces (ids are trimmed).
    pub const PRINTABLE: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

    fn id(max: usize, description: &str) -> Object {
        string(&format!("{description}: 1 to {max} characters, no control characters")).min_length(Some(1)).max_length(Some(max)).pattern(Some(PRINTABLE)).build()
    }

    /// [`domain::ledger::request::TransactionId`]
    pub fn transaction_id() -> Object {
        id(MAX_TRANSACTION_ID_CHARS, "The partner's id for the transaction, idempotent by it")
    }

    /// [`domain::identity::CustomerId`]
    pub fn customer_id() -> Object {
        id(domain::identity::CustomerId::MAX_CHARS, "The partner's own id for its customer")
    }

    /// [`domain::ledger::request::TransactionDate`]: Unix milliseconds or RFC 3339, 2000–2099.
    pub fn transaction_date() -> Schema {
        Schema::OneOf(OneOfBuilder::new()
            .item(integer(MIN_DATE_MS, MAX_DATE_MS - 1, "Unix milliseconds"))
            .item(string("RFC 3339").format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).build())
            .description(Some("When the purchase happened: 2000-01-01 to 2099-12-31"))
            .build())
    }

    /// [`domain::ledger::request::Amount`], in VND.
    pub fn amount() -> Object {
        integer(0, MAX_AMOUNT, "The purchase amount in VND (minor units)")
    }

    /// [`domain::ledger::request::PointCount`]
    pub fn points() -> Object {
        integer(1, MAX_POINTS, "SkyPoints")
    }

    /// A lock's time to live, seconds ([`domain::ledger::holds::MAX_TTL_MS`]).
    pub fn lock_seconds() -> Object {
        integer(1, domain::ledger::holds::MAX_TTL_MS / 1000, "Seconds until the lock expires (default 15 minutes)")
    }

    /// `schema`, or null: an optional field, where null is as good as left out (as serde reads
    /// an `Option`).
    pub fn or_null(schema: impl Into<utoipa::openapi::RefOr<Schema>>) -> Schema {
        Schema::OneOf(OneOfBuilder::new().item(schema).item(ObjectBuilder::new().schema_type(Type::Null)).build())
    }

    pub fn points_or_null() -> Schema {
        or_null(points())
    }

    pub fn amount_or_null() -> Schema {
        or_null(amount())
    }

    pub fn lock_seconds_or_null() -> Schema {
        or_null(lock_seconds())
    }

    pub fn transaction_id_or_null() -> Schema {
        or_null(transaction_id())
    }

    /// `itemId` ([`domain::ledger::request::PointRequest::try_from`]): the partner's own record.
    pub fn item_id_or_null() -> Schema {
        or_null(string(&format!("The partner's item: at most {MAX_ITEM_ID_CHARS} characters, no control characters (checked, not stored)")).max_length(Some(MAX_ITEM_ID_CHARS)).pattern(Some(NO_CONTROL)).build())
    }

    /// `transactionDes`: text, or an object describing the product (SkyJoy's point-accrual-v2).
    pub fn description_or_null() -> Schema {
        Schema::OneOf(OneOfBuilder::new()
            .item(string(&format!("At most {MAX_DESCRIPTION_CHARS} characters")).max_length(Some(MAX_DESCRIPTION_CHARS)).build())
            .item(ObjectBuilder::new().schema_type(Type::Object).description(Some("The product, as the partner describes it")).build())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some("The partner's description of the transaction (checked, not stored)"))
            .build())
    }
}

/// The reference page: every operation with its parameters, body and answers, rendered from the
/// document (no script: the page policy's CSP applies as to every page).
mod reference {
    use std::fmt::Write;

    use serde_json::Value;

    fn esc(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    }

    /// `#/components/schemas/X` → `X`
    fn ref_name(v: &Value) -> Option<&str> {
        v.get("$ref")?.as_str()?.rsplit('/').next()
    }

    /// A schema, compactly: a reference links to its section; an object lists its properties.
    fn schema(out: &mut String, s: &Value, depth: usize) {
        if let Some(name) = ref_name(s) {
            let _ = write!(out, "<a href=\"#schema-{0}\">{0}</a>", esc(name));
            return;
        }
        if depth > 6 {
            out.push('…');
            return;
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(items) = s.get(key).and_then(Value::as_array) {
                let _ = write!(out, "{key}: ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" | ");
                    }
                    schema(out, item, depth + 1);
                }
                return;
            }
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
            _ => "any".into(),
        };
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            let required: Vec<&str> = s.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            out.push_str("<ul>");
            for (name, p) in props {
                let _ = write!(out, "<li><code>{}</code>{} ", esc(name), if required.contains(&name.as_str()) { " (required)" } else { "" });
                schema(out, p, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
            return;
        }
        if ty.contains("array") {
            out.push_str("array of ");
            schema(out, s.get("items").unwrap_or(&Value::Null), depth + 1);
            return;
        }
        let _ = write!(out, "<em>{}</em>", esc(&ty));
        let mut facts = Vec::new();
        for (k, label) in [("format", "format"), ("pattern", "pattern"), ("minimum", "≥"), ("maximum", "≤"), ("minLength", "min length"), ("maxLength", "max length")] {
            if let Some(v) = s.get(k) {
                facts.push(format!("{label} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            facts.push(format!("one of {}", e.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(", ")));
        }
        if !facts.is_empty() {
            let _ = write!(out, " ({})", esc(&facts.join("; ")));
        }
        if let Some(d) = s.get("description").and_then(Value::as_str) {
            let _ = write!(out, " — {}", esc(d));
        }
    }

    fn text(out: &mut String, s: Option<&Value>) {
        if let Some(t) = s.and_then(Value::as_str).filter(|t| !t.is_empty()) {
            for para in t.split("\n\n") {
                let _ = write!(out, "<p>{}</p>", esc(para));
            }
        }
    }

    pub fn render(doc: &Value) -> String {
        let mut out = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        let title = doc["info"]["title"].as_str().unwrap_or("API reference");
        let _ = write!(out, "<title>{}</title><link rel=\"stylesheet\" href=\"/pkg/joygate.css\"></head><body><main class=\"api-reference\">", esc(title));
        let _ = write!(out, "<h1>{}</h1>", esc(title));
        text(&mut out, doc["info"].get("description"));
        out.push_str("<p>The machine-readable document: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI ");
        out.push_str(&esc(doc["openapi"].as_str().unwrap_or("")));
        out.push_str(").</p>");
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        let tags: Vec<(String, String)> = doc["tags"]
            .as_array()
            .map(|t| t.iter().map(|t| (t["name"].as_str().unwrap_or("").to_string(), t["description"].as_str().unwrap_or("").to_string())).collect())
            .unwrap_or_default();
        out.push_str("<nav><ul>");
        for (name, _) in &tags {
            let _ = write!(out, "<li><a href=\"#tag-{0}\">{1}</a></li>", esc(&name.replace(' ', "-")), esc(name));
        }
        out.push_str("<li><a href=\"#schemas\">Schemas</a></li></ul></nav>");
        for (tag, description) in &tags {
            let _ = write!(out, "<section id=\"tag-{}\"><h2>{}</h2><p>{}</p>", esc(&tag.replace(' ', "-")), esc(tag), esc(description));
            for (path, ops) in &paths {
                let Some(ops) = ops.as_object() else { continue };
                for (method, op) in ops {
                    if !op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t.as_str() == Some(tag))) {
                        continue;
                    }
                    let id = op["operationId"].as_str().unwrap_or("");
                    let _ = write!(out, "<article id=\"op-{0}\"><h3><code>{1} {2}</code></h3>", esc(id), esc(&method.to_uppercase()), esc(path));
                    let _ = write!(out, "<p><strong>{}</strong></p>", esc(op["summary"].as_str().unwrap_or("")));
                    text(&mut out, op.get("description"));
                    if let Some(security) = op["security"].as_array().filter(|s| !s.is_empty()) {
                        let names: Vec<String> = security
                            .iter()
                            .filter_map(Value::as_object)
                            .flat_map(|o| o.iter().map(|(k, v)| format!("{k} {}", v.as_array().map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default())))
                            .collect();
                        let _ = write!(out, "<p>Authentication: {}</p>", esc(&names.join("; ")));
                    }
                    if let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                        out.push_str("<h4>Parameters</h4><ul>");
                        for p in params {
                            let _ = write!(
                                out,
                                "<li><code>{}</code> in {}{} ",
                                esc(p["name"].as_str().unwrap_or("")),
                                esc(p["in"].as_str().unwrap_or("")),
                                if p["required"] == true { " (required)" } else { "" }
                            );
                            schema(&mut out, &p["schema"], 0);
                            out.push_str("</li>");
                        }
                        out.push_str("</ul>");
                    }
                    if let Some(content) = op["requestBody"]["content"].as_object() {
                        out.push_str("<h4>Request body</h4><ul>");
                        for (media, c) in content {
                            let _ = write!(out, "<li><code>{}</code>: ", esc(media));
                            schema(&mut out, &c["schema"], 0);
                            out.push_str("</li>");
                        }
                        out.push_str("</ul>");
                    }
                    out.push_str("<h4>Answers</h4><ul>");
                    for (status, r) in op["responses"].as_object().into_iter().flatten() {
                        let _ = write!(out, "<li><strong>{}</strong> {} ", esc(status), esc(r["description"].as_str().unwrap_or("")));
                        for (media, c) in r["content"].as_object().into_iter().flatten() {
                            let _ = write!(out, "<code>{}</code> ", esc(media));
                            schema(&mut out, &c["schema"], 0);
                        }
                        out.push_str("</li>");
                    }
                    out.push_str("</ul></article>");
                }
            }
            out.push_str("</section>");
        }
        out.push_str("<section id=\"schemas\"><h2>Schemas</h2>");
        for (name, s) in doc["components"]["schemas"].as_object().into_iter().flatten() {
            let _ = write!(out, "<article id=\"schema-{0}\"><h3>{0}</h3>", esc(name));
            schema(&mut out, s, 0);
            out.push_str("</article>");
        }
        out.push_str("</section></main></body></html>");
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn operation_at(doc: &Value, path: &str) -> String {
        doc["paths"][path]["post"]["operationId"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn the_isv_operations_move_to_their_configured_paths_even_when_two_defaults_swap() {
        let settings = BenefitsSettings { issue_path: "/isv/benefit/reverse".into(), reverse_path: "/isv/benefit/issue".into(), ..BenefitsSettings::default() };
        let served = Served::new(&settings).unwrap();
        let doc: Value = serde_json::from_slice(&served.json).unwrap();
        assert_eq!(operation_at(&doc, "/isv/benefit/reverse"), "issueBenefit");
        assert_eq!(operation_at(&doc, "/isv/benefit/issue"), "reverseBenefitIssue");
        assert_eq!(operation_at(&doc, "/isv/benefit/query"), "inquireBenefitIssue");
    }

    #[test]
    fn the_document_reads_the_domains_ranges() {
        let doc: Value = serde_json::from_slice(&Served::new(&BenefitsSettings::default()).unwrap().json).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let accrual = &doc["components"]["schemas"]["AccrualRequest"]["properties"];
        assert_eq!(accrual["transactionAmount"]["maximum"], domain::ledger::request::MAX_AMOUNT);
        assert_eq!(accrual["transactionId"]["maxLength"], domain::ledger::request::MAX_TRANSACTION_ID_CHARS);
        assert_eq!(accrual["skyjoyId"]["pattern"], domain::identity::SkyJoyId::PATTERN);
        // a redemption is an accrual's fields (allOf) and usedPoint
        let redemption = &doc["components"]["schemas"]["RedemptionRequest"];
        let used_point = redemption["allOf"].as_array().into_iter().flatten().map(|part| &part["properties"]["usedPoint"]).find(|p| p.is_object());
        assert_eq!(used_point.map(|p| &p["maximum"]), Some(&Value::from(domain::ledger::request::MAX_POINTS)), "{redemption}");
        assert!(redemption["allOf"].as_array().unwrap().iter().any(|part| part["$ref"] == "#/components/schemas/AccrualRequest"), "{redemption}");
    }
}
