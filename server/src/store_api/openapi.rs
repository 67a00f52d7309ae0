//! The Store API's OpenAPI 3.1 document (`GET /api/v2/openapi.json`), generated from the
//! handlers and types that serve the calls (utoipa): the router and the document are
//! built together, so every route is in it, with the answers every call shares added
//! from how they are served. And a readable reference page
//! (`GET /api/v2/docs`) rendered from the same document on the server: no script, nothing
//! downloaded at build or run time.

use std::sync::Arc;

use axum::{
    extract::FromRef,
    http::header,
    response::{Html, IntoResponse, Response},
};
use utoipa::{
    openapi::{
        header::Header,
        path::{Operation, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        Content, OpenApi as Document, Ref, RefOr, Required, Response as OpenApiResponse,
    },
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{endpoints, payments, pin, tokens, StoreApiContext};
use crate::web::{html_escape, page};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "paybridge Store API",
        version = "2",
        description = "The payment core of paybridge for any shop system: payment intents, capture, purchase confirmation, saved cards, signed webhooks. Every call sends `Authorization: Bearer sk_…`; every POST an `Idempotency-Key`. JSON in and out, camelCase, amounts in minor units, times RFC 3339 UTC."
    ),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "payments", description = "Payment intents and what happens to them"),
        (name = "saved cards", description = "Cards the PG keeps for a customer, and payments with them"),
        (name = "webhooks", description = "Signed webhooks to the store (Standard Webhooks)"),
        (name = "pin", description = "Customers' PINs: encrypted in the buyer's browser, verified for single-use tokens")
    )
)]
struct ApiDoc;

/// `Authorization: Bearer sk_test_…` / `sk_live_…`.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sk_test_… / sk_live_…").build(),
            ),
        );
    }
}

/// Every Store API call and the document that describes them, from the same handlers:
/// a call is routed only through here, so no call exists outside the document.
pub fn api<S>() -> (axum::Router<S>, Document)
where
    S: Clone + Send + Sync + 'static,
    StoreApiContext: FromRef<S>,
{
    let (router, mut document) = api_router::<S>().split_for_parts();
    add_shared_answers(&mut document);
    (router, document)
}

/// Every Store API call, with its place in the document.
fn api_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    StoreApiContext: FromRef<S>,
{
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(payments::create_intent))
        .routes(routes!(payments::finalize, payments::list_payments))
        .routes(routes!(payments::get_payment))
        .routes(routes!(payments::capture))
        .routes(routes!(payments::cancel))
        .routes(routes!(payments::confirm))
        .routes(routes!(payments::delivery))
        .routes(routes!(payments::resend_webhooks))
        .routes(routes!(endpoints::create_endpoint))
        .routes(routes!(endpoints::delete_endpoint))
        .routes(routes!(endpoints::rotate_secret))
        .routes(routes!(pin::public_key))
        .routes(routes!(pin::set_pin))
        .routes(routes!(pin::verify_pin))
        .routes(routes!(tokens::create_registration))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(tokens::delete_token))
        .routes(routes!(tokens::create_token_payment))
}

/// The document as the Store API serves it.
pub fn document() -> Document {
    api::<StoreApiContext>().1
}

const ERROR_SCHEMA: &str = "ErrorBody";

/// What every call shares, written once from how `request.rs` serves them rather than
/// repeated on each handler: the key (401), a fault of ours (500), another merchant's or
/// no object (404, for a path with an id), a bad query (400, the list); and for a POST the
/// `Idempotency-Key` header, what its body may be refused for (400, 413, 415, 422), the
/// key in use (409 with `Retry-After`) or reused (422), and `Idempotent-Replayed` on a
/// replayed answer. An operation's own answers (`order_id_in_use`, `refund_declined`,
/// 502/504 from the PG, …) are on its handler; a shared one with the same status is
/// added to its description.
fn add_shared_answers(document: &mut Document) {
    for (path, item) in document.paths.paths.iter_mut() {
        let with_id = path.contains('{');
        for (method, op) in operations_mut(item) {
            answer(op, "401", "`invalid_api_key`: no key, an unknown or revoked one, or one of the other mode (`sk_live_` with the sandbox on, `sk_test_` without)", None);
            answer(
                op,
                "500",
                "`api_error`: a fault of ours; nothing was changed (the details are only in our log)",
                None,
            );
            answer(
                op,
                "429",
                "`rate_limited` (type `rate_limit_error`): this key sent more calls than `RATE_LIMITS` lets it; send it again after `Retry-After` seconds",
                Some(("Retry-After", "seconds to wait before sending the request again")),
            );
            if with_id {
                answer(
                    op,
                    "404",
                    "`resource_missing`: this merchant has no such object (another merchant's id too)",
                    None,
                );
            }
            if method == "GET" && !with_id {
                answer(op, "400", "`parameter_invalid`: a query parameter (`param` names it)", None);
            }
            if method != "POST" {
                continue;
            }
            let parameters = op.parameters.get_or_insert_with(Vec::new);
            parameters.push(RefOr::T(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some("1–255 visible ASCII characters, scoped to the merchant and kept 24 h: the same request again answers the first one's result (SPEC §8.1)"))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
                    .build(),
            ));
            answer(op, "400", "`parameter_missing`, `parameter_invalid`, `parameter_duplicated` (a member named twice, `param` says where), `invalid_json`, `idempotency_key_required`, `idempotency_key_invalid`", None);
            answer(op, "409", "`idempotency_key_in_use`: a request with this key is still being processed; try again after `Retry-After` seconds", Some(("Retry-After", "seconds to wait before sending the request again (with `idempotency_key_in_use`)")));
            answer(op, "413", "`body_too_large`: the body is over 64 KiB", None);
            answer(op, "415", "`unsupported_media_type`: the body is not `application/json`", None);
            answer(op, "422", "`idempotency_key_reused`: the key was used with another method, path or body", None);
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response.headers.insert(
                        "Idempotent-Replayed".into(),
                        RefOr::T(header(
                            "`true` when this is the saved answer of an earlier request with the same Idempotency-Key",
                        )),
                    );
                }
            }
        }
    }
}

fn header(description: &str) -> Header {
    let mut header = Header::new(ObjectBuilder::new().schema_type(Type::String));
    header.description = Some(description.to_owned());
    header
}

/// Adds an error answer `status` with `ErrorBody`, or, when the operation has one
/// already, adds `description` to it.
fn answer(op: &mut Operation, status: &str, description: &str, with_header: Option<(&str, &str)>) {
    let entry = op.responses.responses.entry(status.to_owned()).or_insert_with(|| RefOr::T(OpenApiResponse::default()));
    let RefOr::T(response) = entry else { return };
    response.description = match response.description.as_str() {
        "" => description.to_owned(),
        own => format!("{own}; or {description}"),
    };
    response
        .content
        .entry("application/json".into())
        .or_insert_with(|| RefOr::T(Content::new(Some(Ref::from_schema_name(ERROR_SCHEMA)))));
    if let Some((name, text)) = with_header {
        response.headers.insert(name.to_owned(), RefOr::T(header(text)));
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("POST", item.post.as_mut()),
        ("PUT", item.put.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("DELETE", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

pub async fn serve_document(document: Arc<Document>) -> Response {
    match document.to_pretty_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => super::ApiError::internal("serializing the OpenAPI document", e).into_response(),
    }
}

pub async fn serve_page(page: Arc<String>) -> Response {
    Html(page.as_str().to_owned()).into_response()
}

fn operations(item: &utoipa::openapi::PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", item.get.as_ref()),
        ("POST", item.post.as_ref()),
        ("PUT", item.put.as_ref()),
        ("PATCH", item.patch.as_ref()),
        ("DELETE", item.delete.as_ref()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

fn schema_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

fn body_schema<'a>(content: impl IntoIterator<Item = &'a RefOr<utoipa::openapi::Content>>) -> Option<String> {
    content.into_iter().find_map(|c| match c {
        RefOr::T(c) => match &c.schema {
            Some(RefOr::Ref(r)) => Some(schema_name(&r.ref_location).to_owned()),
            _ => None,
        },
        RefOr::Ref(_) => None,
    })
}

/// The reference page: each call with its parameters, body and answers, then each type.
pub fn reference_page(document: &Document) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"/api/v2/openapi.json\">OpenAPI 3.1 document</a></p>",
        html_escape(&document.info.title),
        html_escape(document.info.description.as_deref().unwrap_or_default())
    ));
    body.push_str("<h2>Calls</h2>");
    for (path, item) in &document.paths.paths {
        for (method, op) in operations(item) {
            body.push_str(&format!(
                "<div class=\"box\" data-testid=\"operation\"><h3><code>{method} {}</code></h3><p><strong>{}</strong></p><p>{}</p>",
                html_escape(path),
                html_escape(op.summary.as_deref().unwrap_or_default()),
                html_escape(op.description.as_deref().unwrap_or_default()),
            ));
            if let Some(parameters) = op.parameters.as_ref().filter(|p| !p.is_empty()) {
                body.push_str("<table><tr><th>parameter</th><th>in</th><th></th></tr>");
                for p in parameters.iter().filter_map(|p| match p {
                    RefOr::T(p) => Some(p),
                    RefOr::Ref(_) => None,
                }) {
                    let place = match p.parameter_in {
                        ParameterIn::Path => "path",
                        ParameterIn::Query | ParameterIn::QueryString => "query",
                        ParameterIn::Header => "header",
                        ParameterIn::Cookie => "cookie",
                    };
                    body.push_str(&format!(
                        "<tr><td><code>{}</code></td><td>{place}</td><td>{}</td></tr>",
                        html_escape(&p.name),
                        html_escape(p.description.as_deref().unwrap_or_default())
                    ));
                }
                body.push_str("</table>");
            }
            if let Some(RefOr::T(request)) = &op.request_body {
                if let Some(name) = body_schema(request.content.values()) {
                    body.push_str(&format!("<p>Body: <a href=\"#{0}\"><code>{0}</code></a></p>", html_escape(&name)));
                }
            }
            body.push_str("<ul>");
            for (status, response) in &op.responses.responses {
                if let RefOr::T(response) = response {
                    let schema = body_schema(response.content.values())
                        .map(|n| format!(" — <a href=\"#{0}\"><code>{0}</code></a>", html_escape(&n)))
                        .unwrap_or_default();
                    body.push_str(&format!(
                        "<li><strong>{}</strong> {}{schema}</li>",
                        html_escape(status),
                        html_escape(&response.description)
                    ));
                }
            }
            body.push_str("</ul></div>");
        }
    }
    body.push_str("<h2>Types</h2>");
    if let Some(components) = &document.components {
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            body.push_str(&format!(
                "<h3 id=\"{0}\"><code>{0}</code></h3><pre>{1}</pre>",
                html_escape(name),
                html_escape(&json)
            ));
        }
    }
    page("paybridge Store API reference", &body)
}
